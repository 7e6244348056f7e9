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
