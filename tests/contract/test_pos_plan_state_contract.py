"""The POS, plan and state stores' contract: the same behaviour in memory, on moto and on DynamoDB Local."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, NamedTuple

import pytest

from shared.store.plan import ActualDelta, PlanFigure
from tests.contract.conftest import StoreBackend

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


class Line(NamedTuple):
    row: int
    invoice_number: str
    line: str
    invoice_date: str
    period: str
    part_number: str
    quantity: Decimal
    unit_price: Decimal | None
    extended_amount: Decimal
    currency: str
    end_customer: str
    account: str
    country: str


class Stock(NamedTuple):
    row: int
    part_number: str
    as_of_date: str
    on_hand: Decimal
    on_order: Decimal | None


def line(row: int, invoice: str, number: str, amount: str, account: str = "acc-1", part: str = "P1") -> Line:
    return Line(row, invoice, number, "2026-10-01", "2026-Q4", part, Decimal(2), None, Decimal(amount), "USD",
                "Acme", account, "US")  # fmt: skip


@pytest.fixture
def stores(store_backend: StoreBackend) -> dict[str, Any]:
    plan = store_backend.store("plan")
    pos = store_backend.store("pos") if store_backend.is_dynamo else store_backend.store("pos", plan=plan)
    return {"pos": pos, "plan": plan, "state": store_backend.store("state")}


# ------------------------------------------------------------------ state
def test_rotation_turn_is_a_compare_and_set(stores: dict[str, Any]) -> None:
    state = stores["state"]
    assert state.current_turn("p") == 0
    assert state.advance("p", 0, 1)
    assert not state.advance("p", 0, 1)
    assert state.advance("p", 1, 3) and state.current_turn("p") == 3


def test_rate_window_counts_then_refuses_and_a_new_window_starts_afresh(stores: dict[str, Any]) -> None:
    state = stores["state"]
    assert [state.allow("ip#1", limit=2, window_seconds=60, now=NOW) for _ in range(3)] == [True, True, False]
    assert state.allow("ip#1", limit=2, window_seconds=60, now=NOW + timedelta(seconds=60))


def test_config_status_and_backfill_position_are_kept_and_forgotten(stores: dict[str, Any]) -> None:
    state = stores["state"]
    assert state.config_status("routing.yaml") is None
    status = {"status": "refused", "errors": [{"field": "rules", "message": "bad"}]}
    state.put_config_status("routing.yaml", status)
    assert state.config_status("routing.yaml") == status
    assert state.backfill_position("list-1") is None
    state.save_backfill_position("list-1", '{"pk": "LEAD#1"}')
    assert state.backfill_position("list-1") == '{"pk": "LEAD#1"}'
    state.save_backfill_position("list-1", None)
    assert state.backfill_position("list-1") is None


# ------------------------------------------------------------------ plan
def test_a_plan_figure_is_written_only_by_a_newer_event(stores: dict[str, Any]) -> None:
    plan = stores["plan"]
    figure = PlanFigure("account", "acc-1", 2026, 3, Decimal("1250.50"))
    put = plan.put_plan_figure_if_newer
    assert put(figure, occurred_at=NOW, event_id="e2", source="crm") == "applied"
    assert put(figure, occurred_at=NOW, event_id="e2", source="crm") == "duplicate"
    older = PlanFigure("account", "acc-1", 2026, 3, Decimal(1))
    assert put(older, occurred_at=NOW, event_id="e1", source="crm") == "stale"
    assert put(older, occurred_at=NOW - timedelta(days=1), event_id="e9", source="crm") == "stale"
    newer = PlanFigure("account", "acc-1", 2026, 3, Decimal("99.10"))
    assert put(newer, occurred_at=NOW, event_id="e3", source="crm") == "applied"
    put(PlanFigure("territory", "T1", 2026, 4, Decimal(5)), occurred_at=NOW, event_id="e4", source="crm")
    put(PlanFigure("territory", "T1", 2027, 1, Decimal(7)), occurred_at=NOW, event_id="e5", source="crm")
    assert plan.plan_figures_of_year(2026) == [newer, PlanFigure("territory", "T1", 2026, 4, Decimal(5))]


def test_actuals_add_up_per_account_quarter_currency_with_breakdowns(stores: dict[str, Any]) -> None:
    plan = stores["plan"]
    plan.add_actuals([
        ActualDelta("acc-1", 2026, 4, "USD", Decimal("10.10"), Decimal(3)),
        ActualDelta("acc-1", 2026, 4, "USD", Decimal("-0.10"), Decimal(-1)),
        ActualDelta("acc-1", 2026, 4, "USD", Decimal("4.00"), Decimal(1), "DIST#northwind"),
        ActualDelta("acc-1", 2026, 4, "USD", Decimal("6.00"), Decimal(1), "PART#LM358"),
        ActualDelta("acc-1", 2026, 3, "EUR", Decimal("1.00"), Decimal(1)),
        ActualDelta("acc-2", 2026, 4, "USD", Decimal("2.00"), Decimal(1)),
    ])  # fmt: skip
    q4 = plan.actuals_of_account("acc-1", 2026, 4)
    assert [(a.currency, a.amount, a.quantity) for a in q4] == [("USD", Decimal("10.00"), Decimal(2))]
    assert len(plan.actuals_of_account("acc-1", 2026)) == 2
    assert sorted((a.account_id, a.quarter) for a in plan.actuals_of_year(2026)) == [
        ("acc-1", 3), ("acc-1", 4), ("acc-2", 4)]  # fmt: skip
    breakdown = plan.actual_breakdown("acc-1", 2026, 4, "USD")
    assert sorted((b.dimension, b.value, b.amount) for b in breakdown) == [
        ("distributor", "northwind", Decimal("4.00")), ("part", "LM358", Decimal("6.00"))]  # fmt: skip


# ------------------------------------------------------------------ POS
def test_a_run_is_created_once_and_moved_on_only_from_the_expected_slice(stores: dict[str, Any]) -> None:
    from shared.store.pos import RunRecord

    pos = stores["pos"]
    run = RunRecord("pos/nw/a.csv", "v1", "nw", "sell_through", started_at="2026-11-22T10:00:00.000000Z")
    assert pos.create_run(run) is not None and pos.create_run(run) is None
    run.slice, run.status, run.rejected = 1, "done", 2
    run.reject_sample = [{"row": 4, "reason": "not a number"}]
    assert pos.save_run(run, expected_slice=0)
    assert not pos.save_run(run, expected_slice=1)  # done: nobody moves it on
    stored = pos.get_run("pos/nw/a.csv", "v1")
    assert (stored.status, stored.rejected, stored.reject_sample) == (
        "done",
        2,
        [{"row": 4, "reason": "not a number"}],
    )
    assert [r.version for r in pos.runs_of_key("pos/nw/a.csv")] == ["v1"]
    assert [r.key for r in pos.runs_of_distributor("nw")] == ["pos/nw/a.csv"]
    assert pos.get_run("pos/nw/a.csv", "v2") is None


def test_the_ledger_counts_once_restates_by_difference_and_catches_repeats(stores: dict[str, Any]) -> None:
    from shared.store.pos import unmatched_account

    pos, plan = stores["pos"], stores["plan"]
    first = [line(1, "N-1", "1", "12.00"), line(2, "N-1", "2", "1.20"),
             line(3, "N-2", "1", "-1.00", unmatched_account("initech"))]  # fmt: skip
    outcome = pos.apply_lines("nw", "a.csv@v1", first)
    assert (outcome.applied, outcome.restated, outcome.already) == (3, 0, 0)
    again = pos.apply_lines("nw", "a.csv@v1", [*first, line(9, "N-1", "1", "12.00")])
    assert (again.applied, again.already, [(r.line.row, r.earlier_row) for r in again.repeats]) == (
        0,
        3,
        [(9, 1)],
    )
    restated = pos.apply_lines("nw", "b.csv@v1", [line(1, "N-1", "2", "2.40", "acc-2")])
    assert (restated.applied, restated.restated) == (1, 1)
    totals = {(a.account_id, a.amount) for a in plan.actuals_of_year(2026)}
    assert totals == {("acc-1", Decimal("12.00")), ("acc-2", Decimal("2.40"))}
    by_part = plan.actual_breakdown("acc-1", 2026, 4, "USD")
    assert {(b.dimension, b.value, b.amount) for b in by_part} == {
        ("distributor", "nw", Decimal("12.00")), ("part", "P1", Decimal("12.00"))}  # fmt: skip
    [unmatched] = pos.unmatched_customers()
    assert (unmatched.normalised_name, unmatched.amounts, unmatched.line_count) == (
        "initech", {"USD": Decimal("-1.00")}, 1)  # fmt: skip
    assert (unmatched.end_customer, unmatched.distributors) == ("Acme", ["nw"])


def test_a_group_too_big_for_one_transaction_is_split_and_stays_exact(stores: dict[str, Any]) -> None:
    pos, plan = stores["pos"], stores["plan"]
    pos.apply_lines("nw", "a@1", [line(n, "B-1", str(n), "1.00", part=f"OLD{n}") for n in range(40)])
    pos.apply_lines("nw", "b@1", [line(n, "B-1", str(n), "2.00", part=f"NEW{n}") for n in range(40)])
    [total] = plan.actuals_of_account("acc-1", 2026, 4)
    assert total.amount == Decimal("80.00")
    parts = {
        b.value: b.amount for b in plan.actual_breakdown("acc-1", 2026, 4, "USD") if b.dimension == "part"
    }
    assert parts["OLD7"] == Decimal("0.00") and parts["NEW7"] == Decimal("2.00")


def test_inventory_keeps_the_latest_snapshot_per_part(stores: dict[str, Any]) -> None:
    pos = stores["pos"]
    assert pos.put_inventory(
        "nw", "w46@1", [Stock(1, "LM358", "2026-11-13", Decimal(1500), Decimal(200))]
    ) == (1, 0)
    assert pos.put_inventory("nw", "w45@1", [Stock(1, "LM358", "2026-11-06", Decimal(900), None),
                                             Stock(2, "BC847", "2026-11-06", Decimal(10), None)]) == (1, 1)  # fmt: skip
    parts = pos.inventory_of("nw")
    assert [(p.part_number, p.as_of_date, p.on_hand) for p in parts] == [
        ("BC847", "2026-11-06", Decimal(10)), ("LM358", "2026-11-13", Decimal(1500))]  # fmt: skip
