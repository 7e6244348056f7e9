"""The inbox: every accepted event, stored before it is applied, kept for replay.

One item per (source, event_id) in the events table: ``EVENT#<source>#<event_id>`` / ``EVENT``
(a redelivery rewrites it). On gsi1 the items are bucketed by the hour they were
received (``INBOX#<yyyy-mm-ddThh>`` / ``<received_at>#<source>#<event_id>``), so a replay since a
time reads only the hours since then, in the order they came. ``expires_at`` (TTL) keeps each one
``inbox_retention_hours`` (at least 72).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.crm_entities import EntityStore, Item, Key, format_time

EVENTS = "events"
MIN_RETENTION_HOURS = 72


def inbox_key(source: str, event_id: str) -> Key:
    return Key(EVENTS, f"EVENT#{source}#{event_id}", "EVENT")


def _hour_bucket(moment: datetime) -> str:
    return "INBOX#" + moment.astimezone(UTC).strftime("%Y-%m-%dT%H")


@dataclass(frozen=True)
class InboxEntry:
    """One stored event, as read back for a replay."""

    source: str
    event_id: str
    received_at: str
    body: dict[str, Any]


def inbox_item(event: Any, *, received_at: datetime, retention_hours: int = 96) -> tuple[Key, Item]:
    """The inbox record of a validated event: its canonical JSON, when it came, when it may go."""
    hours = max(retention_hours, MIN_RETENTION_HOURS)
    received = format_time(received_at)
    return inbox_key(event.source, event.event_id), {
        "entity": "INBOX_EVENT",
        "event_id": event.event_id,
        "source": event.source,
        "type": event.type,
        "occurred_at": format_time(event.occurred_at),
        "received_at": received,
        "body": event.model_dump_json(),
        "expires_at": int((received_at + timedelta(hours=hours)).timestamp()),
        "gsi1pk": _hour_bucket(received_at),
        "gsi1sk": f"{received}#{event.source}#{event.event_id}",
    }


def store_events(
    store: EntityStore, events: list[Any], *, received_at: datetime, retention_hours: int = 96
) -> None:
    """Keep validated events in the inbox (batched writes). A redelivery is written again, which
    moves its retention on; whether it had an effect is the apply's to say, not the inbox's."""
    store.put_many([inbox_item(e, received_at=received_at, retention_hours=retention_hours) for e in events])


def read_inbox(
    store: EntityStore, since: datetime, *, until: datetime | None = None, source: str | None = None
) -> Iterator[InboxEntry]:
    """The stored events received since ``since`` (optionally of one source), oldest first."""
    end = (until or datetime.now(UTC)).astimezone(UTC)
    hour = since.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    start = format_time(since)
    while hour <= end:
        for item in store.query_index(EVENTS, _hour_bucket(hour), start):
            if source is not None and item.get("source") != source:
                continue
            if item.get("entity") != "INBOX_EVENT":
                continue
            yield InboxEntry(item["source"], item["event_id"], item["received_at"], json.loads(item["body"]))
        hour += timedelta(hours=1)
