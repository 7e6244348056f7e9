"""The plan's semantics on trees the tests build (issue 11): plan, actual, currency, variance, gaps,
pipeline, POS completeness, realignment."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from plan_rollup.rollup import compute_all

from shared import plan_report
from tests.unit.plan.plan_builders import CTX, A, Op, T, World

D = Decimal


def small_world() -> World:
    """root ─ west ─ a1 (o1), a2 ; root ─ east ─ a3."""
    w = World()
    w.territory("root").territory("west", "root").territory("east", "root")
    w.account("a1", "west", owner="rep-1").account("a2", "west", owner="rep-1").account(
        "a3", "east", owner="rep-2"
    )
    return w


def test_plan_is_the_nodes_own_figure_never_its_childrens_sum() -> None:
    # Given plans at every level
    w = small_world()
    w.plan(T("root"), 2026, 1, "1000").plan(T("west"), 2026, 1, "600").plan(T("east"), 2026, 1, "500")
    # Then the root keeps its own plan, and the children's sum shows as children_plan and the gap
    cell = w.cell(T("root"), 2026, 1)
    assert cell.plan == D("1000")
    assert cell.children_plan == D("1100")
    view = plan_report.quarter_figures(cell, None, None)
    assert view["plan_gap"] == "-100"
    assert view["over_assignment_pct"] == "0.1"


def test_the_newest_plan_figure_wins() -> None:
    w = small_world()
    w.plan(A("a1"), 2026, 2, "100").plan(A("a1"), 2026, 2, "150")
    assert w.cell(A("a1"), 2026, 2).plan == D("150")
    assert w.cell(T("west"), 2026, 2).children_plan == D("150")


def test_actual_is_orders_plus_pos_on_the_accounts_and_sums_up_the_subtree() -> None:
    # Given orders and POS on two accounts in two branches
    w = small_world()
    w.order("o-1", "a1", "100.50", date(2026, 2, 10))
    w.pos("a1", 2026, 1, "northwind", "40")
    w.pos("a3", 2026, 1, "elektro", "9.50")
    w.order("o-2", "a3", "1", date(2026, 4, 1))  # Q2: not in Q1
    # Then each level's actual is the sum below it, by source
    assert w.cell(A("a1"), 2026, 1).actual == D("140.50")
    assert w.cell(T("west"), 2026, 1).actual == D("140.50")
    root = w.cell(T("root"), 2026, 1)
    assert root.actual == D("150.00")
    assert root.orders == D("100.50")
    assert root.pos == {"northwind": D("40"), "elektro": D("9.50")}
    assert w.cell(T("root"), 2026, 2).actual == D("1")


def test_an_opportunitys_actual_is_the_orders_naming_it_and_does_not_double_the_account() -> None:
    w = small_world()
    w.opportunity("op1", "a1", stage="Sales Presentation", amount="1000", close=date(2026, 3, 1))
    w.order("o-1", "a1", "300", date(2026, 1, 5), opportunity="op1")
    w.order("o-2", "a1", "200", date(2026, 1, 6))
    assert w.cell(Op("op1"), 2026, 1).actual == D("300")
    assert w.cell(A("a1"), 2026, 1).actual == D("500")
    assert w.cell(T("root"), 2026, 1).actual == D("500")


def test_foreign_currency_converts_at_the_quarters_rate_and_a_missing_rate_is_kept_apart() -> None:
    w = small_world()
    w.order("o-1", "a1", "100", date(2026, 2, 1), currency="EUR")  # 1.10 in Q1
    w.order("o-2", "a1", "100", date(2026, 5, 1), currency="EUR")  # 1.20 in Q2
    w.order("o-3", "a1", "70", date(2026, 2, 1), currency="JPY")  # no rate
    w.pos("a1", 2026, 1, "northwind", "10", currency="GBP")  # no rate
    q1 = w.cell(T("root"), 2026, 1)
    assert q1.actual == D("110.00")
    assert q1.unconverted == {"JPY": D("70"), "GBP": D("10")}
    assert q1.incomplete
    view = plan_report.quarter_figures(q1, None, None)
    assert view["actual_incomplete"] is True
    assert view["unconverted"] == {"GBP": "10", "JPY": "70"}
    assert w.cell(T("root"), 2026, 2).actual == D("120.00")
    assert not w.cell(T("root"), 2026, 2).incomplete


def test_variance_and_variance_pct_null_when_plan_is_zero() -> None:
    w = small_world()
    w.plan(A("a1"), 2026, 1, "200").order("o-1", "a1", "150", date(2026, 1, 2))
    w.order("o-2", "a2", "10", date(2026, 1, 2))
    a1 = plan_report.quarter_figures(w.cell(A("a1"), 2026, 1), None, None)
    assert (a1["variance"], a1["variance_pct"]) == ("-50", "-0.25")
    a2 = plan_report.quarter_figures(w.cell(A("a2"), 2026, 1), None, None)
    assert (a2["variance"], a2["variance_pct"], a2["over_assignment_pct"]) == ("10", None, None)


def test_ytd_runs_to_the_request_quarter_this_year_and_all_four_for_past_years() -> None:
    w = small_world()
    for quarter in (1, 2, 3, 4):
        w.plan(A("a1"), 2026, quarter, "100").plan(A("a1"), 2025, quarter, "10")
        w.order(f"o-{quarter}", "a1", "50", date(2026, quarter * 3, 1))
    cells = w.store.cells_of(A("a1"))
    ytd = plan_report.ytd_figures(cells, 2026, date(2026, 8, 15))
    assert ytd["quarters"] == [1, 2, 3]
    assert (ytd["plan"], ytd["actual"], ytd["variance"], ytd["variance_pct"]) == (
        "300",
        "150",
        "-150",
        "-0.5",
    )
    assert plan_report.ytd_figures(cells, 2025, date(2026, 8, 15))["plan"] == "40"
    assert plan_report.ytd_figures(cells, 2027, date(2026, 8, 15))["quarters"] == []


def test_qoq_against_the_previous_quarter_q1_against_last_q4_and_yoy_against_last_year() -> None:
    w = small_world()
    w.order("o-1", "a1", "100", date(2025, 11, 1))  # 2025 Q4
    w.order("o-2", "a1", "80", date(2025, 2, 1))  # 2025 Q1
    w.order("o-3", "a1", "120", date(2026, 2, 1))  # 2026 Q1
    cells = w.store.cells_of(T("root"))
    q1 = plan_report.year_figures(cells, 2026, date(2026, 12, 2))["quarters"]["1"]
    assert q1["qoq"] == "0.2"
    assert q1["yoy"] == "0.5"
    q2 = plan_report.year_figures(cells, 2026, date(2026, 12, 2))["quarters"]["2"]
    assert q2["qoq"] == "-1" and q2["yoy"] is None


def test_weighted_pipeline_counts_open_opportunities_closing_in_the_quarter() -> None:
    w = small_world()
    w.opportunity("op1", "a1", stage="Sales Presentation", amount="1000", close=date(2026, 3, 1))  # 30 %
    w.opportunity("op2", "a3", stage="Verbal Approval", amount="500", close=date(2026, 2, 1), probability=75)
    w.opportunity("op3", "a3", stage="Job Won", amount="700", close=date(2026, 2, 1))  # won: not open
    w.opportunity("op4", "a2", stage="Formal Approval", amount="900", close=date(2026, 7, 1))  # Q3
    root = w.cell(T("root"), 2026, 1)
    assert root.weighted_pipeline == D("675.00")
    rows = {r["stage"]: r for r in plan_report.funnel(root, CTX.stages)}
    assert rows["Job Won"]["count"] == 1 and rows["Job Won"]["amount"] == "700"
    assert rows["Verbal Approval"]["weighted_amount"] == "375.00"
    assert [r["stage"] for r in plan_report.funnel(root, CTX.stages)][:3] == [
        "Qualifying Needs", "Preparing Value Proposition", "Sales Presentation"]  # fmt: skip
    # When op1 moves to Q3 and is lost
    w.opportunity("op1", "a1", stage="Lost", amount="1000", close=date(2026, 8, 1))
    assert w.cell(T("root"), 2026, 1).weighted_pipeline == D("375.00")
    assert w.cell(T("root"), 2026, 3).weighted_pipeline == D("810.00")


def test_pos_completeness_names_the_expected_distributors_that_have_not_sent() -> None:
    w = small_world()
    w.pos("a1", 2026, 1, "northwind", "10").pos("a1", 2026, 1, "elektro", "5").pos(
        "a3", 2026, 1, "northwind", "1"
    )
    w.pos("a1", 2026, 2, "northwind", "12")
    q2 = plan_report.pos_completeness(w.cell(T("root"), 2026, 2))
    assert q2["expected"] == ["elektro", "northwind"]
    assert q2["missing"] == ["elektro", "northwind"]
    assert q2["accounts_missing"] == {"elektro": 1, "northwind": 1}
    assert q2["complete"] is False
    a1 = plan_report.pos_completeness(w.cell(A("a1"), 2026, 2))
    assert (a1["reported"], a1["missing"]) == (["northwind"], ["elektro"])
    assert plan_report.pos_completeness(w.cell(T("root"), 2026, 1))["complete"] is True


def test_realignment_moves_an_accounts_plan_contribution_and_actuals_to_its_new_territory() -> None:
    # Given a1 in west with a plan and orders
    w = small_world()
    w.plan(A("a1"), 2026, 1, "300").order("o-1", "a1", "120", date(2026, 1, 3)).pos("a1", 2026, 1, "nw", "5")
    assert w.cell(T("west"), 2026, 1).children_plan == D("300")
    # When a1 is moved to east
    w.account("a1", "east", owner="rep-1")
    # Then west loses and east gains its plan contribution and its actuals; the root is unchanged
    assert w.cell(T("west"), 2026, 1) is None
    east = w.cell(T("east"), 2026, 1)
    assert (east.children_plan, east.actual) == (D("300"), D("125"))
    assert w.cell(T("root"), 2026, 1).actual == D("125")
    assert w.store.cells == compute_all(w.store.sources, CTX)


def test_a_territory_moved_under_another_parent_takes_its_subtree_along() -> None:
    w = small_world()
    w.territory("north", "root").order("o-1", "a1", "10", date(2026, 1, 3))
    w.territory("west", "north")
    assert w.cell(T("north"), 2026, 1).actual == D("10")
    assert w.cell(T("root"), 2026, 1).actual == D("10")
    assert w.store.cells == compute_all(w.store.sources, CTX)


def test_one_changed_figure_writes_at_most_depth_plus_one_cells() -> None:
    w = small_world()
    w.order("o-1", "a1", "10", date(2026, 1, 3))
    before = w.store.writes
    w.plan(A("a1"), 2026, 1, "99")  # a1 → west → root: depth 2
    assert w.store.writes - before <= 3
    before = w.store.writes
    w.order("o-2", "a2", "1", date(2026, 2, 3))
    assert w.store.writes - before <= 3


def test_redelivery_changes_nothing() -> None:
    w = small_world()
    w.order("o-1", "a1", "10", date(2026, 1, 3))
    from plan_rollup.rollup import on_figure_changed

    before = dict(w.store.cells)
    writes = w.store.writes
    on_figure_changed(w.store, CTX, A("a1"), [(2026, 1)])
    assert w.store.cells == before and w.store.writes == writes


def test_an_account_totals_record_that_only_stages_a_pos_run_is_not_a_change() -> None:
    from shared.store.plan import change_of, slot_attribute

    keys = {"pk": "ACTUAL#ACCOUNT#a1", "sk": "2026#Q3#USD"}
    base = {**keys, "entity": "ACTUAL", "amount": D("10.00"), "quantity": D("2")}
    slot, other = slot_attribute("northwind"), slot_attribute("contoso")
    staged = {**base, slot: "tok2 4.00 1"}
    # A staging write: the slot set, the amount unmoved or moved by exactly the earlier slot (folded)
    assert change_of(keys, {**keys, "entity": "ACTUAL", slot: "tok1 1.00 1"}, None) is None
    assert change_of(keys, staged, base) is None
    assert (
        change_of(keys, {**staged, "amount": D("11.50"), "quantity": D("3")}, {**base, slot: "tok1 1.50 1"})
        is None
    )
    assert change_of(keys, {**staged, other: "tok9 1 1"}, {**base, other: "tok9 1 1"}) is None
    # Anything else is a change: the slot folded and removed (a one-transaction commit), an amount that
    # is not the earlier slot, two slots moved, an amount on its own
    for new, old in [
        ({**base, "amount": D("11.50")}, {**base, slot: "tok1 1.50 1"}),
        ({**staged, "amount": D("11.00")}, {**base, slot: "tok1 1.50 1"}),
        ({**staged, other: "tok9 1 1"}, base),
        ({**base, "amount": D("12.00")}, base),
        ({**staged, "amount": D("10.50")}, base),
    ]:
        change = change_of(keys, new, old)
        assert change is not None and change.periods == frozenset({(2026, 3)})
