"""Schedules: ``rate(...)`` runs at its rate, ``cron(...)`` when its minute comes (UTC)."""

from __future__ import annotations

import time
import traceback
from datetime import UTC, datetime
from typing import Any

from hub.local.runtime import FunctionRuntime
from hub.local.template import Schedule


def cron_due(expression: str, now: datetime) -> bool:
    """Whether an EventBridge ``cron(min hour dom month dow year)`` fires in ``now``'s minute."""
    fields = expression.strip()[5:-1].split()
    minute, hour, dom, month = fields[:4]
    values = (now.minute, now.hour, now.day, now.month)

    def hit(field: str, value: int) -> bool:
        if field in ("*", "?"):
            return True
        for part in field.split(","):
            if "/" in part:
                start, step = part.split("/")
                base = 0 if start in ("*", "") else int(start)
                if value >= base and (value - base) % int(step) == 0:
                    return True
            elif "-" in part:
                low, high = part.split("-")
                if int(low) <= value <= int(high):
                    return True
            elif part.isdigit() and int(part) == value:
                return True
        return False

    return all(hit(f, v) for f, v in zip((minute, hour, dom, month), values, strict=True))


class UnknownSchedule(LookupError):
    """``tick`` of a name the template gives no schedule (not a ``KeyError``: one the function raised is its own)."""


class Scheduler:
    def __init__(self, schedules: list[Schedule], runtime: FunctionRuntime) -> None:
        self.schedules = {s.name: s for s in schedules}
        self.runtime = runtime
        self._last: dict[str, float] = {name: time.monotonic() for name in self.schedules}
        self._last_minute: str = ""

    def tick(self, name: str) -> Any:
        """Run schedule ``name`` now, with the event the template gives it."""
        schedule = self.schedules.get(name)
        if schedule is None:
            raise UnknownSchedule(name)
        # EventBridge sends a target's constant Input as it is, else the scheduled event.
        event = schedule.input or {
            "source": "aws.events",
            "detail-type": "Scheduled Event",
            "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        return self.runtime.invoke(schedule.function, event)

    def poll(self) -> int:
        """Run what is due now (the local hub calls this about once a second)."""
        now = datetime.now(UTC)
        minute = now.strftime("%Y%m%d%H%M")
        for name, schedule in self.schedules.items():
            try:
                every = schedule.seconds
                if every is not None and time.monotonic() - self._last[name] >= every:
                    self._last[name] = time.monotonic()
                    self.tick(name)
                elif every is None and minute != self._last_minute and cron_due(schedule.expression, now):
                    self.tick(name)
            except Exception:
                traceback.print_exc()
        self._last_minute = minute
        return 0
