"""Builders for event bodies and signed requests, shared by the events tests."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.signing import sign

SOURCE = "crm-x"
SECRET = "whsec_unit_secret"
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def at(minutes: int) -> str:
    """An ISO time ``minutes`` after 10:00 on the test day."""
    return (
        (datetime(2026, 11, 22, 10, 0, tzinfo=UTC) + timedelta(minutes=minutes))
        .isoformat()
        .replace("+00:00", "Z")
    )


def event(
    type_: str, data: dict[str, Any], event_id: str, minutes: int = 0, source: str = SOURCE
) -> dict[str, Any]:
    return {"event_id": event_id, "type": type_, "occurred_at": at(minutes), "source": source, "data": data}


def opportunity(event_id: str, minutes: int, stage: str, **data: Any) -> dict[str, Any]:
    fields = {
        "id": "opp-1",
        "account_id": "acc-1",
        "name": "Managed Services",
        "owner": "rep-1",
        "stage": stage,
    }
    return event("opportunity.upserted", {**fields, **data}, event_id, minutes)


def batch(*events: dict[str, Any]) -> bytes:
    return json.dumps({"events": list(events)}).encode()


def signed_headers(
    body: bytes, secret: str = SECRET, t: datetime = NOW, source: str | None = SOURCE
) -> dict[str, str]:
    headers = {"X-Hub-Signature": sign(body, secret, int(t.timestamp()))}
    if source is not None:
        headers["X-Hub-Source"] = source
    return headers
