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
    def put_node(self, node: PlanNode, *, force: bool = False) -> tuple[bool, PlanNode | None]:
        """Store the node unless as new a version is stored (``force``: the nightly repair stores it
        whatever is there): (applied, the node it replaced)."""
        ...

    def delete_node(self, ref: NodeRef) -> PlanNode | None: ...

    # sources
    def put_order(self, order: OrderFigure, *, force: bool = False) -> tuple[bool, OrderFigure | None]:
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

    def put_node(self, node: PlanNode, *, force: bool = False) -> tuple[bool, PlanNode | None]:
        current = self.sources.nodes.get(node.ref)
        if current is not None and current.version >= node.version and not force:
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
    def put_order(self, order: OrderFigure, *, force: bool = False) -> tuple[bool, OrderFigure | None]:
        current = self.sources.orders.get(order.order_id)
        if current is not None and current.version >= order.version and not force:
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


# ---- storage form of the tree mirror and orders (plain dicts as the stream images carry them) ----
def _text(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:f}"


def node_item(node: PlanNode) -> dict[str, Any]:
    """The attributes of a mirrored node item (besides its keys)."""
    return {
        "entity": "NODE",
        "node_type": node.ref.type,
        "node_id": node.ref.id,
        "name": node.name,
        "owner": node.owner,
        "parent_type": node.parent.type if node.parent else None,
        "parent_id": node.parent.id if node.parent else None,
        "stage": node.stage,
        "probability": _text(node.probability),
        "amount": _text(node.amount),
        "close_date": node.close_date.isoformat() if node.close_date else None,
        "version": node.version,
        "gsi1pk": children_index(node.parent),
        "gsi1sk": str(node.ref),
    }


def decode_node(image: dict[str, Any]) -> PlanNode:
    """A node from its item or a stream image of it."""

    def dec(name: str) -> Decimal | None:
        raw = image.get(name)
        return None if raw in (None, "") else Decimal(str(raw))

    parent = (
        NodeRef(image["parent_type"], image["parent_id"])
        if image.get("parent_type") and image.get("parent_id")
        else None
    )
    close = image.get("close_date")
    return PlanNode(
        ref=NodeRef(image["node_type"], image["node_id"]),
        name=image.get("name") or "",
        owner=image.get("owner"),
        parent=parent,
        stage=image.get("stage"),
        probability=dec("probability"),
        amount=dec("amount"),
        close_date=date.fromisoformat(close) if close else None,
        version=image.get("version") or "",
    )


def order_item(order: OrderFigure) -> dict[str, Any]:
    return {
        "order_id": order.order_id,
        "account_id": order.account_id,
        "opportunity_id": order.opportunity_id,
        "amount": _text(order.amount),
        "currency": order.currency,
        "booked_on": order.booked_on.isoformat(),
        "version": order.version,
    }


def decode_order(image: dict[str, Any]) -> OrderFigure:
    return OrderFigure(
        order_id=image["order_id"],
        account_id=image["account_id"],
        amount=Decimal(str(image["amount"])),
        currency=image["currency"],
        booked_on=date.fromisoformat(image["booked_on"]),
        opportunity_id=image.get("opportunity_id") or None,
        version=image.get("version") or "",
    )


@dataclass(frozen=True)
class PlanTableChange:
    """What one plan-table stream record means to the rollup."""

    kind: str  # "node" | "figure"
    ref: NodeRef
    periods: frozenset[Period] = frozenset()
    old_node: PlanNode | None = None
    new_node: PlanNode | None = None


def change_of(
    keys: dict[str, Any], new: dict[str, Any] | None, old: dict[str, Any] | None
) -> PlanTableChange | None:
    """Read a plan-table stream record (keys and images as plain values); None when not the rollup's."""
    image = new or old or {}
    entity = image.get("entity")
    pk, sk = str(keys.get("pk") or image.get("pk")), str(keys.get("sk") or image.get("sk"))
    if entity == "NODE":
        old_node = decode_node(old) if old else None
        new_node = decode_node(new) if new else None
        return PlanTableChange("node", parse_ref(pk), old_node=old_node, new_node=new_node)
    if entity == "NODE_ORDER":
        return PlanTableChange("figure", parse_ref(pk), frozenset({parse_period(sk.removeprefix("ORDER#"))}))
    if entity == "PLAN":
        return PlanTableChange("figure", parse_ref(pk), frozenset({parse_period(sk)}))
    if entity == "ACTUAL":
        return PlanTableChange("figure", NodeRef(ACCOUNT, pk.split("#", 2)[2]), frozenset({parse_period(sk)}))
    return None


class DynamoRollupStore:
    """``RollupStore`` on the plan table.

    The tree mirror, order mirror and rollup items are pynamodb models (``shared.store.plan_models``);
    the PLAN and ACTUAL items are read with the low-level client: their typed models belong to the
    plan/POS store (issue 9) and are not registered yet.
    """

    def __init__(self, table_name: str | None = None) -> None:
        from shared.settings import get_settings

        self.table_name = table_name or get_settings().plan_table
        self.writes = 0

    # ---- low-level (PLAN and ACTUAL items; see the class docstring) ----
    def _query(self, pk: str, sk_prefix: str = "") -> Iterator[dict[str, Any]]:
        from boto3.dynamodb.types import TypeDeserializer

        from shared.aws import client
        from shared.store.errors import translated

        deserialize = TypeDeserializer().deserialize
        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "pk = :pk" + (" AND begins_with(sk, :sk)" if sk_prefix else ""),
            "ExpressionAttributeValues": {
                ":pk": {"S": pk},
                **({":sk": {"S": sk_prefix}} if sk_prefix else {}),
            },
        }
        with translated():
            while True:
                page = client("dynamodb").query(**kwargs)
                for item in page.get("Items", []):
                    yield {k: deserialize(v) for k, v in item.items()}
                if "LastEvaluatedKey" not in page:
                    return
                kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _scan(self, entities: tuple[str, ...]) -> Iterator[dict[str, Any]]:
        from boto3.dynamodb.types import TypeDeserializer

        from shared.aws import client
        from shared.store.errors import translated

        deserialize = TypeDeserializer().deserialize
        names = {f":e{i}": {"S": e} for i, e in enumerate(entities)}
        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "FilterExpression": f"entity IN ({', '.join(names)})",
            "ExpressionAttributeValues": names,
        }
        with translated():
            while True:
                page = client("dynamodb").scan(**kwargs)
                for item in page.get("Items", []):
                    yield {k: deserialize(v) for k, v in item.items()}
                if "LastEvaluatedKey" not in page:
                    return
                kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    # ---- tree ----
    def get_node(self, ref: NodeRef) -> PlanNode | None:
        from shared.store.errors import translated
        from shared.store.plan_models import NodeItem

        key = node_key(ref)
        with translated():
            try:
                return decode_node(NodeItem.get(key["pk"], key["sk"]).attribute_values)
            except NodeItem.DoesNotExist:
                return None

    def nodes_with_id(self, node_id: str) -> list[PlanNode]:
        return [n for t in NODE_TYPES if (n := self.get_node(NodeRef(t, node_id))) is not None]

    def _children(self, index: str) -> list[PlanNode]:
        from shared.store.errors import translated
        from shared.store.plan_models import NodeItem

        with translated():
            return [decode_node(i.attribute_values) for i in NodeItem.by_gsi1.query(index)]

    def child_nodes(self, ref: NodeRef) -> list[PlanNode]:
        return self._children(children_index(ref))

    def root_nodes(self) -> list[PlanNode]:
        return self._children(children_index(None))

    def all_nodes(self) -> Iterator[PlanNode]:
        from shared.store.errors import translated
        from shared.store.plan_models import NodeItem

        with translated():
            for item in NodeItem.scan():
                yield decode_node(item.attribute_values)

    def put_node(self, node: PlanNode, *, force: bool = False) -> tuple[bool, PlanNode | None]:
        from shared.store.errors import Conflict, translated
        from shared.store.plan_models import NodeItem

        current = self.get_node(node.ref)
        if current is not None and current.version >= node.version and not force:
            return False, current
        key = node_key(node.ref)
        item = NodeItem(key["pk"], key["sk"], **{k: v for k, v in node_item(node).items() if k != "entity"})
        condition = None if force else NodeItem.pk.does_not_exist() | (NodeItem.version < node.version)
        try:
            with translated():
                item.save(condition=condition)
        except Conflict:
            return False, self.get_node(node.ref)
        self.writes += 1
        return True, current

    def delete_node(self, ref: NodeRef) -> PlanNode | None:
        from shared.store.errors import translated
        from shared.store.plan_models import NodeItem

        current = self.get_node(ref)
        if current is not None:
            key = node_key(ref)
            with translated():
                NodeItem(key["pk"], key["sk"]).delete()
            self.writes += 1
        return current

    # ---- sources ----
    def put_order(self, order: OrderFigure, *, force: bool = False) -> tuple[bool, OrderFigure | None]:
        from shared.store.errors import translated
        from shared.store.plan_models import NodeOrderItem, OrderRefItem

        with translated():
            try:
                pointer = OrderRefItem.get(f"ORDERREF#{order.order_id}", "ORDERREF")
                previous: OrderFigure | None = decode_order(json.loads(pointer.order))
            except OrderRefItem.DoesNotExist:
                previous = None
            if previous is not None and previous.version >= order.version and not force:
                return False, previous
            # the old entries go first, then the new ones, then the pointer: a retry redoes what is missing
            if previous is not None:
                for ref in previous.refs():
                    key = order_mirror_key(ref, previous.period, previous.order_id)
                    if ref not in order.refs() or previous.period != order.period:
                        NodeOrderItem(key["pk"], key["sk"]).delete()
            for ref in order.refs():
                key = order_mirror_key(ref, order.period, order.order_id)
                NodeOrderItem(key["pk"], key["sk"], **order_item(order)).save()
            OrderRefItem(f"ORDERREF#{order.order_id}", "ORDERREF", order=json.dumps(order_item(order))).save()
        self.writes += 1
        return True, previous

    def orders_of(self, ref: NodeRef, period: Period) -> list[OrderFigure]:
        from shared.store.errors import translated
        from shared.store.plan_models import NodeOrderItem

        key = node_key(ref)
        with translated():
            items = NodeOrderItem.query(key["pk"], NodeOrderItem.sk.startswith(order_period_prefix(period)))
            return [decode_order(i.attribute_values) for i in items]

    def all_orders(self) -> Iterator[OrderFigure]:
        for item in self._scan(("ORDER_REF",)):
            yield decode_order(json.loads(item["order"]))

    def plan_figure(self, ref: NodeRef, period: Period) -> Decimal | None:
        key = plan_figure_key(ref, period)
        for item in self._query(key["pk"], key["sk"]):
            if item["sk"] == key["sk"]:
                return Decimal(str(item["amount"]))
        return None

    def _pos_items(self, account_id: str, sk_prefix: str = "") -> Iterator[PosFigure]:
        for item in self._query(actual_partition(account_id), sk_prefix):
            breakdown = str(item.get("breakdown") or "")
            if item.get("entity") != "ACTUAL_BREAKDOWN" or not breakdown.startswith("DIST#"):
                continue
            year, quarter = parse_period(item["sk"])
            currency = item["sk"].split("#")[2]
            yield PosFigure(account_id, year, quarter, currency, breakdown[5:], Decimal(str(item["amount"])))

    def pos_of(self, account_id: str, period: Period) -> list[PosFigure]:
        return list(self._pos_items(account_id, f"{period[0]:04d}#Q{period[1]}#"))

    def pos_history(self, account_id: str) -> dict[Period, set[str]]:
        history: dict[Period, set[str]] = {}
        for figure in self._pos_items(account_id):
            if figure.amount:
                history.setdefault((figure.year, figure.quarter), set()).add(figure.distributor)
        return history

    def source_periods(self, ref: NodeRef) -> set[Period]:
        periods = {parse_period(i["sk"]) for i in self._query(f"PLAN#{ref.type}#{ref.id}")}
        periods |= {
            parse_period(i["sk"].removeprefix("ORDER#")) for i in self._query(node_key(ref)["pk"], "ORDER#")
        }
        if ref.type == ACCOUNT:
            periods |= {(f.year, f.quarter) for f in self._pos_items(ref.id)}
        return periods

    def snapshot(self) -> RollupSnapshot:
        """Every plan figure, mirrored order and POS figure of the table in one scan (nightly)."""
        snapshot = RollupSnapshot(nodes={n.ref: n for n in self.all_nodes()})
        for item in self._scan(("PLAN", "ACTUAL_BREAKDOWN", "ORDER_REF")):
            if item["entity"] == "PLAN":
                snapshot.plans[(parse_ref(item["pk"]), parse_period(item["sk"]))] = Decimal(
                    str(item["amount"])
                )
            elif item["entity"] == "ORDER_REF":
                order = decode_order(json.loads(item["order"]))
                snapshot.orders[order.order_id] = order
            elif str(item.get("breakdown") or "").startswith("DIST#"):
                period = parse_period(item["sk"])
                key = (parse_ref(item["pk"]).id, period, item["sk"].split("#")[2], item["breakdown"][5:])
                snapshot.pos[key] = Decimal(str(item["amount"]))
        return snapshot

    # ---- rollups ----
    def get_cell(self, ref: NodeRef, period: Period) -> RollupCell | None:
        from shared.store.errors import translated
        from shared.store.plan_models import RollupItem

        key = rollup_key(ref, period)
        with translated():
            try:
                return RollupCell.from_json(RollupItem.get(key["pk"], key["sk"]).figures)
            except RollupItem.DoesNotExist:
                return None

    def get_cells(self, refs: Iterable[NodeRef], period: Period) -> dict[NodeRef, RollupCell]:
        from shared.store.errors import translated
        from shared.store.plan_models import RollupItem

        keys = [(rollup_key(r, period)["pk"], rollup_key(r, period)["sk"]) for r in refs]
        found: dict[NodeRef, RollupCell] = {}
        with translated():
            for item in RollupItem.batch_get(keys):
                found[parse_ref(item.pk)] = RollupCell.from_json(item.figures)
        return found

    def cells_of(self, ref: NodeRef, years: tuple[int, int] | None = None) -> dict[Period, RollupCell]:
        """A node's cells, all of them or those of years ``years[0]`` to ``years[1]``."""
        from shared.store.errors import translated
        from shared.store.plan_models import RollupItem

        pk = rollup_key(ref, (0, 1))["pk"]
        condition = RollupItem.sk.between(f"{years[0]:04d}#", f"{years[1]:04d}#Z") if years else None
        with translated():
            return {
                parse_period(i.sk): RollupCell.from_json(i.figures) for i in RollupItem.query(pk, condition)
            }

    def put_cell(self, ref: NodeRef, period: Period, cell: RollupCell) -> None:
        from shared.store.errors import translated
        from shared.store.plan_models import RollupItem

        key = rollup_key(ref, period)
        item = RollupItem(
            key["pk"],
            key["sk"],
            node_type=ref.type,
            node_id=ref.id,
            year=period[0],
            quarter=period[1],
            figures=cell.to_json(),
            gsi1pk=rollup_year_index(period[0]),
            gsi1sk=f"{ref}#Q{period[1]}",
            computed_at=_now(),
        )
        with translated():
            item.save()
        self.writes += 1

    def delete_cell(self, ref: NodeRef, period: Period) -> None:
        from shared.store.errors import translated
        from shared.store.plan_models import RollupItem

        key = rollup_key(ref, period)
        with translated():
            RollupItem(key["pk"], key["sk"]).delete()
        self.writes += 1

    def all_cells(self) -> Iterator[tuple[NodeRef, Period, RollupCell]]:
        from shared.store.errors import translated
        from shared.store.plan_models import RollupItem

        with translated():
            for item in RollupItem.scan():
                yield parse_ref(item.pk), parse_period(item.sk), RollupCell.from_json(item.figures)

    def cells_of_year(self, year: int) -> Iterator[tuple[NodeRef, Period, RollupCell]]:
        """Every rollup of a year (board export)."""
        from shared.store.errors import translated
        from shared.store.plan_models import RollupItem

        with translated():
            for item in RollupItem.by_gsi1.query(rollup_year_index(year)):
                figures = str(getattr(item, "figures", ""))  # the index is typed with the table's base model
                yield parse_ref(item.pk), parse_period(item.sk), RollupCell.from_json(figures)

    def last_computed(self, ref: NodeRef, years: tuple[int, int]) -> str | None:
        """When the newest of a node's rollups was written (the answer's ``as_of``)."""
        from shared.store.errors import translated
        from shared.store.plan_models import RollupItem

        pk = rollup_key(ref, (0, 1))["pk"]
        condition = RollupItem.sk.between(f"{years[0]:04d}#", f"{years[1]:04d}#Z")
        with translated():
            stamps = [i.computed_at for i in RollupItem.query(pk, condition) if i.computed_at]
        return max(stamps) if stamps else None


def _now() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
