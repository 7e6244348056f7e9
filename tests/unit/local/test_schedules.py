"""The local hub's schedules: rate() at its rate, cron() in its minute, the template's Input as the event."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from hub.local.schedules import Scheduler, cron_due
from hub.local.template import HubTemplate, Schedule


class RecordingRuntime:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def invoke(self, logical_id: str, event: dict[str, Any]) -> Any:
        self.calls.append((logical_id, event))
        return {"ok": True}


def test_a_rate_schedule_runs_once_it_is_due_and_not_before():
    runtime = RecordingRuntime()
    scheduler = Scheduler(
        [Schedule("AlertsFunction", "sweep", "rate(1 hour)", {"schedule": "sweep"})], runtime
    )  # type: ignore[arg-type]
    scheduler.poll()
    assert runtime.calls == []
    scheduler._last["sweep"] -= 3601  # an hour has passed
    scheduler.poll()
    scheduler.poll()
    assert runtime.calls == [("AlertsFunction", {"schedule": "sweep"})]


def test_cron_expressions_fire_in_their_minute_only():
    assert cron_due("cron(0 3 * * ? *)", datetime(2026, 11, 23, 3, 0, tzinfo=UTC))
    assert not cron_due("cron(0 3 * * ? *)", datetime(2026, 11, 23, 3, 1, tzinfo=UTC))
    assert cron_due("cron(*/15 8-17 ? * MON-FRI *)", datetime(2026, 11, 23, 9, 45, tzinfo=UTC))
    assert not cron_due("cron(*/15 8-17 ? * MON-FRI *)", datetime(2026, 11, 23, 18, 0, tzinfo=UTC))


def test_the_templates_schedules_are_read_with_their_inputs():
    schedules = {s.name: s for s in HubTemplate().schedules()}
    assert schedules["alerts-sweep"].seconds == 3600
    assert schedules["plan-nightly"].seconds is None
    assert schedules["plan-nightly"].input == {"schedule": "plan-nightly"}


class FailingRuntime:
    def invoke(self, logical_id: str, event: dict[str, Any]) -> Any:
        raise KeyError("owner")  # a bug in the function, not a missing schedule


def test_tick_tells_an_unknown_schedule_from_a_function_that_failed() -> None:
    from hub.local.api import LocalApi

    api = LocalApi([], FailingRuntime(), "token-1")  # type: ignore[arg-type]
    api.control["tick"] = Scheduler(
        [Schedule("AlertsFunction", "sweep", "rate(1 hour)", None)], api.runtime
    ).tick
    api.server.close()  # its socket: requests are handed to it directly here
    auth = {"authorization": "Bearer token-1"}
    status, _, body = api.handle("POST", "/_hub/tick/nope", auth, b"", "127.0.0.1")
    assert (status, body) == (404, b'{"message": "no tick nope"}')
    status, _, body = api.handle("POST", "/_hub/tick/sweep", auth, b"", "127.0.0.1")
    assert status == 500
    assert json.loads(body) == {"message": "tick sweep failed: KeyError: 'owner'"}
