"""Scheduled sweeps: deals with no next step, stale deals, past-due escalations.

The CRM items these read are written by ``crm_events``; a sweep answers what it found and
sent so the schedule's log says what happened.
"""

from __future__ import annotations

from typing import Any

from shared.observability import logger


def run_sweep(schedule: str) -> dict[str, Any]:
    logger.info("sweep", extra={"schedule": schedule})
    return {"schedule": schedule, "sent": 0}
