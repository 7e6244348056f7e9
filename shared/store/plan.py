"""The plan table: plan figures, actuals and the rollups over the plan tree.

Keys are spelled here and nowhere else. See ``docs/data-model.md`` for every access pattern.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from typing import Any, Protocol

# ======================================================================================================
# Rollups (issue 11, owner: plan-rollup). The plan tree mirrored from the CRM table, orders mirrored
# per node and quarter, and one rollup item per node, year and quarter. Written by plan_rollup only;
# read by reports_api and the hub's plan commands.
# ======================================================================================================

TERRITORY = "TERRITORY"
ACCOUNT = "ACCOUNT"
OPPORTUNITY = "OPPORTUNITY"
NODE_TYPES = (TERRITORY, ACCOUNT, OPPORTUNITY)
ZERO = Decimal(0)

Period = tuple[int, int]  # (year, quarter)


@dataclass(frozen=True, order=True)
class NodeRef:
    """A node of the plan tree: its type (TERRITORY, ACCOUNT, OPPORTUNITY) and id."""

    type: str
    id: str

    def __str__(self) -> str:
        return f"{self.type}#{self.id}"


@dataclass(frozen=True)
class PlanNode:
    """A territory, account or opportunity as the rollup sees it; ``version`` orders its changes."""

    ref: NodeRef
    name: str = ""
    owner: str | None = None
    parent: NodeRef | None = None
    stage: str | None = None
    probability: Decimal | None = None
    amount: Decimal | None = None
    close_date: date | None = None
    version: str = ""


@dataclass(frozen=True)
class OrderFigure:
    """A booked order (``order.booked``): its account, optional opportunity, amount and currency."""

    order_id: str
    account_id: str
    amount: Decimal
    currency: str
    booked_on: date
    opportunity_id: str | None = None
    version: str = ""

    @property
    def period(self) -> Period:
        return self.booked_on.year, (self.booked_on.month - 1) // 3 + 1

    def refs(self) -> list[NodeRef]:
        """The nodes whose actual this order is part of: its account, and its opportunity if named."""
        refs = [NodeRef(ACCOUNT, self.account_id)]
        if self.opportunity_id:
            refs.append(NodeRef(OPPORTUNITY, self.opportunity_id))
        return refs


@dataclass(frozen=True)
class PosFigure:
    """Accepted POS sell-through of one account, quarter, currency and distributor."""

    account_id: str
    year: int
    quarter: int
    currency: str
    distributor: str
    amount: Decimal


@dataclass(frozen=True)
class StageFigure:
    count: int = 0
    amount: Decimal = ZERO
    weighted: Decimal = ZERO

    def __add__(self, other: StageFigure) -> StageFigure:
        return StageFigure(
            self.count + other.count, self.amount + other.amount, self.weighted + other.weighted
        )


def _add_maps(into: dict[str, Any], other: dict[str, Any]) -> None:
    for key, value in other.items():
        into[key] = into[key] + value if key in into else value


@dataclass
class RollupCell:
    """The figures of one node in one quarter that add up the tree (money in the company currency).

    ``plan`` is the node's own figure; ``children_plan`` the sum of its direct children's plans.
    ``orders`` and ``pos`` (per distributor) make the actual; ``unconverted`` keeps, per currency,
    what had no exchange rate. ``pipeline`` is the funnel per stage of the opportunities closing in
    the quarter; ``weighted_pipeline`` sums the open ones. ``pos_expected`` / ``pos_reported`` count,
    per distributor, the accounts expected to report sell-through and those that did.
    """

    plan: Decimal = ZERO
    children_plan: Decimal = ZERO
    orders: Decimal = ZERO
    pos: dict[str, Decimal] = field(default_factory=dict)
    unconverted: dict[str, Decimal] = field(default_factory=dict)
    weighted_pipeline: Decimal = ZERO
    pipeline: dict[str, StageFigure] = field(default_factory=dict)
    pos_expected: dict[str, int] = field(default_factory=dict)
    pos_reported: dict[str, int] = field(default_factory=dict)

    @property
    def actual(self) -> Decimal:
        return self.orders + sum(self.pos.values(), ZERO)

    @property
    def incomplete(self) -> bool:
        return any(self.unconverted.values())

    def is_empty(self) -> bool:
        return (
            not self.plan
            and not self.children_plan
            and not self.orders
            and not any(self.pos.values())
            and not any(self.unconverted.values())
            and not self.weighted_pipeline
            and not self.pipeline
            and not self.pos_expected
        )

    def add_actuals(self, other: RollupCell) -> None:
        self.orders += other.orders
        _add_maps(self.pos, other.pos)
        _add_maps(self.unconverted, other.unconverted)
        _add_maps(self.pos_expected, other.pos_expected)
        _add_maps(self.pos_reported, other.pos_reported)

    def add_pipeline(self, other: RollupCell) -> None:
        self.weighted_pipeline += other.weighted_pipeline
        _add_maps(self.pipeline, other.pipeline)

    def normalised(self) -> RollupCell:
        """The same figures without zero entries, so equal figures compare equal."""
        return replace(
            self,
            pos={k: v for k, v in sorted(self.pos.items()) if v},
            unconverted={k: v for k, v in sorted(self.unconverted.items()) if v},
            pipeline={k: v for k, v in sorted(self.pipeline.items()) if v.count},
            pos_expected={k: v for k, v in sorted(self.pos_expected.items()) if v},
            pos_reported={k: v for k, v in sorted(self.pos_reported.items()) if v},
        )

    # ---- storage form: one JSON document, money as exact decimal text ----
    def to_json(self) -> str:
        return json.dumps(
            {
                "plan": str(self.plan),
                "children_plan": str(self.children_plan),
                "orders": str(self.orders),
                "pos": {k: str(v) for k, v in self.pos.items()},
                "unconverted": {k: str(v) for k, v in self.unconverted.items()},
                "weighted_pipeline": str(self.weighted_pipeline),
                "pipeline": {k: [v.count, str(v.amount), str(v.weighted)] for k, v in self.pipeline.items()},
                "pos_expected": self.pos_expected,
                "pos_reported": self.pos_reported,
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> RollupCell:
        raw = json.loads(text)
        return cls(
            plan=Decimal(raw["plan"]),
            children_plan=Decimal(raw["children_plan"]),
            orders=Decimal(raw["orders"]),
            pos={k: Decimal(v) for k, v in raw["pos"].items()},
            unconverted={k: Decimal(v) for k, v in raw["unconverted"].items()},
            weighted_pipeline=Decimal(raw["weighted_pipeline"]),
            pipeline={
                k: StageFigure(int(c), Decimal(a), Decimal(w)) for k, (c, a, w) in raw["pipeline"].items()
            },
            pos_expected={k: int(v) for k, v in raw["pos_expected"].items()},
            pos_reported={k: int(v) for k, v in raw["pos_reported"].items()},
        )


# ---- keys (the only place these patterns are spelled) ----
def node_key(ref: NodeRef) -> dict[str, str]:
    """A mirrored tree node: ``NODE#<TYPE>#<id>`` / ``NODE``."""
    return {"pk": f"NODE#{ref.type}#{ref.id}", "sk": "NODE"}


def children_index(parent: NodeRef | None) -> str:
    """gsi1pk listing a node's children (``CHILDREN#ROOT`` for nodes without a parent)."""
    return f"CHILDREN#{parent.type}#{parent.id}" if parent else "CHILDREN#ROOT"


def node_id_index(node_id: str) -> str:
    """The nodes named by an id, whatever their type (an id naming two types answers 409)."""
    return f"NODEID#{node_id}"


def order_mirror_key(ref: NodeRef, period: Period, order_id: str) -> dict[str, str]:
    """An order counted in a node's actual: ``NODE#<TYPE>#<id>`` / ``ORDER#<yyyy>#Q<n>#<order_id>``."""
    return {"pk": f"NODE#{ref.type}#{ref.id}", "sk": f"ORDER#{period[0]:04d}#Q{period[1]}#{order_id}"}


def order_period_prefix(period: Period) -> str:
    return f"ORDER#{period[0]:04d}#Q{period[1]}#"


def rollup_key(ref: NodeRef, period: Period) -> dict[str, str]:
    """One rollup: ``ROLLUP#<TYPE>#<id>`` / ``<yyyy>#Q<n>``."""
    return {"pk": f"ROLLUP#{ref.type}#{ref.id}", "sk": f"{period[0]:04d}#Q{period[1]}"}


def rollup_year_index(year: int) -> str:
    """gsi1pk of every rollup of a year (nightly comparison, board export)."""
    return f"ROLLUP#{year:04d}"


def plan_figure_key(ref: NodeRef, period: Period) -> dict[str, str]:
    """A plan figure (written by crm_events on ``plan.upserted``)."""
    return {"pk": f"PLAN#{ref.type}#{ref.id}", "sk": f"{period[0]:04d}#Q{period[1]}"}


def plan_year_index(year: int) -> str:
    return f"PLAN#{year:04d}"


def actual_partition(account_id: str) -> str:
    """POS actuals of an account (written by pos_ingest): ``ACTUAL#ACCOUNT#<id>``."""
    return f"ACTUAL#ACCOUNT#{account_id}"


def parse_period(sk: str) -> Period:
    """``2026#Q3...`` → (2026, 3)."""
    year, quarter = sk.split("#", 2)[:2]
    return int(year), int(quarter.removeprefix("Q"))


def parse_ref(pk: str) -> NodeRef:
    """``NODE#ACCOUNT#a1`` / ``PLAN#ACCOUNT#a1`` / ``ROLLUP#...`` / ``ACTUAL#ACCOUNT#a1`` → the node."""
    _, node_type, node_id = pk.split("#", 2)
    return NodeRef(node_type, node_id)


class RollupStore(Protocol):
    """What the rollup reads and writes (plan_rollup); reports read the ``get_*`` / ``cells*`` part."""

    # tree mirror
    def get_node(self, ref: NodeRef) -> PlanNode | None: ...
    def nodes_with_id(self, node_id: str) -> list[PlanNode]: ...
    def child_nodes(self, ref: NodeRef) -> list[PlanNode]: ...
    def root_nodes(self) -> list[PlanNode]: ...
    def all_nodes(self) -> Iterator[PlanNode]: ...
    def put_node(self, node: PlanNode) -> tuple[bool, PlanNode | None]:
        """Store the node unless as new a version is stored: (applied, the node it replaced)."""
        ...

    def delete_node(self, ref: NodeRef) -> PlanNode | None: ...

    # sources
    def put_order(self, order: OrderFigure) -> tuple[bool, OrderFigure | None]:
        """Mirror an order under its nodes unless as new a version is stored: (applied, the one replaced)."""
        ...

    def orders_of(self, ref: NodeRef, period: Period) -> list[OrderFigure]: ...
    def plan_figure(self, ref: NodeRef, period: Period) -> Decimal | None: ...
    def pos_of(self, account_id: str, period: Period) -> list[PosFigure]: ...
    def pos_history(self, account_id: str) -> dict[Period, set[str]]:
        """Per quarter, the distributors that reported sell-through for the account."""
        ...

    def source_periods(self, ref: NodeRef) -> set[Period]: ...

    # rollups
    def get_cell(self, ref: NodeRef, period: Period) -> RollupCell | None: ...
    def get_cells(self, refs: Iterable[NodeRef], period: Period) -> dict[NodeRef, RollupCell]: ...
    def cells_of(self, ref: NodeRef) -> dict[Period, RollupCell]: ...
    def put_cell(self, ref: NodeRef, period: Period, cell: RollupCell) -> None: ...
    def delete_cell(self, ref: NodeRef, period: Period) -> None: ...
    def all_cells(self) -> Iterator[tuple[NodeRef, Period, RollupCell]]: ...


@dataclass
class RollupSnapshot:
    """Every source figure at once (nightly recompute, benchmarks, property tests)."""

    nodes: dict[NodeRef, PlanNode] = field(default_factory=dict)
    plans: dict[tuple[NodeRef, Period], Decimal] = field(default_factory=dict)
    orders: dict[str, OrderFigure] = field(default_factory=dict)
    pos: dict[tuple[str, Period, str, str], Decimal] = field(default_factory=dict)

    def pos_figures(self) -> Iterator[PosFigure]:
        for (account, (year, quarter), currency, distributor), amount in self.pos.items():
            yield PosFigure(account, year, quarter, currency, distributor, amount)


class InMemoryRollupStore:
    """``RollupStore`` over dictionaries, with the same semantics (unit tests, benchmarks)."""

    def __init__(self, snapshot: RollupSnapshot | None = None) -> None:
        self.sources = snapshot or RollupSnapshot()
        self.cells: dict[tuple[NodeRef, Period], RollupCell] = {}
        self.writes = 0
        self._children: dict[NodeRef | None, set[NodeRef]] = {}
        for node in self.sources.nodes.values():
            self._children.setdefault(node.parent, set()).add(node.ref)

    # ---- source writes (what crm_events and pos_ingest do in the real tables) ----
    def put_plan(self, ref: NodeRef, period: Period, amount: Decimal) -> None:
        self.sources.plans[(ref, period)] = amount

    def set_pos(self, figure: PosFigure) -> None:
        key = (figure.account_id, (figure.year, figure.quarter), figure.currency, figure.distributor)
        if figure.amount:
            self.sources.pos[key] = figure.amount
        else:
            self.sources.pos.pop(key, None)

    # ---- tree ----
    def get_node(self, ref: NodeRef) -> PlanNode | None:
        return self.sources.nodes.get(ref)

    def nodes_with_id(self, node_id: str) -> list[PlanNode]:
        return [n for t in NODE_TYPES if (n := self.sources.nodes.get(NodeRef(t, node_id)))]

    def child_nodes(self, ref: NodeRef) -> list[PlanNode]:
        return [self.sources.nodes[r] for r in sorted(self._children.get(ref, ()))]

    def root_nodes(self) -> list[PlanNode]:
        return [self.sources.nodes[r] for r in sorted(self._children.get(None, ()))]

    def all_nodes(self) -> Iterator[PlanNode]:
        yield from list(self.sources.nodes.values())

    def put_node(self, node: PlanNode) -> tuple[bool, PlanNode | None]:
        current = self.sources.nodes.get(node.ref)
        if current is not None and current.version >= node.version:
            return False, current
        if current is not None:
            self._children.get(current.parent, set()).discard(node.ref)
        self.sources.nodes[node.ref] = node
        self._children.setdefault(node.parent, set()).add(node.ref)
        return True, current

    def delete_node(self, ref: NodeRef) -> PlanNode | None:
        current = self.sources.nodes.pop(ref, None)
        if current is not None:
            self._children.get(current.parent, set()).discard(ref)
        return current

    # ---- sources ----
    def put_order(self, order: OrderFigure) -> tuple[bool, OrderFigure | None]:
        current = self.sources.orders.get(order.order_id)
        if current is not None and current.version >= order.version:
            return False, current
        self.sources.orders[order.order_id] = order
        return True, current

    def orders_of(self, ref: NodeRef, period: Period) -> list[OrderFigure]:
        return sorted(
            (o for o in self.sources.orders.values() if o.period == period and ref in o.refs()),
            key=lambda o: o.order_id,
        )

    def plan_figure(self, ref: NodeRef, period: Period) -> Decimal | None:
        return self.sources.plans.get((ref, period))

    def pos_of(self, account_id: str, period: Period) -> list[PosFigure]:
        return [
            f
            for f in self.sources.pos_figures()
            if f.account_id == account_id and (f.year, f.quarter) == period
        ]

    def pos_history(self, account_id: str) -> dict[Period, set[str]]:
        history: dict[Period, set[str]] = {}
        for (account, period, _currency, distributor), amount in self.sources.pos.items():
            if account == account_id and amount:
                history.setdefault(period, set()).add(distributor)
        return history

    def source_periods(self, ref: NodeRef) -> set[Period]:
        periods = {p for (r, p) in self.sources.plans if r == ref}
        periods |= {o.period for o in self.sources.orders.values() if ref in o.refs()}
        if ref.type == ACCOUNT:
            periods |= {p for (a, p, _c, _d) in self.sources.pos if a == ref.id}
        return periods

    # ---- rollups ----
    def get_cell(self, ref: NodeRef, period: Period) -> RollupCell | None:
        return self.cells.get((ref, period))

    def get_cells(self, refs: Iterable[NodeRef], period: Period) -> dict[NodeRef, RollupCell]:
        return {r: c for r in refs if (c := self.cells.get((r, period))) is not None}

    def cells_of(self, ref: NodeRef) -> dict[Period, RollupCell]:
        return {p: c for (r, p), c in self.cells.items() if r == ref}

    def put_cell(self, ref: NodeRef, period: Period, cell: RollupCell) -> None:
        self.writes += 1
        self.cells[(ref, period)] = cell

    def delete_cell(self, ref: NodeRef, period: Period) -> None:
        self.writes += 1
        self.cells.pop((ref, period), None)

    def all_cells(self) -> Iterator[tuple[NodeRef, Period, RollupCell]]:
        for (ref, period), cell in list(self.cells.items()):
            yield ref, period, cell
