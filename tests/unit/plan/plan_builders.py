"""Trees and figures the plan tests build: a small world per test, through the same store the rollup uses."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from plan_rollup.rollup import RollupContext, on_figure_changed, on_node_changed, pos_periods_touched

from shared.config_schemas.fx import FxConfig
from shared.config_schemas.stages import load_stages_file
from shared.store.plan import (
    ACCOUNT,
    OPPORTUNITY,
    TERRITORY,
    InMemoryRollupStore,
    NodeRef,
    OrderFigure,
    PlanNode,
    PosFigure,
)

FX = FxConfig(
    company_currency="USD",
    rates={"2026-Q1": {"EUR": Decimal("1.10")}, "2026-Q2": {"EUR": Decimal("1.20")}},
)
CTX = RollupContext(fx=FX, stages=load_stages_file())


def T(node_id: str) -> NodeRef:
    return NodeRef(TERRITORY, node_id)


def A(node_id: str) -> NodeRef:
    return NodeRef(ACCOUNT, node_id)


def Op(node_id: str) -> NodeRef:
    return NodeRef(OPPORTUNITY, node_id)


class World:
    """A plan store driven as the streams drive it: each source change, then the incremental rollup."""

    def __init__(self, ctx: RollupContext = CTX) -> None:
        self.store = InMemoryRollupStore()
        self.ctx = ctx
        self._version = 0

    def _next(self) -> str:
        self._version += 1
        return f"{self._version:08d}"

    def node(self, ref: NodeRef, parent: NodeRef | None = None, **fields: object) -> World:
        node = PlanNode(
            ref, name=str(fields.pop("name", ref.id)), parent=parent, version=self._next(), **fields
        )  # type: ignore[arg-type]
        applied, previous = self.store.put_node(node)
        if applied:
            on_node_changed(self.store, self.ctx, previous, node)
        return self

    def territory(self, node_id: str, parent: str | None = None) -> World:
        return self.node(T(node_id), T(parent) if parent else None)

    def account(self, node_id: str, territory: str | None, owner: str | None = None) -> World:
        return self.node(A(node_id), T(territory) if territory else None, owner=owner)

    def opportunity(
        self,
        node_id: str,
        account: str,
        *,
        stage: str,
        amount: str,
        close: date,
        probability: int | None = None,
    ) -> World:
        return self.node(
            Op(node_id),
            A(account),
            stage=stage,
            amount=Decimal(amount),
            close_date=close,
            probability=Decimal(probability) if probability is not None else None,
        )

    def plan(self, ref: NodeRef, year: int, quarter: int, amount: str) -> World:
        self.store.put_plan(ref, (year, quarter), Decimal(amount))
        on_figure_changed(self.store, self.ctx, ref, [(year, quarter)])
        return self

    def order(
        self,
        order_id: str,
        account: str,
        amount: str,
        booked: date,
        currency: str = "USD",
        opportunity: str | None = None,
    ) -> World:
        order = OrderFigure(order_id, account, Decimal(amount), currency, booked, opportunity, self._next())
        applied, previous = self.store.put_order(order)
        if applied:
            for old_or_new in (previous, order):
                if old_or_new is not None:
                    for ref in old_or_new.refs():
                        on_figure_changed(self.store, self.ctx, ref, [old_or_new.period])
        return self

    def pos(
        self, account: str, year: int, quarter: int, distributor: str, amount: str, currency: str = "USD"
    ) -> World:
        self.store.set_pos(PosFigure(account, year, quarter, currency, distributor, Decimal(amount)))
        on_figure_changed(self.store, self.ctx, A(account), pos_periods_touched((year, quarter)))
        return self

    def cell(self, ref: NodeRef, year: int, quarter: int):  # type: ignore[no-untyped-def]
        return self.store.get_cell(ref, (year, quarter))


def board_world() -> World:
    """A board report's tree: millions of plan and actual, an order without an exchange rate, and two
    territories with no figures at all (apac at level 1, nordics at level 2)."""
    w = World()
    w.territory("global").territory("emea", "global").territory("americas", "global").territory(
        "apac", "global"
    )
    w.territory("nordics", "emea")
    w.account("acme-gmbh", "emea", "rep-jonas").account("globex-inc", "americas", "rep-ana")
    w.account("initech-ltd", "emea", "rep-jonas")
    for quarter, amount in ((1, "1200000"), (2, "1350000.00"), (3, "1410000.50"), (4, "1525000.00")):
        w.plan(T("global"), 2026, quarter, amount).plan(T("global"), 2025, quarter, "1000000.00")
        w.plan(T("emea"), 2026, quarter, "650000.00").plan(T("americas"), 2026, quarter, "480000.00")
    w.order("o1", "acme-gmbh", "812345.67", date(2026, 1, 15)).order(
        "o2", "globex-inc", "401234.10", date(2026, 2, 10)
    )
    w.order("o3", "acme-gmbh", "700000", date(2026, 5, 2)).order(
        "o5", "globex-inc", "512000.00", date(2026, 10, 2)
    )
    w.order("o4", "initech-ltd", "95000.99", date(2026, 8, 2), currency="EUR")  # no 2026-Q3 EUR rate
    w.order("o6", "acme-gmbh", "1234567.89", date(2025, 3, 2)).order(
        "o7", "globex-inc", "987654.32", date(2025, 11, 2)
    )
    return w
