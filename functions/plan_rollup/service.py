"""What plan_rollup does with a stream record and with the nightly schedule.

- CRM stream (TERRITORY, ACCOUNT, OPPORTUNITY, ORDER): mirror the node or order into the plan table.
- Plan stream (PLAN, ACTUAL, NODE, NODE_ORDER): recompute the changed node and its ancestors; a POS
  commit marker (POS_COMMIT, a chunked commit done): recompute every account it moved.
- Nightly: rebuild every rollup from the source figures and correct (and report) any drift.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from plan_rollup.mirror import CRM_NODE_ENTITIES, mirror_crm_change
from plan_rollup.rollup import (
    RecomputeResult,
    RollupContext,
    compute_all,
    on_figure_changed,
    on_node_changed,
    pos_periods_touched,
)
from shared.store.plan import (
    NodeRef,
    OrderFigure,
    Period,
    PlanNode,
    RollupCell,
    RollupSnapshot,
    RollupStore,
    change_of,
    merge_moved,
    pos_commit_of,
)

PLAN_ENTITIES = ("PLAN", "ACTUAL", "NODE", "NODE_ORDER", "POS_COMMIT")
CRM_ENTITIES = (*CRM_NODE_ENTITIES, "ORDER")


def apply_stream_change(
    store: RollupStore,
    ctx: Callable[[], RollupContext],
    keys: Mapping[str, Any],
    new: Mapping[str, Any] | None,
    old: Mapping[str, Any] | None,
) -> RecomputeResult | str:
    """One stream record of either table: a mirror write (its outcome) or a recompute (its writes).

    ``ctx`` is called only for a recompute: mirroring the CRM needs no exchange rates nor stages."""
    image = new or old or {}
    entity = image.get("entity")
    if entity in CRM_ENTITIES:
        return mirror_crm_change(store, new, old)
    if entity == "POS_COMMIT":  # a chunked POS commit is done: what it staged counts from now on
        result = RecomputeResult()
        news = pos_commit_of(dict(keys), dict(new) if new else None)
        if news is None:
            return result
        # The marker lists what the last chunk moved; a long commit's earlier chunks are in its pages.
        touched = merge_moved(news.moved, store.pos_commit_pages(news.token)) if news.pages else news.moved
        for ref, moved in sorted(touched.items()):
            result += on_figure_changed(
                store, ctx(), ref, set().union(*(pos_periods_touched(p) for p in moved))
            )
        return result
    change = change_of(dict(keys), dict(new) if new else None, dict(old) if old else None)
    if change is None:
        return "ignored"
    if change.kind == "node":
        return on_node_changed(store, ctx(), change.old_node, change.new_node)
    periods: set[Period] = set(change.periods)
    if entity == "ACTUAL":
        periods = set().union(*(pos_periods_touched(p) for p in periods))
    return on_figure_changed(store, ctx(), change.ref, periods)


class CrmSource(Protocol):
    """The CRM table's nodes and orders, as the nightly recompute reads them."""

    def nodes(self) -> Iterable[PlanNode]: ...
    def orders(self) -> Iterable[OrderFigure]: ...


class FullStore(RollupStore, Protocol):
    def snapshot(self) -> RollupSnapshot: ...
    def all_orders(self) -> Iterable[OrderFigure]: ...


@dataclass
class Drift:
    kind: str  # node | order | rollup
    key: str
    stored: str | None
    expected: str | None


@dataclass
class NightlyReport:
    nodes: int = 0
    orders: int = 0
    cells: int = 0
    drift: list[Drift] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        out = {"nodes": self.nodes, "orders": self.orders, "cells": self.cells, "drift": len(self.drift)}
        for kind in ("node", "order", "rollup"):
            out[f"drift_{kind}"] = sum(1 for d in self.drift if d.kind == kind)
        return out


def _same_node(a: PlanNode, b: PlanNode) -> bool:
    return (a.ref, a.name, a.owner, a.parent, a.stage, a.probability, a.amount, a.close_date) == (
        b.ref, b.name, b.owner, b.parent, b.stage, b.probability, b.amount, b.close_date)  # fmt: skip


def _same_order(a: OrderFigure, b: OrderFigure) -> bool:
    return (a.account_id, a.opportunity_id, a.amount, a.currency, a.booked_on) == (
        b.account_id, b.opportunity_id, b.amount, b.currency, b.booked_on)  # fmt: skip


def _cell_text(cell: RollupCell | None) -> str | None:
    return None if cell is None else cell.to_json()


def recompute_everything(store: FullStore, crm: CrmSource, ctx: RollupContext) -> NightlyReport:
    """Rebuild the tree mirror, the order mirror and every rollup from the sources; report what differed.

    Drift is a bug (a lost stream record, a race between two branches): each corrected item is listed
    with its key, so the caller logs it and counts it.
    """
    report = NightlyReport()
    expected_nodes = {n.ref: n for n in crm.nodes()}
    mirrored = {n.ref: n for n in store.all_nodes()}
    for ref, node in expected_nodes.items():
        current = mirrored.get(ref)
        if current is None or not _same_node(current, node):
            report.drift.append(Drift("node", str(ref), repr(current), repr(node)))
            store.put_node(node, force=True)
    for ref in mirrored.keys() - expected_nodes.keys():
        report.drift.append(Drift("node", str(ref), repr(mirrored[ref]), None))
        store.delete_node(ref)
    report.nodes = len(expected_nodes)

    mirrored_orders = {o.order_id: o for o in store.all_orders()}
    for order in crm.orders():
        report.orders += 1
        mirrored_order = mirrored_orders.get(order.order_id)
        if mirrored_order is None or not _same_order(mirrored_order, order):
            report.drift.append(Drift("order", order.order_id, repr(mirrored_order), repr(order)))
            store.put_order(order, force=True)

    snapshot = store.snapshot()
    computed = compute_all(snapshot, ctx)
    stored: dict[tuple[NodeRef, Period], RollupCell] = {(r, p): c for r, p, c in store.all_cells()}
    for key in sorted(computed.keys() | stored.keys()):
        want, have = computed.get(key), stored.get(key)
        if want == have:
            continue
        ref, period = key
        report.drift.append(
            Drift("rollup", f"{ref}@{period[0]}-Q{period[1]}", _cell_text(have), _cell_text(want))
        )
        if want is None:
            store.delete_cell(ref, period)
        else:
            store.put_cell(ref, period, want)
    report.cells = len(computed)
    return report
