"""The events inbox store's contract (``shared.store.events``), the same on memory, moto and DynamoDB Local."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.store.errors import StoreError, Throttled
from tests.contract.conftest import StoreBackend
from tests.contract.support import ABOUT_100_KB, OVER_400_KB, race

RECEIVED = datetime(2026, 11, 22, 10, 15, tzinfo=UTC)


def an_event(event_id: str, source: str = "crm-x", **data: Any) -> Any:
    from shared.store.events import InboxEvent

    body = {"event_id": event_id, "type": "rep.upserted", "source": source, "data": data}
    return InboxEvent(source, event_id, "rep.upserted", RECEIVED - timedelta(minutes=5), json.dumps(body))


def test_an_event_is_kept_once_and_read_back_by_the_hour_it_came(store_backend: StoreBackend) -> None:
    events = store_backend.store("events")

    # When an event is kept, redelivered as sent, its id reused with another body, and another source's
    # event comes an hour later
    from shared.store.events import Kept

    first = events.keep_events([an_event("e1", name="first")], received_at=RECEIVED)
    repeat = events.keep_events([an_event("e1", name="first")], received_at=RECEIVED + timedelta(seconds=2))
    reused = events.keep_events([an_event("e1", name="again")], received_at=RECEIVED + timedelta(seconds=5))
    events.keep_events([an_event("e2", source="crm-y")], received_at=RECEIVED + timedelta(hours=1))

    # Then one item per (source, event id): a repeat writes nothing, a reused id is refused and the first
    # body stays (issue 15: the inbox never overwrites); read in the order received
    assert (first, repeat, reused) == ([Kept.NEW], [Kept.REPEAT], [Kept.CONFLICT])
    until = RECEIVED + timedelta(hours=2)
    entries = list(events.read_inbox(RECEIVED - timedelta(hours=1), until=until))
    assert [(e.source, e.event_id) for e in entries] == [("crm-x", "e1"), ("crm-y", "e2")]
    assert entries[0].body["data"] == {"name": "first"}
    only_y = list(events.read_inbox(RECEIVED - timedelta(hours=1), until=until, source="crm-y"))
    assert [e.event_id for e in only_y] == ["e2"]


def test_racing_batches_keep_every_event(store_backend: StoreBackend) -> None:
    events = store_backend.store("events")

    # When eight requests keep 30 events each at once (batched writes)
    raced = race(
        8, lambda i: events.keep_events([an_event(f"e{i}-{n}") for n in range(30)], received_at=RECEIVED)
    )

    # Then all 240 are kept
    assert raced.errors == [None] * 8
    entries = list(events.read_inbox(RECEIVED, until=RECEIVED))
    assert len(entries) == 240
    assert len({e.event_id for e in entries}) == 240


def test_an_hour_of_events_beyond_one_page_is_read_whole(store_backend: StoreBackend) -> None:
    events = store_backend.store("events")

    # Given twelve events of about 100 KB each received in one hour (over 1 MB on one index key)
    batch = [an_event(f"e{n:02d}", note=ABOUT_100_KB) for n in range(12)]
    events.keep_events(batch, received_at=RECEIVED)

    # When the hour is read
    entries = list(events.read_inbox(RECEIVED, until=RECEIVED))

    # Then every event comes back, whole
    assert sorted(e.event_id for e in entries) == [f"e{n:02d}" for n in range(12)]
    assert all(e.body["data"]["note"] == ABOUT_100_KB for e in entries)


def test_an_event_over_400_kb_is_refused(store_backend: StoreBackend) -> None:
    events = store_backend.store("events")

    # When an event too big for one item is kept
    # Then it is refused as a StoreError (not a crash, not a retryable Throttled)
    with pytest.raises(StoreError) as refused:
        events.keep_events([an_event("big", note=OVER_400_KB)], received_at=RECEIVED)
    assert not isinstance(refused.value, Throttled)
    assert list(events.read_inbox(RECEIVED, until=RECEIVED)) == []
