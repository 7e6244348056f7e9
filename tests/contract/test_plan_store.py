"""The plan store's contract (``shared.store.plan``), the same on memory, moto and DynamoDB Local."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from tests.contract.conftest import StoreBackend
from tests.contract.support import race

T1 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
T2 = datetime(2026, 11, 22, 11, 0, tzinfo=UTC)


def figure(amount: str) -> object:
    from shared.store.plan import PlanFigure

    return PlanFigure("territory", "terr-west", 2026, 4, Decimal(amount))


def test_a_plan_figure_is_written_only_by_a_newer_event(store_backend: StoreBackend) -> None:
    plan = store_backend.store("plan")

    # When the newer event comes first, then an older one, then the newer one again
    newer = plan.put_plan_figure_if_newer(figure("500.00"), occurred_at=T2, event_id="e2", source="crm")
    older = plan.put_plan_figure_if_newer(figure("400.00"), occurred_at=T1, event_id="e1", source="crm")
    again = plan.put_plan_figure_if_newer(figure("500.00"), occurred_at=T2, event_id="e2", source="crm")
    tie = plan.put_plan_figure_if_newer(figure("450.00"), occurred_at=T2, event_id="e3", source="crm")

    # Then only the newer writes count (ties ordered by event id), money exact
    assert (newer, older, again, tie) == ("applied", "stale", "duplicate", "applied")
    assert [f.amount for f in plan.plan_figures_of_year(2026)] == [Decimal("450.00")]


def test_racing_events_for_one_figure_leave_the_newest(store_backend: StoreBackend) -> None:
    plan = store_backend.store("plan")

    # When eight events for one figure, each at its own time, are written at once
    def put(i: int) -> str:
        at = T1.replace(minute=i)
        return str(
            plan.put_plan_figure_if_newer(figure(f"{i}00.00"), occurred_at=at, event_id=f"e{i}", source="crm")
        )

    raced = race(8, put)

    # Then the newest event's amount is stored, whatever the order they landed in
    assert raced.errors == [None] * 8
    assert set(raced.results) <= {"applied", "stale"}
    assert [f.amount for f in plan.plan_figures_of_year(2026)] == [Decimal("700.00")]


def test_racing_actuals_add_up_exactly(store_backend: StoreBackend) -> None:
    from shared.store.plan import ActualDelta

    plan = store_backend.store("plan")

    # When ten writers add 1.10 (quantity 2) to one account-quarter at once
    delta = ActualDelta("acct-1", 2026, 4, "USD", Decimal("1.10"), Decimal(2))
    raced = race(10, lambda i: plan.add_actuals([delta]))

    # Then the total is exact: no write lost, no float drift
    assert raced.errors == [None] * 10
    [actual] = plan.actuals_of_account("acct-1", 2026, 4)
    assert (actual.amount, actual.quantity) == (Decimal("11.00"), Decimal(20))
    assert [a.account_id for a in plan.actuals_of_year(2026)] == ["acct-1"]
