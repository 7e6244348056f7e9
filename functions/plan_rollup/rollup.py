"""The rollup over the plan tree: one cell of figures per node and quarter, exact, in plain objects.

A node's cell is its own contribution plus what its direct children's cells pass up:

- a territory passes up everything: actuals (orders, POS per distributor, unconverted amounts),
  POS completeness counts and the pipeline; its own actual is the sum over its subtree;
- an opportunity passes to its account only its pipeline (the account's actual already holds
  every order of the account, including those that name the opportunity);
- every child passes its own ``plan`` into its parent's ``children_plan``. A plan is never the
  sum of anything: it is the figure entered for the node.

Because a cell depends only on the node's own figures and its children's cells, the incremental
path (``recompute_upwards``: the changed node, then its ancestors, writing only cells that change)
and the full path (``compute_all``) give the same cells whatever order the changes came in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from shared.config_schemas.fx import CENT, FxConfig
from shared.config_schemas.stages import StageCatalog
from shared.store.plan import (
    ACCOUNT,
    OPPORTUNITY,
    TERRITORY,
    ZERO,
    NodeFigures,
    NodeRef,
    OrderFigure,
    Period,
    PlanNode,
    PosFigure,
    RollupCell,
    RollupSnapshot,
    RollupStore,
    StageFigure,
)

# A distributor is expected to report an account's sell-through in a quarter when it reported for
# that account in any of the four quarters before (or reports in the quarter itself).
COMPLETENESS_LOOKBACK = 4


@dataclass(frozen=True)
class RollupContext:
    """What the rollup reads besides the figures: exchange rates and the stage catalogue."""

    fx: FxConfig
    stages: StageCatalog


def period_of(day_year: int, month: int) -> Period:
    return day_year, (month - 1) // 3 + 1


def shift(period: Period, quarters: int) -> Period:
    """The quarter ``quarters`` after (negative: before) ``period``."""
    index = period[0] * 4 + period[1] - 1 + quarters
    return index // 4, index % 4 + 1


def pos_periods_touched(period: Period) -> set[Period]:
    """A POS change in ``period`` moves its actual and the completeness of the quarters after it."""
    return {shift(period, k) for k in range(COMPLETENESS_LOOKBACK + 1)}


# ------------------------------------------------------------------ one node's own contribution
def add_order(cell: RollupCell, order: OrderFigure, ctx: RollupContext) -> None:
    year, quarter = order.period
    converted = ctx.fx.convert(order.amount, order.currency, year, quarter)
    if converted is None:
        cell.add_to("unconverted", order.currency, order.amount)
    else:
        cell.orders += converted


def add_pos(cell: RollupCell, figure: PosFigure, ctx: RollupContext) -> None:
    converted = ctx.fx.convert(figure.amount, figure.currency, figure.year, figure.quarter)
    if converted is None:
        cell.add_to("unconverted", figure.currency, figure.amount)
    else:
        cell.add_to("pos", figure.distributor, converted)


def add_completeness(cell: RollupCell, period: Period, history: Mapping[Period, set[str]]) -> None:
    reported = history.get(period, set())
    expected = set(reported)
    for k in range(1, COMPLETENESS_LOOKBACK + 1):
        expected |= history.get(shift(period, -k), set())
    for distributor in expected:
        cell.add_to("pos_expected", distributor, 1)
        if distributor in reported:
            cell.add_to("pos_reported", distributor, 1)


def opportunity_period(node: PlanNode) -> Period | None:
    if node.close_date is None:
        return None
    return period_of(node.close_date.year, node.close_date.month)


def add_pipeline(cell: RollupCell, node: PlanNode, ctx: RollupContext) -> None:
    """An opportunity closing in the cell's quarter: its stage in the funnel, and weighted if open."""
    amount = node.amount or ZERO
    stage = ctx.stages.opportunity_stage(node.stage or "")
    name = stage.name if stage is not None else (node.stage or "(no stage)")
    outcome = stage.outcome if stage is not None else "open"
    probability = node.probability
    if probability is None:
        probability = Decimal(stage.probability) if stage is not None else ZERO
    weighted = (amount * probability / 100).quantize(CENT)
    cell.add_to("pipeline", name, StageFigure(1, amount, weighted))
    if outcome == "open":
        cell.weighted_pipeline += weighted


def own_cell(
    node: PlanNode,
    period: Period,
    ctx: RollupContext,
    *,
    plan: Decimal | None,
    orders: Iterable[OrderFigure] = (),
    pos: Iterable[PosFigure] = (),
    pos_history: Mapping[Period, set[str]] | None = None,
) -> RollupCell:
    """The node's own figures in ``period``, before its children's are added."""
    cell = RollupCell(plan=plan or ZERO)
    if node.ref.type in (ACCOUNT, OPPORTUNITY):
        for order in orders:
            add_order(cell, order, ctx)
    if node.ref.type == ACCOUNT:
        for figure in pos:
            add_pos(cell, figure, ctx)
        add_completeness(cell, period, pos_history or {})
    if node.ref.type == OPPORTUNITY and opportunity_period(node) == period:
        add_pipeline(cell, node, ctx)
    return cell


def absorb(parent: RollupCell, parent_type: str, child: RollupCell) -> None:
    """Add what a child's cell passes up to its parent's."""
    parent.children_plan += child.plan
    if parent_type == TERRITORY:
        parent.add_actuals(child)
    if parent_type in (TERRITORY, ACCOUNT) and child.pipeline:  # no pipeline entry: nothing weighted
        parent.add_pipeline(child)


def finish(cell: RollupCell) -> RollupCell | None:
    """The cell as stored: None when it holds nothing (no item is kept for it)."""
    cell = cell.normalised()
    return None if cell.is_empty() else cell


# ------------------------------------------------------------------ incremental
@dataclass
class RecomputeResult:
    written: int = 0
    deleted: int = 0
    unchanged: int = 0
    cells: set[tuple[NodeRef, Period]] = field(default_factory=set)

    @property
    def writes(self) -> int:
        return self.written + self.deleted

    def __iadd__(self, other: RecomputeResult) -> RecomputeResult:
        self.written += other.written
        self.deleted += other.deleted
        self.unchanged += other.unchanged
        self.cells |= other.cells
        return self


def compute_cell(
    node: PlanNode,
    period: Period,
    ctx: RollupContext,
    figures: NodeFigures,
    child_cells: Iterable[RollupCell],
) -> RollupCell | None:
    """One cell from the node's own figures (read once for all its quarters) and its children's cells."""
    cell = own_cell(
        node,
        period,
        ctx,
        plan=figures.plans.get(period),
        orders=figures.orders.get(period, ()) if node.ref.type != TERRITORY else (),
        pos=figures.pos.get(period, ()) if node.ref.type == ACCOUNT else (),
        pos_history=figures.pos_history() if node.ref.type == ACCOUNT else None,
    )
    for child_cell in child_cells:
        absorb(cell, node.ref.type, child_cell)
    return finish(cell)


def node_periods(store: RollupStore, ref: NodeRef) -> set[Period]:
    """Every quarter a node has or may now have a cell for."""
    periods = set(store.cells_of(ref)) | store.source_periods(ref)
    node = store.get_node(ref)
    if node is not None:
        if (closing := opportunity_period(node)) is not None:
            periods.add(closing)
        for child in store.child_nodes(ref):
            periods |= set(store.cells_of(child.ref))
    if ref.type == ACCOUNT:
        for period in list(periods):
            periods |= pos_periods_touched(period)
    return periods


@dataclass
class _Loaded:
    node: PlanNode | None
    figures: NodeFigures
    cells: dict[Period, RollupCell]
    children: list[NodeRef]


def recompute_upwards(
    store: RollupStore, ctx: RollupContext, start: NodeRef | None, periods: Iterable[Period]
) -> RecomputeResult:
    """Recompute ``start`` in ``periods``, then each ancestor while its cell changes.

    Quarter by quarter, earliest first (a POS change's own quarter before the quarters whose
    completeness it moves), so the top of the tree shows the change after depth + 1 writes; at most
    depth + 1 cells are written per quarter. A node's figures and cells are read once per call.
    """
    result = RecomputeResult()
    loaded: dict[NodeRef, _Loaded] = {}

    def load(ref: NodeRef) -> _Loaded:
        found = loaded.get(ref)
        if found is None:
            node = store.get_node(ref)
            found = loaded[ref] = _Loaded(
                node,
                store.node_figures(ref) if node is not None else NodeFigures(),
                store.cells_of(ref),
                [c.ref for c in store.child_nodes(ref)] if node is not None else [],
            )
        return found

    for period in sorted(set(periods)):
        ref = start
        seen: set[NodeRef] = set()
        while ref is not None and ref not in seen:
            seen.add(ref)
            entry = load(ref)
            stored = entry.cells.get(period)
            if entry.node is None:  # a node that is gone keeps no cells
                if stored is not None:
                    store.delete_cell(ref, period)
                    del entry.cells[period]
                    result.deleted += 1
                    result.cells.add((ref, period))
                break
            cell = compute_cell(
                entry.node, period, ctx, entry.figures, store.get_cells(entry.children, period).values()
            )
            if cell == stored:
                result.unchanged += 1
                break
            if cell is None:
                store.delete_cell(ref, period)
                del entry.cells[period]
                result.deleted += 1
            else:
                store.put_cell(ref, period, cell)
                entry.cells[period] = cell
                result.written += 1
            result.cells.add((ref, period))
            ref = entry.node.parent
    return result


def on_figure_changed(
    store: RollupStore, ctx: RollupContext, ref: NodeRef, periods: Iterable[Period]
) -> RecomputeResult:
    """A plan figure, an order or a POS actual of ``ref`` changed in ``periods``."""
    return recompute_upwards(store, ctx, ref, periods)


def on_node_changed(
    store: RollupStore, ctx: RollupContext, old: PlanNode | None, new: PlanNode | None
) -> RecomputeResult:
    """A territory, account or opportunity was created, changed, moved or removed.

    The node is recomputed in all its quarters; then its new ancestors and, when it moved, its old
    ones, each from the parent up, so its contribution leaves one branch and joins the other.
    """
    ref = (new or old).ref  # type: ignore[union-attr]
    periods = node_periods(store, ref)
    if old is not None and (closing := opportunity_period(old)) is not None:
        periods.add(closing)
    result = recompute_upwards(store, ctx, ref, periods)
    parents = {n.parent for n in (new, old) if n is not None and n.parent is not None}
    for parent in sorted(parents):
        result += recompute_upwards(store, ctx, parent, periods)
    return result


# ------------------------------------------------------------------ full
def compute_all(snapshot: RollupSnapshot, ctx: RollupContext) -> dict[tuple[NodeRef, Period], RollupCell]:
    """Every cell of every node from the source figures alone (the nightly recompute)."""
    nodes = snapshot.nodes
    own: dict[NodeRef, dict[Period, RollupCell]] = {}

    def cell(ref: NodeRef, period: Period) -> RollupCell:
        by_period = own.get(ref)
        if by_period is None:
            by_period = own[ref] = {}
        found = by_period.get(period)
        if found is None:
            found = by_period[period] = RollupCell()
        return found

    for (ref, period), amount in snapshot.plans.items():  # the bulk of the figures: inlined
        if ref in nodes:
            by_period = own.get(ref)
            if by_period is None:
                by_period = own[ref] = {}
            found = by_period.get(period)
            if found is None:
                by_period[period] = RollupCell(plan=amount)
            else:
                found.plan = amount
    for order in snapshot.orders.values():
        for ref in order.refs():
            if ref in nodes:
                add_order(cell(ref, order.period), order, ctx)
    history: dict[str, dict[Period, set[str]]] = {}
    for figure in snapshot.pos_figures():
        ref = NodeRef(ACCOUNT, figure.account_id)
        if ref in nodes:
            add_pos(cell(ref, (figure.year, figure.quarter)), figure, ctx)
            if figure.amount:
                history.setdefault(figure.account_id, {}).setdefault(
                    (figure.year, figure.quarter), set()
                ).add(figure.distributor)
    for account_id, reported in history.items():
        ref = NodeRef(ACCOUNT, account_id)
        touched = set().union(*(pos_periods_touched(p) for p in reported))
        for period in touched:
            add_completeness(cell(ref, period), period, reported)
    for node in nodes.values():
        if node.ref.type == OPPORTUNITY and (closing := opportunity_period(node)) is not None:
            add_pipeline(cell(node.ref, closing), node, ctx)

    # children before parents: a post-order over the tree (nodes in a cycle keep their own figures)
    children: dict[NodeRef, list[NodeRef]] = {}
    for node in nodes.values():
        if node.parent is not None and node.parent in nodes:
            children.setdefault(node.parent, []).append(node.ref)
    depth_order = _post_order(nodes, children)
    result: dict[tuple[NodeRef, Period], RollupCell] = {}
    for ref in depth_order:  # children first: once its children are in, a node's cells are final
        mine = own.get(ref, {})
        territory, passes_pipeline = ref.type == TERRITORY, ref.type in (TERRITORY, ACCOUNT)
        for child in children.get(ref, ()):
            for period, child_cell in own.get(child, {}).items():
                target = mine.get(period)
                if target is None:
                    target = mine[period] = RollupCell()
                # ``absorb`` inlined (millions of calls at full size; the property tests hold the two equal)
                target.children_plan += child_cell.plan
                if territory:
                    target.add_actuals(child_cell)
                if passes_pipeline and child_cell.pipeline:
                    target.add_pipeline(child_cell)
        own[ref] = mine
        for period, raw in mine.items():  # ``finish``, cheapest tests first
            if raw.pos or raw.unconverted or raw.pipeline or raw.pos_expected:
                raw.normalised()
            if raw.plan or raw.children_plan or not raw.is_empty():
                result[(ref, period)] = raw
    return result


def _post_order(
    nodes: Mapping[NodeRef, PlanNode], children: Mapping[NodeRef, list[NodeRef]]
) -> list[NodeRef]:
    roots = [r for r, n in nodes.items() if n.parent is None or n.parent not in nodes]
    order: list[NodeRef] = []
    visited: set[NodeRef] = set()
    for root in sorted(roots):
        stack: list[tuple[NodeRef, bool]] = [(root, False)]
        while stack:
            ref, expanded = stack.pop()
            if expanded:
                order.append(ref)
                continue
            if ref in visited:
                continue
            visited.add(ref)
            stack.append((ref, True))
            stack.extend((c, False) for c in children.get(ref, ()) if c not in visited)
    return order
