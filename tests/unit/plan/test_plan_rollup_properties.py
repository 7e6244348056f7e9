"""Property-based: for any tree and figures, the root's actual is the sum of its accounts' actuals, and the
incremental rollup equals a full recompute whatever order the changes arrive in (shuffled, duplicated,
late corrections)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from plan_rollup.rollup import compute_all, on_figure_changed, on_node_changed, pos_periods_touched

from shared.store.plan import (
    ACCOUNT,
    OPPORTUNITY,
    TERRITORY,
    ZERO,
    InMemoryRollupStore,
    NodeRef,
    OrderFigure,
    PlanNode,
    PosFigure,
)
from tests.unit.plan.plan_builders import CTX

TERRITORIES = [f"t{i}" for i in range(5)]
ACCOUNTS = [f"a{i}" for i in range(6)]
OPPORTUNITIES = [f"o{i}" for i in range(5)]
STAGES = ["Qualifying Needs", "Verbal Approval", "Job Won", "Lost", "On Hold"]
CURRENCIES = ["USD", "USD", "EUR", "JPY"]

money = st.decimals(min_value=-500, max_value=5000, places=2, allow_nan=False, allow_infinity=False)
days = st.dates(min_value=date(2025, 1, 1), max_value=date(2026, 12, 31))
periods = st.tuples(st.sampled_from([2025, 2026]), st.integers(1, 4))


@dataclass(frozen=True)
class Change:
    version: int
    kind: str
    payload: object


def territory_changes(draw: st.DrawFn) -> list[tuple[str, object]]:
    out: list[tuple[str, object]] = []
    for index, tid in enumerate(TERRITORIES):
        # a parent among the territories before it: always a tree
        parent = draw(st.sampled_from([None, *TERRITORIES[:index]]))
        out.append(
            ("node", PlanNode(NodeRef(TERRITORY, tid), parent=NodeRef(TERRITORY, parent) if parent else None))
        )
    return out


@st.composite
def histories(draw: st.DrawFn) -> list[Change]:
    raw: list[tuple[str, object]] = territory_changes(draw)
    for aid in ACCOUNTS:
        for _ in range(draw(st.integers(1, 2))):  # a second upsert may realign the account
            raw.append(
                (
                    "node",
                    PlanNode(
                        NodeRef(ACCOUNT, aid), parent=NodeRef(TERRITORY, draw(st.sampled_from(TERRITORIES)))
                    ),
                )
            )
    for oid in OPPORTUNITIES:
        for _ in range(draw(st.integers(1, 2))):
            raw.append(
                (
                    "node",
                    PlanNode(
                        NodeRef(OPPORTUNITY, oid),
                        parent=NodeRef(ACCOUNT, draw(st.sampled_from(ACCOUNTS))),
                        stage=draw(st.sampled_from(STAGES)),
                        amount=draw(money),
                        close_date=draw(days),
                    ),
                )
            )
    for _ in range(draw(st.integers(0, 8))):
        ref = draw(
            st.sampled_from(
                [NodeRef(TERRITORY, t) for t in TERRITORIES] + [NodeRef(ACCOUNT, a) for a in ACCOUNTS]
            )
        )
        raw.append(("plan", (ref, draw(periods), draw(money))))
    for n in range(draw(st.integers(0, 8))):
        order_id = f"ord{draw(st.integers(0, n))}"  # reuse: late corrections of the same order
        raw.append(
            (
                "order",
                (order_id, draw(st.sampled_from(ACCOUNTS)), draw(money), draw(st.sampled_from(CURRENCIES)), draw(days),
                 draw(st.sampled_from([None, *OPPORTUNITIES]))),
            )
        )  # fmt: skip
    for _ in range(draw(st.integers(0, 6))):
        raw.append(
            ("pos", (draw(st.sampled_from(ACCOUNTS)), draw(periods), draw(st.sampled_from(["USD", "EUR", "GBP"])),
                     draw(st.sampled_from(["nw", "em"])), draw(money)))
        )  # fmt: skip
    changes = [Change(i + 1, kind, payload) for i, (kind, payload) in enumerate(raw)]
    # delivery: shuffled, some twice
    delivered = draw(st.permutations(changes))
    duplicates = draw(st.lists(st.sampled_from(changes), max_size=5)) if changes else []
    return list(delivered) + duplicates


class Harness:
    """The source tables' semantics (newest version wins), each applied change fed to the incremental rollup."""

    def __init__(self) -> None:
        self.store = InMemoryRollupStore()
        self.versions: dict[object, int] = {}

    def _newer(self, key: object, version: int) -> bool:
        if self.versions.get(key, 0) >= version:
            return False
        self.versions[key] = version
        return True

    def deliver(self, change: Change) -> None:
        version = f"{change.version:08d}"
        if change.kind == "node":
            node: PlanNode = change.payload  # type: ignore[assignment]
            node = PlanNode(node.ref, node.name, node.owner, node.parent, node.stage, node.probability, node.amount,
                            node.close_date, version)  # fmt: skip
            applied, previous = self.store.put_node(node)
            if applied:
                on_node_changed(self.store, CTX, previous, node)
        elif change.kind == "plan":
            ref, period, amount = change.payload  # type: ignore[misc]
            if self._newer(("plan", ref, period), change.version):
                self.store.put_plan(ref, period, amount)
                on_figure_changed(self.store, CTX, ref, [period])
        elif change.kind == "order":
            order_id, account, amount, currency, booked, opportunity = change.payload  # type: ignore[misc]
            order = OrderFigure(order_id, account, amount, currency, booked, opportunity, version)
            applied, previous = self.store.put_order(order)
            if applied:
                for figure in (previous, order):
                    if figure is not None:
                        for ref in figure.refs():
                            on_figure_changed(self.store, CTX, ref, [figure.period])
        elif change.kind == "pos":
            account, (year, quarter), currency, distributor, amount = change.payload  # type: ignore[misc]
            if self._newer(("pos", account, year, quarter, currency, distributor), change.version):
                self.store.set_pos(PosFigure(account, year, quarter, currency, distributor, amount))
                on_figure_changed(
                    self.store, CTX, NodeRef(ACCOUNT, account), pos_periods_touched((year, quarter))
                )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories())
def test_incremental_equals_full_recompute_whatever_the_order(history: list[Change]) -> None:
    harness = Harness()
    for change in history:
        harness.deliver(change)
    assert harness.store.cells == compute_all(harness.store.sources, CTX)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories())
def test_a_roots_actual_is_the_sum_of_its_accounts_actuals(history: list[Change]) -> None:
    harness = Harness()
    for change in history:
        harness.deliver(change)
    store = harness.store
    for root in store.root_nodes():
        if root.ref.type != TERRITORY:
            continue
        accounts: list[NodeRef] = []
        stack = [root.ref]
        while stack:
            ref = stack.pop()
            for child in store.child_nodes(ref):
                (accounts if child.ref.type == ACCOUNT else stack).append(child.ref)
        for period in {p for (_r, p) in store.cells}:
            root_cell = store.get_cell(root.ref, period)
            expected = sum((c.actual for c in store.get_cells(accounts, period).values()), ZERO)
            assert (root_cell.actual if root_cell else ZERO) == expected
            unconverted = ZERO if root_cell is None else sum(root_cell.unconverted.values(), ZERO)
            assert unconverted == sum(
                (sum(c.unconverted.values(), ZERO) for c in store.get_cells(accounts, period).values()), ZERO
            )


def test_shuffled_delivery_example_with_a_late_correction() -> None:
    harness = Harness()
    t = PlanNode(NodeRef(TERRITORY, "t"))
    a = PlanNode(NodeRef(ACCOUNT, "a"), parent=NodeRef(TERRITORY, "t"))
    late = Change(3, "order", ("x", "a", Decimal("5"), "USD", date(2026, 1, 1), None))
    early = Change(2, "order", ("x", "a", Decimal("9"), "USD", date(2026, 4, 1), None))
    for change in (late, Change(1, "node", t), early, Change(4, "node", a), late):
        harness.deliver(change)
    assert harness.store.get_cell(NodeRef(TERRITORY, "t"), (2026, 1)).actual == Decimal("5")  # type: ignore[union-attr]
    assert harness.store.get_cell(NodeRef(TERRITORY, "t"), (2026, 2)) is None
    assert harness.store.cells == compute_all(harness.store.sources, CTX)
