"""The events table: the inbox of every accepted event from external CRMs, kept for replay.

One item per (source, event_id): ``EVENT#<source>#<event_id>`` / ``EVENT``, written once, on condition
that it does not exist: a redelivery of the same event (the same canonical body) is the same event and
changes nothing; the same id with a different body is a ``Kept.CONFLICT``, refused, and what was kept
stays as it was (a replay restores what happened). On gsi1 the items are bucketed by the hour they were received (``INBOX#<yyyy-mm-ddThh>`` /
``<received_at>#<source>#<event_id>``), so a replay since a time reads only the hours since then,
in the order they came. ``expires_at`` (TTL) keeps each one at least ``MIN_RETENTION_HOURS``.

``EventsStore`` is the protocol; ``DynamoEventsStore`` (pynamodb) and ``InMemoryEventsStore`` serve it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from pynamodb.attributes import DiscriminatorAttribute, TTLAttribute, UnicodeAttribute
from pynamodb.models import Model

from shared.settings import get_settings
from shared.store.common import format_time
from shared.store.errors import Conflict, translated
from shared.store.items import BoundedRetry, Gsi1, batch_get_raw, refuse_oversized

_settings = get_settings()
MIN_RETENTION_HOURS = 72
TRANSACTION_ITEMS = 100  # DynamoDB's limit per TransactWriteItems
MAX_TRANSACTION_TRIES = 4


# ====================================================================== keys
def inbox_key(source: str, event_id: str) -> tuple[str, str]:
    return f"EVENT#{source}#{event_id}", "EVENT"


def inbox_hour_index(moment: datetime) -> str:
    """The gsi1 bucket of the hour an event was received."""
    return "INBOX#" + moment.astimezone(UTC).strftime("%Y-%m-%dT%H")


# ====================================================================== item models
class EventsItem(Model):
    class Meta:
        table_name = _settings.events_table
        region = _settings.region

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    gsi1pk = UnicodeAttribute(null=True)
    gsi1sk = UnicodeAttribute(null=True)
    expires_at = TTLAttribute(null=True)
    entity = DiscriminatorAttribute(attr_name="entity")
    by_gsi1 = Gsi1()


class InboxEventItem(EventsItem, discriminator="INBOX_EVENT"):
    """One accepted event: its canonical JSON (``body``), when it came, when it may go (TTL)."""

    event_id = UnicodeAttribute()
    source = UnicodeAttribute()
    type = UnicodeAttribute()
    occurred_at = UnicodeAttribute()  # fixed-width UTC text
    received_at = UnicodeAttribute()  # fixed-width UTC text
    body = UnicodeAttribute()


# ====================================================================== records
@dataclass(frozen=True)
class InboxEvent:
    """A validated event to keep: who sent it, its id and type, when it happened, its JSON."""

    source: str
    event_id: str
    type: str
    occurred_at: datetime
    body_json: str


@dataclass(frozen=True)
class InboxEntry:
    """One stored event, as read back for a replay."""

    source: str
    event_id: str
    received_at: str
    body: dict[str, Any]


class Kept(StrEnum):
    """What keeping one event in the inbox did."""

    NEW = "new"  # kept now
    REPEAT = "repeat"  # the same event (same id, same body) was kept before: nothing written
    CONFLICT = "conflict"  # the id was kept before with a different body: refused, nothing overwritten


class EventsStore(Protocol):
    def keep_events(
        self, events: Iterable[InboxEvent], *, received_at: datetime, retention_hours: int = 96
    ) -> list[Kept]:
        """Keep validated events in the inbox, each written once (a conditional put); what happened to
        each, in order. Whether a repeat had an effect is the apply's to say, not the inbox's."""
        ...

    def read_inbox(
        self, since: datetime, *, until: datetime | None = None, source: str | None = None
    ) -> Iterator[InboxEntry]:
        """The events received since ``since`` (optionally of one source), oldest first."""
        ...


def _item(event: InboxEvent, received_at: datetime, retention_hours: int) -> InboxEventItem:
    hours = max(retention_hours, MIN_RETENTION_HOURS)
    received = format_time(received_at)
    return InboxEventItem(
        *inbox_key(event.source, event.event_id),
        event_id=event.event_id,
        source=event.source,
        type=event.type,
        occurred_at=format_time(event.occurred_at),
        received_at=received,
        body=event.body_json,
        expires_at=received_at + timedelta(hours=hours),
        gsi1pk=inbox_hour_index(received_at),
        gsi1sk=f"{received}#{event.source}#{event.event_id}",
    )


def _hours(since: datetime, until: datetime | None) -> Iterator[datetime]:
    end = (until or datetime.now(UTC)).astimezone(UTC)
    hour = since.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    while hour <= end:
        yield hour
        hour += timedelta(hours=1)


def _entry(item: InboxEventItem) -> InboxEntry:
    return InboxEntry(item.source, item.event_id, item.received_at, json.loads(item.body))


def _stored_bodies(keys: list[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """The bodies kept under these keys (consistent BatchGetItem, 100 keys a call; unprocessed keys retried
    with backoff a bounded number of times, then ``Throttled``)."""
    found: dict[tuple[str, str], str] = {}
    for raw in batch_get_raw(InboxEventItem.Meta.table_name, keys, BoundedRetry()):
        item = InboxEventItem.from_raw_data(raw)
        found[(str(item.pk), str(item.sk))] = str(item.body)
    return found


def _kept_against(stored_body: str | None, event: InboxEvent) -> Kept:
    return Kept.REPEAT if stored_body == event.body_json else Kept.CONFLICT


class DynamoEventsStore:
    """``EventsStore`` on the events table (pynamodb)."""

    def keep_events(
        self, events: Iterable[InboxEvent], *, received_at: datetime, retention_hours: int = 96
    ) -> list[Kept]:
        """One consistent BatchGetItem per 100 events for what is kept already, then the new ones in
        transactions of up to 100 puts, each on condition that its item does not exist. A put refused
        (another request kept that id meanwhile) is read and compared; the others go again."""
        listed = list(events)
        kept: list[Kept | None] = [None] * len(listed)
        first: dict[tuple[str, str], int] = {}
        for index, event in enumerate(listed):
            key = inbox_key(event.source, event.event_id)
            if key in first:  # the same id twice in one batch: the first one is kept
                kept[index] = _kept_against(listed[first[key]].body_json, event)
            else:
                first[key] = index
        stored = _stored_bodies(list(first))
        new: list[int] = []
        for key, index in first.items():
            if key in stored:
                kept[index] = _kept_against(stored[key], listed[index])
            else:
                new.append(index)
        for start in range(0, len(new), TRANSACTION_ITEMS):
            chunk = new[start : start + TRANSACTION_ITEMS]
            for index, keeping in self._put_new([listed[i] for i in chunk], received_at, retention_hours):
                kept[chunk[index]] = keeping
        return [k if k is not None else Kept.NEW for k in kept]

    def _put_new(
        self, events: list[InboxEvent], received_at: datetime, retention_hours: int
    ) -> Iterator[tuple[int, Kept]]:
        """Put events not kept before in one transaction; what happened to each (by position)."""
        from pynamodb.exceptions import TransactWriteError
        from pynamodb.transactions import TransactWrite

        pending = list(range(len(events)))
        for _ in range(MAX_TRANSACTION_TRIES):
            if not pending:
                return
            try:
                connection = EventsItem._get_connection().connection
                with translated(), TransactWrite(connection=connection) as transaction:
                    for index in pending:
                        item = _item(events[index], received_at, retention_hours)
                        transaction.save(item, condition=InboxEventItem.pk.does_not_exist())
            except Conflict as exc:
                cause = exc.__cause__
                reasons = cause.cancellation_reasons if isinstance(cause, TransactWriteError) else None
                codes = [reason.code if reason else None for reason in (reasons or [])]
                taken = [pending[i] for i, code in enumerate(codes) if code == "ConditionalCheckFailed"]
                for index in taken:  # kept meanwhile by another request: the same event, or not
                    yield index, self._keep(events[index], received_at, retention_hours)
                pending = [index for index in pending if index not in taken]
                continue  # the rest again (none taken: a transaction conflict)
            for index in pending:
                yield index, Kept.NEW
            return
        for index in pending:  # still contended: one conditional put each
            yield index, self._keep(events[index], received_at, retention_hours)

    @staticmethod
    def _keep(event: InboxEvent, received_at: datetime, retention_hours: int) -> Kept:
        item = _item(event, received_at, retention_hours)
        try:
            with translated():
                item.save(condition=InboxEventItem.pk.does_not_exist())
        except Conflict:
            with translated():
                stored = InboxEventItem.get(*inbox_key(event.source, event.event_id), consistent_read=True)
            return _kept_against(stored.body, event)
        return Kept.NEW

    def read_inbox(
        self, since: datetime, *, until: datetime | None = None, source: str | None = None
    ) -> Iterator[InboxEntry]:
        start = format_time(since)
        for hour in _hours(since, until):
            with translated():
                items = list(EventsItem.by_gsi1.query(inbox_hour_index(hour), EventsItem.gsi1sk >= start))
            for item in items:
                if isinstance(item, InboxEventItem) and (source is None or item.source == source):
                    yield _entry(item)


class InMemoryEventsStore:
    """``EventsStore`` in a dict (unit tests)."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], InboxEventItem] = {}
        self._lock = threading.Lock()

    def keep_events(
        self, events: Iterable[InboxEvent], *, received_at: datetime, retention_hours: int = 96
    ) -> list[Kept]:
        kept: list[Kept] = []
        with self._lock:
            for event in events:
                item = _item(event, received_at, retention_hours)
                key = (str(item.pk), str(item.sk))
                stored = self.items.get(key)
                if stored is not None:
                    kept.append(_kept_against(stored.body, event))
                    continue
                refuse_oversized(item.serialize())
                self.items[key] = item
                kept.append(Kept.NEW)
        return kept

    def read_inbox(
        self, since: datetime, *, until: datetime | None = None, source: str | None = None
    ) -> Iterator[InboxEntry]:
        start = format_time(since)
        with self._lock:
            items = list(self.items.values())
        for hour in _hours(since, until):
            bucket = inbox_hour_index(hour)
            found = [i for i in items if i.gsi1pk == bucket and str(i.gsi1sk) >= start]
            for item in sorted(found, key=lambda i: str(i.gsi1sk)):
                if source is None or item.source == source:
                    yield _entry(item)
