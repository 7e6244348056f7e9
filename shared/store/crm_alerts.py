"""CRM table: alert records (issue 10). One item per alert key: the claim, then what became of it.

Keys (``docs/data-model.md``, section "Alerts"):

- ``pk=ALERT#<key>``, ``sk=ALERT``, ``entity=ALERT``: created by a conditional put (the claim)
  before anything is sent; marked with the SES message id after.
- ``gsi1pk=ALERTS_TO#<recipient>``, ``gsi1sk=<created_at>#<key>``: a recipient's alerts by time
  (``GET /alerts?recipient=``, the digest's count of the day).
- ``gsi2pk=ALERTS#PENDING``, ``gsi2sk=<due_at>#<key>`` (sparse, only while pending or held): the
  alerts a sweep must finish: held ones whose hold ends, claims whose sender died.
- ``gsi3pk=ALERTS#<yyyy-mm-dd>``, ``gsi3sk=<created_at>#<key>``: every alert of a day by time.

Statuses: ``pending`` (claimed, being sent until ``due_at``), ``held`` (quiet hours or digest,
until ``due_at``), ``sent`` (``message_id``), ``digested`` (sent inside ``digest_key``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, Protocol

ALERT_ENTITY = "ALERT"
PENDING_PARTITION = "ALERTS#PENDING"
OPEN_STATUSES = ("pending", "held")


# ------------------------------------------------------------------ keys
def alert_key(key: str) -> tuple[str, str]:
    """(pk, sk) of an alert record. Long keys are shortened by a hash (a key is at most 2 KiB)."""
    if len(key) > 400:
        key = key[:300] + "#" + hashlib.sha256(key.encode()).hexdigest()
    return f"ALERT#{key}", "ALERT"


def alerts_to_key(recipient: str) -> str:
    return f"ALERTS_TO#{recipient.lower()}"


def alerts_day_key(day: str) -> str:
    return f"ALERTS#{day}"


def format_time(value: datetime) -> str:
    """Fixed-width UTC text: stored times compare as strings."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# ------------------------------------------------------------------ the record
@dataclass(frozen=True)
class AlertRecord:
    """One alert as recorded: the claim, the delivery and why (fallback, hold)."""

    key: str
    kind: str
    entity: str
    recipient: str
    created_at: str
    status: str = "pending"
    role: str = ""
    recipient_name: str = ""
    timezone: str = "UTC"
    urgent: bool = False
    claim_token: str = ""
    due_at: str | None = None
    attempts: int = 1
    sent_at: str | None = None
    message_id: str | None = None
    fallback_reason: str | None = None
    hold_reason: str | None = None
    digest_key: str | None = None
    subject: str = ""
    facts: dict[str, Any] = field(default_factory=dict)

    def view(self) -> dict[str, Any]:
        """As ``GET /alerts`` and ``hub alerts list`` show it."""
        data = asdict(self)
        data.pop("claim_token")
        data.pop("facts")
        return data


class AlertStore(Protocol):
    """The alert records' access patterns."""

    def claim_alert(self, record: AlertRecord) -> bool:
        """Create the record unless the key exists (the claim before sending)."""
        ...

    def get_alert(self, key: str) -> AlertRecord | None: ...

    def get_alerts(self, keys: list[str]) -> dict[str, AlertRecord]:
        """The records of those keys that exist (BatchGetItem, 100 keys a call)."""
        ...

    def take_over_alert(self, key: str, seen_token: str, new_token: str, due_at: str, now: str) -> bool:
        """Claim an open record again (its sender died, or its hold ended): only if it still carries
        ``seen_token``, has no message id, and its ``due_at`` has passed."""
        ...

    def hold_alert(self, key: str, token: str, reason: str, due_at: str) -> bool: ...

    def release_alert(self, key: str, token: str, now: str) -> bool:
        """Give a claim up after a failed send, so a retry may take it over at once."""
        ...

    def mark_alert_sent(self, key: str, token: str, message_id: str, sent_at: str) -> bool: ...

    def claim_digest(self, digest: AlertRecord, members: list[tuple[str, str]]) -> list[str] | None:
        """Create the digest's record (None if it exists), then mark each member (key, token)
        ``digested`` into it; the keys marked. (No transaction: the local hub's emulation copies
        every table for each one. A crash in between is finished by ``adopt_into_digest``.)"""
        ...

    def adopt_into_digest(self, key: str, digest_key: str, now: str) -> bool:
        """Mark an open member whose claim has run out ``digested`` into ``digest_key`` (a digest's
        retry after a crash); True when it is, or already was, in that digest."""
        ...

    def alerts_due(self, now: str, limit: int = 500) -> list[AlertRecord]:
        """Open (pending or held) records whose ``due_at`` has passed, oldest first."""
        ...

    def alerts_to(self, recipient: str, since: str, limit: int = 1000) -> list[AlertRecord]:
        """A recipient's alerts created since ``since``, oldest first."""
        ...

    def list_alerts(self, since: str, until: str, limit: int = 1000) -> list[AlertRecord]:
        """Every alert created in [since, until), oldest first (one query per day)."""
        ...


def _days(since: str, until: str) -> Iterator[str]:
    start = datetime.fromisoformat(since.replace("Z", "+00:00")).astimezone(UTC).date()
    end = datetime.fromisoformat(until.replace("Z", "+00:00")).astimezone(UTC).date()
    while start <= end:
        yield start.isoformat()
        start += timedelta(days=1)


# ------------------------------------------------------------------ in memory
class InMemoryAlertStore:
    """The same conditions as the DynamoDB store, on a dict (unit tests)."""

    def __init__(self) -> None:
        self.records: dict[str, AlertRecord] = {}
        self.calls = 0

    def claim_alert(self, record: AlertRecord) -> bool:
        self.calls += 1
        if record.key in self.records:
            return False
        self.records[record.key] = record
        return True

    def get_alert(self, key: str) -> AlertRecord | None:
        self.calls += 1
        return self.records.get(key)

    def get_alerts(self, keys: list[str]) -> dict[str, AlertRecord]:
        self.calls += (len(keys) + 99) // 100
        return {k: self.records[k] for k in keys if k in self.records}

    def _update(self, key: str, token: str, **changes: Any) -> bool:
        self.calls += 1
        record = self.records.get(key)
        if record is None or record.claim_token != token or record.status not in OPEN_STATUSES:
            return False
        self.records[key] = replace(record, **changes)
        return True

    def take_over_alert(self, key: str, seen_token: str, new_token: str, due_at: str, now: str) -> bool:
        record = self.records.get(key)
        if record is None or record.message_id or (record.due_at or "") > now:
            self.calls += 1
            return False
        return self._update(
            key,
            seen_token,
            claim_token=new_token,
            status="pending",
            due_at=due_at,
            attempts=record.attempts + 1,
        )

    def hold_alert(self, key: str, token: str, reason: str, due_at: str) -> bool:
        return self._update(key, token, status="held", hold_reason=reason, due_at=due_at)

    def release_alert(self, key: str, token: str, now: str) -> bool:
        return self._update(key, token, due_at=now)

    def mark_alert_sent(self, key: str, token: str, message_id: str, sent_at: str) -> bool:
        return self._update(key, token, status="sent", message_id=message_id, sent_at=sent_at, due_at=None)

    def claim_digest(self, digest: AlertRecord, members: list[tuple[str, str]]) -> list[str] | None:
        if not self.claim_alert(digest):
            return None
        marked = []
        for key, token in members:
            if self._update(key, token, status="digested", digest_key=digest.key, due_at=None):
                marked.append(key)
        return marked

    def adopt_into_digest(self, key: str, digest_key: str, now: str) -> bool:
        self.calls += 1
        record = self.records.get(key)
        if record is None:
            return False
        if record.status == "digested" and record.digest_key == digest_key:
            return True
        if record.status not in OPEN_STATUSES or record.message_id or (record.due_at or "") > now:
            return False
        self.records[key] = replace(record, status="digested", digest_key=digest_key, due_at=None)
        return True

    def alerts_due(self, now: str, limit: int = 500) -> list[AlertRecord]:
        self.calls += 1
        due = [r for r in self.records.values() if r.status in OPEN_STATUSES and r.due_at and r.due_at <= now]
        return sorted(due, key=lambda r: (r.due_at or "", r.key))[:limit]

    def alerts_to(self, recipient: str, since: str, limit: int = 1000) -> list[AlertRecord]:
        self.calls += 1
        found = [
            r for r in self.records.values() if r.recipient == recipient.lower() and r.created_at >= since
        ]
        return sorted(found, key=lambda r: (r.created_at, r.key))[:limit]

    def list_alerts(self, since: str, until: str, limit: int = 1000) -> list[AlertRecord]:
        self.calls += 1
        found = [r for r in self.records.values() if since <= r.created_at < until]
        return sorted(found, key=lambda r: (r.created_at, r.key))[:limit]


# ------------------------------------------------------------------ DynamoDB
@lru_cache(maxsize=1)
def alert_item_class() -> Any:
    """The pynamodb model of an alert record (defined on first use: the table name comes from settings)."""
    from pynamodb.attributes import BooleanAttribute, NumberAttribute, UnicodeAttribute
    from pynamodb.indexes import AllProjection, GlobalSecondaryIndex

    from shared.tables import CrmItem

    class Gsi2(GlobalSecondaryIndex[Any]):
        class Meta:
            index_name = "gsi2"
            projection = AllProjection()

        gsi2pk = UnicodeAttribute(hash_key=True)
        gsi2sk = UnicodeAttribute(range_key=True)

    class Gsi3(GlobalSecondaryIndex[Any]):
        class Meta:
            index_name = "gsi3"
            projection = AllProjection()

        gsi3pk = UnicodeAttribute(hash_key=True)
        gsi3sk = UnicodeAttribute(range_key=True)

    class AlertItem(CrmItem, discriminator=ALERT_ENTITY):  # type: ignore[misc, valid-type]
        alert_key = UnicodeAttribute()
        kind = UnicodeAttribute()
        entity_ref = UnicodeAttribute()
        recipient = UnicodeAttribute()
        created_at = UnicodeAttribute()
        status = UnicodeAttribute()
        role = UnicodeAttribute(null=True)
        recipient_name = UnicodeAttribute(null=True)
        timezone = UnicodeAttribute(null=True)
        urgent = BooleanAttribute(default=False)
        claim_token = UnicodeAttribute(null=True)
        due_at = UnicodeAttribute(null=True)
        attempts = NumberAttribute(default=1)
        sent_at = UnicodeAttribute(null=True)
        message_id = UnicodeAttribute(null=True)
        fallback_reason = UnicodeAttribute(null=True)
        hold_reason = UnicodeAttribute(null=True)
        digest_key = UnicodeAttribute(null=True)
        subject = UnicodeAttribute(null=True)
        facts_json = UnicodeAttribute(null=True)
        gsi2pk = UnicodeAttribute(null=True)
        gsi2sk = UnicodeAttribute(null=True)
        gsi3pk = UnicodeAttribute(null=True)
        gsi3sk = UnicodeAttribute(null=True)
        by_gsi2 = Gsi2()
        by_gsi3 = Gsi3()

    return AlertItem


def _record_from(item: Any) -> AlertRecord:
    return AlertRecord(
        key=item.alert_key,
        kind=item.kind,
        entity=item.entity_ref,
        recipient=item.recipient,
        created_at=item.created_at,
        status=item.status,
        role=item.role or "",
        recipient_name=item.recipient_name or "",
        timezone=item.timezone or "UTC",
        urgent=bool(item.urgent),
        claim_token=item.claim_token or "",
        due_at=item.due_at,
        attempts=int(item.attempts or 1),
        sent_at=item.sent_at,
        message_id=item.message_id,
        fallback_reason=item.fallback_reason,
        hold_reason=item.hold_reason,
        digest_key=item.digest_key,
        subject=item.subject or "",
        facts=json.loads(item.facts_json) if item.facts_json else {},
    )


class DynamoAlertStore:
    """Alert records in the CRM table (pynamodb)."""

    def __init__(self) -> None:
        self.item = alert_item_class()
        self.calls = 0

    def _new_item(self, record: AlertRecord) -> Any:
        pk, sk = alert_key(record.key)
        return self.item(
            pk, sk,
            alert_key=record.key, kind=record.kind, entity_ref=record.entity, recipient=record.recipient.lower(),
            created_at=record.created_at, status=record.status, role=record.role,
            recipient_name=record.recipient_name or None, timezone=record.timezone, urgent=record.urgent,
            claim_token=record.claim_token, due_at=record.due_at, attempts=record.attempts,
            sent_at=record.sent_at, message_id=record.message_id, fallback_reason=record.fallback_reason,
            hold_reason=record.hold_reason, digest_key=record.digest_key, subject=record.subject[:500],
            facts_json=json.dumps(record.facts, default=str, sort_keys=True) if record.facts else None,
            gsi1pk=alerts_to_key(record.recipient), gsi1sk=f"{record.created_at}#{record.key}",
            gsi2pk=PENDING_PARTITION if record.status in OPEN_STATUSES and record.due_at else None,
            gsi2sk=f"{record.due_at}#{record.key}" if record.status in OPEN_STATUSES and record.due_at else None,
            gsi3pk=alerts_day_key(record.created_at[:10]), gsi3sk=f"{record.created_at}#{record.key}",
        )  # fmt: skip

    def claim_alert(self, record: AlertRecord) -> bool:
        from shared.store.errors import Conflict, translated

        self.calls += 1
        item = self._new_item(record)
        try:
            with translated():
                item.save(condition=self.item.pk.does_not_exist())
        except Conflict:
            return False
        return True

    def get_alert(self, key: str) -> AlertRecord | None:
        from shared.store.errors import translated

        self.calls += 1
        pk, sk = alert_key(key)
        with translated():
            try:
                return _record_from(self.item.get(pk, sk, consistent_read=True))
            except self.item.DoesNotExist:
                return None

    def get_alerts(self, keys: list[str]) -> dict[str, AlertRecord]:
        from shared.store.errors import translated

        found: dict[str, AlertRecord] = {}
        unique = sorted(set(keys))
        for start in range(0, len(unique), 100):
            self.calls += 1
            with translated():
                for item in self.item.batch_get([alert_key(k) for k in unique[start : start + 100]]):
                    record = _record_from(item)
                    found[record.key] = record
        return found

    def _update(self, key: str, condition: Any, actions: list[Any]) -> bool:
        from shared.store.errors import Conflict, translated

        self.calls += 1
        pk, sk = alert_key(key)
        shell = self.item(pk, sk)
        try:
            with translated():
                shell.update(actions=actions, condition=condition)
        except Conflict:
            return False
        return True

    def _open(self, token: str) -> Any:
        i = self.item
        return (i.claim_token == token) & i.status.is_in(*OPEN_STATUSES)

    def take_over_alert(self, key: str, seen_token: str, new_token: str, due_at: str, now: str) -> bool:
        i = self.item
        condition = self._open(seen_token) & i.message_id.does_not_exist() & (i.due_at <= now)
        return self._update(key, condition, [
            i.claim_token.set(new_token), i.status.set("pending"), i.due_at.set(due_at),
            i.attempts.add(1), i.gsi2pk.set(PENDING_PARTITION), i.gsi2sk.set(f"{due_at}#{key}"),
        ])  # fmt: skip

    def hold_alert(self, key: str, token: str, reason: str, due_at: str) -> bool:
        i = self.item
        return self._update(key, self._open(token), [
            i.status.set("held"), i.hold_reason.set(reason), i.due_at.set(due_at),
            i.gsi2pk.set(PENDING_PARTITION), i.gsi2sk.set(f"{due_at}#{key}"),
        ])  # fmt: skip

    def release_alert(self, key: str, token: str, now: str) -> bool:
        i = self.item
        return self._update(key, self._open(token), [i.due_at.set(now), i.gsi2sk.set(f"{now}#{key}")])

    def mark_alert_sent(self, key: str, token: str, message_id: str, sent_at: str) -> bool:
        i = self.item
        return self._update(key, self._open(token), [
            i.status.set("sent"), i.message_id.set(message_id), i.sent_at.set(sent_at),
            i.due_at.remove(), i.gsi2pk.remove(), i.gsi2sk.remove(),
        ])  # fmt: skip

    def _digested(self, digest_key: str) -> list[Any]:
        i = self.item
        return [i.status.set("digested"), i.digest_key.set(digest_key), i.due_at.remove(), i.gsi2pk.remove(),
                i.gsi2sk.remove()]  # fmt: skip

    def claim_digest(self, digest: AlertRecord, members: list[tuple[str, str]]) -> list[str] | None:
        if not self.claim_alert(digest):
            return None
        return [
            key for key, token in members if self._update(key, self._open(token), self._digested(digest.key))
        ]

    def adopt_into_digest(self, key: str, digest_key: str, now: str) -> bool:
        i = self.item
        condition = i.status.is_in(*OPEN_STATUSES) & i.message_id.does_not_exist() & (i.due_at <= now)
        if self._update(key, condition, self._digested(digest_key)):
            return True
        record = self.get_alert(key)
        return record is not None and record.status == "digested" and record.digest_key == digest_key

    def alerts_due(self, now: str, limit: int = 500) -> list[AlertRecord]:
        from shared.store.errors import translated

        self.calls += 1
        with translated():
            found = self.item.by_gsi2.query(PENDING_PARTITION, self.item.gsi2sk <= f"{now}#~", limit=limit)
            return [_record_from(item) for item in found]

    def alerts_to(self, recipient: str, since: str, limit: int = 1000) -> list[AlertRecord]:
        from shared.store.errors import translated

        self.calls += 1
        with translated():
            found = self.item.by_gsi1.query(alerts_to_key(recipient), self.item.gsi1sk >= since, limit=limit)
            return [_record_from(item) for item in found]

    def list_alerts(self, since: str, until: str, limit: int = 1000) -> list[AlertRecord]:
        from shared.store.errors import translated

        found: list[AlertRecord] = []
        with translated():
            for day in _days(since, until):
                self.calls += 1
                condition = self.item.gsi3sk.between(since, until)
                for item in self.item.by_gsi3.query(alerts_day_key(day), condition):
                    if item.created_at < until:
                        found.append(_record_from(item))
                    if len(found) >= limit:
                        return found
        return found
