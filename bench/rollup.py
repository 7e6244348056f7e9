"""Plan rollup benchmark: a full recompute of the plan tree beside a bare pass that only sums the same
figures up the same tree, in the same run; peak memory; and the rollup writes one change costs.

    .venv/bin/python bench/rollup.py               # 1,000 territories, 10,000 accounts, 100,000 opportunities, 20 quarters
    .venv/bin/python bench/rollup.py --scale 0.1   # a quick look

The figures: a plan for every node and quarter (2.2 million at full scale), an order and a POS
figure per account and quarter, one close date per opportunity. The bare pass adds plans into
``children_plan`` and orders + POS into ``actual`` for every node and quarter with plain dicts of
Decimals; the full recompute (``plan_rollup.rollup.compute_all``) builds every rollup cell (plan,
children_plan, orders, POS per distributor, unconverted, pipeline per stage, POS completeness).
Writes per incremental change are measured on the in-memory store with a tree of the same depth
(its look-ups scan, so it is built at 1 % size): the count does not depend on the width of the tree.
Figures are printed, not judged.
"""

from __future__ import annotations

import argparse
import gc
import random
import resource
import sys
import time
from datetime import date
from decimal import Decimal
from pathlib import Path

sys.path[:0] = [
    str(Path(__file__).resolve().parents[1] / "functions"),
    str(Path(__file__).resolve().parents[1]),
]

from bench.benchenv import prepare  # noqa: E402

prepare()

from plan_rollup.rollup import (  # noqa: E402
    RollupContext,
    compute_all,
    on_figure_changed,
    on_node_changed,
    pos_periods_touched,
)

from shared.config_schemas.fx import load_fx_file  # noqa: E402
from shared.config_schemas.stages import load_stages_file  # noqa: E402
from shared.store.plan import (  # noqa: E402
    ACCOUNT,
    OPPORTUNITY,
    TERRITORY,
    ZERO,
    InMemoryRollupStore,
    NodeRef,
    OrderFigure,
    PlanNode,
    PosFigure,
    RollupSnapshot,
)

STAGES = [
    "Qualifying Needs",
    "Sales Presentation",
    "Proposal Delivered",
    "Verbal Approval",
    "Job Won",
    "Lost",
]
FIRST_YEAR = 2022


def periods(quarters: int) -> list[tuple[int, int]]:
    return [(FIRST_YEAR + i // 4, i % 4 + 1) for i in range(quarters)]


def build(
    territories: int, accounts: int, opportunities: int, quarters: int, seed: int = 7
) -> RollupSnapshot:
    """A three-level territory tree (10 % top, 20 % sub, 70 % leaf), accounts under leaves, opportunities under accounts."""
    rng = random.Random(seed)
    snap = RollupSnapshot()
    tops = max(1, territories // 10)
    subs = max(1, territories // 5)
    leaves = max(1, territories - tops - subs)
    top_refs = [NodeRef(TERRITORY, f"T{i}") for i in range(tops)]
    sub_refs = [NodeRef(TERRITORY, f"S{i}") for i in range(subs)]
    leaf_refs = [NodeRef(TERRITORY, f"L{i}") for i in range(leaves)]
    for ref in top_refs:
        snap.nodes[ref] = PlanNode(ref, name=ref.id)
    for i, ref in enumerate(sub_refs):
        snap.nodes[ref] = PlanNode(ref, name=ref.id, parent=top_refs[i % tops])
    for i, ref in enumerate(leaf_refs):
        snap.nodes[ref] = PlanNode(ref, name=ref.id, parent=sub_refs[i % subs])
    account_refs = [NodeRef(ACCOUNT, f"A{i}") for i in range(accounts)]
    for i, ref in enumerate(account_refs):
        snap.nodes[ref] = PlanNode(ref, name=ref.id, owner=f"rep{i % 50}", parent=leaf_refs[i % leaves])
    spans = periods(quarters)
    for i in range(opportunities):
        ref = NodeRef(OPPORTUNITY, f"O{i}")
        year, quarter = spans[rng.randrange(quarters)]
        snap.nodes[ref] = PlanNode(
            ref, name=ref.id, parent=account_refs[i % accounts], stage=STAGES[i % len(STAGES)],
            amount=Decimal(rng.randrange(1000, 500000)) / 100, close_date=date(year, quarter * 3, 1),
        )  # fmt: skip
    for ref in snap.nodes:
        for period in spans:
            snap.plans[(ref, period)] = Decimal(rng.randrange(100, 10000000)) / 100
    n = 0
    for ref in account_refs:
        for year, quarter in spans:
            n += 1
            currency = "EUR" if n % 7 == 0 else "USD"
            snap.orders[f"R{n}"] = OrderFigure(f"R{n}", ref.id, Decimal(rng.randrange(100, 5000000)) / 100, currency,
                                               date(year, quarter * 3 - 1, 10), None, "v1")  # fmt: skip
            snap.pos[(ref.id, (year, quarter), "USD", f"D{n % 3}")] = (
                Decimal(rng.randrange(100, 900000)) / 100
            )
    return snap


def bare_pass(
    snap: RollupSnapshot,
) -> tuple[dict[tuple[NodeRef, tuple[int, int]], Decimal], dict[tuple[NodeRef, tuple[int, int]], Decimal]]:
    """Only sums: plans into the parents' children_plan, orders and POS into actual up the tree."""
    parent = {ref: node.parent for ref, node in snap.nodes.items()}
    children_plan: dict[tuple[NodeRef, tuple[int, int]], Decimal] = {}
    actual: dict[tuple[NodeRef, tuple[int, int]], Decimal] = {}
    for (ref, period), amount in snap.plans.items():
        up = parent.get(ref)
        if up is not None:
            key = (up, period)
            children_plan[key] = children_plan.get(key, ZERO) + amount
    own: list[tuple[NodeRef, tuple[int, int], Decimal]] = [
        (NodeRef(ACCOUNT, o.account_id), o.period, o.amount) for o in snap.orders.values()
    ]
    own += [(NodeRef(ACCOUNT, f.account_id), (f.year, f.quarter), f.amount) for f in snap.pos_figures()]
    for ref, period, amount in own:
        node: NodeRef | None = ref
        while node is not None:
            key = (node, period)
            actual[key] = actual.get(key, ZERO) + amount
            node = parent.get(node)
    return children_plan, actual


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def incremental_writes(ctx: RollupContext, quarters: int) -> dict[str, float]:
    """Writes per change on a 1 % tree of the same depth (territory top → sub → leaf → account → opportunity)."""
    snap = build(10, 100, 1000, quarters, seed=11)
    store = InMemoryRollupStore(RollupSnapshot(nodes=dict(snap.nodes), plans=dict(snap.plans),
                                               orders=dict(snap.orders), pos=dict(snap.pos)))  # fmt: skip
    store.cells = compute_all(store.sources, ctx)
    rng = random.Random(3)
    results: dict[str, list[int]] = {"plan figure (opportunity)": [], "plan figure (account)": [], "order booked": [],
                                     "POS actual (5 quarters: its own + completeness)": [],
                                     "account moved to another territory (all its quarters)": []}  # fmt: skip
    spans = periods(quarters)
    for i in range(20):
        before = store.writes
        ref, period = NodeRef(OPPORTUNITY, f"O{rng.randrange(1000)}"), spans[rng.randrange(quarters)]
        store.put_plan(ref, period, Decimal(rng.randrange(1, 10**6)))
        on_figure_changed(store, ctx, ref, [period])
        results["plan figure (opportunity)"].append(store.writes - before)

        before = store.writes
        ref = NodeRef(ACCOUNT, f"A{rng.randrange(100)}")
        store.put_plan(ref, period, Decimal(rng.randrange(1, 10**6)))
        on_figure_changed(store, ctx, ref, [period])
        results["plan figure (account)"].append(store.writes - before)

        before = store.writes
        order = OrderFigure(
            f"N{i}",
            ref.id,
            Decimal(rng.randrange(1, 10**5)),
            "USD",
            date(*period[:1], period[1] * 3, 2),
            None,
            "v2",
        )
        store.put_order(order)
        on_figure_changed(store, ctx, ref, [order.period])
        results["order booked"].append(store.writes - before)

        before = store.writes
        store.set_pos(PosFigure(ref.id, period[0], period[1], "USD", "D9", Decimal(rng.randrange(1, 10**5))))
        on_figure_changed(store, ctx, ref, pos_periods_touched(period))
        results["POS actual (5 quarters: its own + completeness)"].append(store.writes - before)

        before = store.writes
        node = store.get_node(ref)
        assert node is not None
        moved = PlanNode(
            ref, node.name, node.owner, NodeRef(TERRITORY, f"L{rng.randrange(7)}"), version=f"w{i:03d}"
        )
        _applied, previous = store.put_node(moved)
        on_node_changed(store, ctx, previous, moved)
        results["account moved to another territory (all its quarters)"].append(store.writes - before)
    assert store.cells == compute_all(store.sources, ctx), "incremental differs from full"
    return {k: sum(v) / len(v) for k, v in results.items()} | {"max per quarter touched (depth + 1)": 5}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the full size (default 1)")
    parser.add_argument("--quarters", type=int, default=20)
    args = parser.parse_args()
    ctx = RollupContext(fx=load_fx_file(), stages=load_stages_file())
    sizes = (int(1000 * args.scale), int(10000 * args.scale), int(100000 * args.scale))
    started = time.perf_counter()
    snap = build(*sizes, args.quarters)
    built_s = time.perf_counter() - started
    gc.collect()
    base_mb = rss_mb()
    print(
        f"tree: {sizes[0]:,} territories, {sizes[1]:,} accounts, {sizes[2]:,} opportunities, {args.quarters} quarters"
    )
    print(f"figures: {len(snap.plans):,} plans, {len(snap.orders):,} orders, {len(snap.pos):,} POS; built in {built_s:.1f} s; "
          f"peak RSS after building {base_mb:,.0f} MB")  # fmt: skip

    gc.disable()
    started = time.perf_counter()
    children_plan, actual = bare_pass(snap)
    bare_s = time.perf_counter() - started
    gc.enable()
    bare_mb = rss_mb()
    del children_plan, actual
    gc.collect()

    gc.disable()
    started = time.perf_counter()
    cells = compute_all(snap, ctx)
    full_s = time.perf_counter() - started
    gc.enable()
    full_mb = rss_mb()
    print(f"bare pass (sums only): {bare_s:6.2f} s")
    print(
        f"full recompute:        {full_s:6.2f} s  ({len(cells):,} cells)  ratio {full_s / bare_s:.2f}x the bare pass"
    )
    print(
        f"peak RSS: {base_mb:,.0f} MB after building, {bare_mb:,.0f} MB after the bare pass, {full_mb:,.0f} MB after the full recompute"
    )
    del cells, snap
    gc.collect()
    print(
        "rollup writes per incremental change (mean of 20, tree depth 4: top, sub, leaf, account, opportunity):"
    )
    for name, value in incremental_writes(ctx, args.quarters).items():
        print(f"  {name:55s} {value:5.1f}")


if __name__ == "__main__":
    main()
