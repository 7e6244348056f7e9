"""Delivering alerts exactly once: claim, decide (now, held, digest), send, mark.

1. Each alert's record is **claimed** with a conditional put (``pending``, leased until ``due_at``)
   before anything is sent. A key seen before is not sent again, unless its record has no message
   id and its lease has run out (the sender died between the claim and the send): then it is taken
   over, conditionally on the claim token it was seen with, so only one retry sends it.
2. **Urgent** kinds go at once. Other mail waits through the recipient's **quiet hours** (held until
   they end) and, past the day's limit, goes in one **digest** grouped by kind.
3. The SES message id is **marked** on the record after sending. A failed send gives the claim up,
   so a retry takes it over at once.

Held alerts and claims whose sender died are finished by ``release_due`` (each sweep calls it).
"""

from __future__ import annotations

import hashlib
import time as clock
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from alerts.model import Alert
from alerts.recipients import Resolver
from alerts.render import render_alert, render_digest
from shared.config_schemas.alerts import AlertsConfig
from shared.observability import logger
from shared.store.common import format_time
from shared.store.crm import AlertRecord, AlertStore
from shared.store.errors import Throttled

MARK_TRIES = 6  # a sent alert's mark outlasts a busy table: a lost mark would let a retry send it again

DIGEST_KIND = "digest"
MAX_DIGEST_MEMBERS = 200  # more than this in one batch makes several digests


class Mailer(Protocol):
    def send(self, to: str, subject: str, text: str, html: str) -> str:
        """Send one email; SES's message id."""
        ...


class AlertInProgress(Exception):
    """Another invocation holds a live claim on this alert: retry later (it may die)."""


@dataclass
class Summary:
    counts: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)

    def add(self, other: Summary) -> None:
        self.counts.update(other.counts)
        self.failures.extend(other.failures)

    def as_dict(self) -> dict[str, object]:
        return {**dict(sorted(self.counts.items())), "failed": len(self.failures)}


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError):
        return ZoneInfo("UTC")


def _at(local_day: datetime, moment: time, zone: ZoneInfo) -> datetime:
    return datetime.combine(local_day.date(), moment, zone)


class Deliverer:
    def __init__(self, store: AlertStore, resolver: Resolver, mailer: Mailer, config: AlertsConfig,
                 now: datetime, *, lease: timedelta = timedelta(minutes=2),
                 new_token: Callable[[], str] = lambda: uuid.uuid4().hex) -> None:  # fmt: skip
        self.store = store
        self.resolver = resolver
        self.mailer = mailer
        self.config = config
        self.now = now
        self.lease = lease
        self.new_token = new_token
        self._today_counts: dict[str, int] = {}

    @property
    def _now(self) -> str:
        return format_time(self.now)

    @property
    def _lease_end(self) -> str:
        return format_time(self.now + self.lease)

    # ------------------------------------------------------------------ claims
    def _claim(
        self, alert: Alert, summary: Summary, *, strict: bool, known: AlertRecord | None
    ) -> AlertRecord | None:
        if known is not None:  # seen before: no new claim, maybe a take-over
            return self._retake(known, summary, strict=strict, released=False)
        recipient = self.resolver.resolve(alert.target)
        if recipient.fallback_reason:
            logger.info("alert falls back", extra={"kind": alert.kind, "reason": recipient.fallback_reason})
        facts = self.resolver.named(alert.facts)  # kept on the record: a held alert is sent with the names
        rendered = render_alert(alert.kind, facts, recipient.name, recipient.fallback_reason)
        record = AlertRecord(
            key=alert.key, kind=alert.kind, entity=alert.entity, recipient=recipient.email.lower(),
            created_at=self._now, role=alert.target.role, recipient_name=recipient.name,
            timezone=recipient.timezone, urgent=self.config.is_urgent(alert.kind), claim_token=self.new_token(),
            due_at=self._lease_end, fallback_reason=recipient.fallback_reason, subject=rendered.subject,
            facts=facts,
        )  # fmt: skip
        if self.store.claim_alert(record):
            return record
        existing = self.store.get_alert(alert.key)
        if existing is None:  # removed in between: leave it to a retry
            summary.counts["lost_race"] += 1
            return None
        return self._retake(existing, summary, strict=strict, released=False)

    def _retake(
        self, existing: AlertRecord, summary: Summary, *, strict: bool, released: bool
    ) -> AlertRecord | None:
        if existing.message_id or existing.status not in ("pending", "held"):
            summary.counts["already_done"] += 1
            return None
        if existing.status == "held" and not released:
            summary.counts["already_held"] += 1
            return None
        if (existing.due_at or "") > self._now:
            summary.counts["in_progress"] += 1
            if strict:
                raise AlertInProgress(existing.key)
            return None
        token = self.new_token()
        if not self.store.take_over_alert(existing, token, self._lease_end, self._now):
            summary.counts["lost_race"] += 1
            return None
        summary.counts["retried"] += 1
        return existing.model_copy(
            update={"claim_token": token, "status": "pending", "due_at": self._lease_end}
        )

    # ------------------------------------------------------------------ entry points
    def deliver(self, alerts: list[Alert], *, strict: bool = False) -> Summary:
        """Claim and deliver ``alerts`` (from one stream record or one sweep).

        ``strict``: an alert another invocation is still sending raises ``AlertInProgress`` (the
        stream record is retried) instead of being left to the next sweep.
        """
        summary = Summary()
        claimed: list[AlertRecord] = []
        # A sweep finds lasting conditions again every hour: one batch read tells which keys are
        # known, instead of a refused put and a read for each.
        # (A stream change is new: its keys are claimed straight away.)
        known = self.store.get_alerts([a.key for a in alerts]) if not strict and len(alerts) > 1 else {}
        # The reps and accounts the new ones name and go to, in a few batch reads rather than one each.
        self.resolver.prepare(a for a in alerts if a.key not in known)
        for alert in alerts:
            record = self._claim(alert, summary, strict=strict, known=known.get(alert.key))
            if record is not None:
                claimed.append(record)
        self._route(claimed, summary, released=False)
        if strict and summary.failures:
            raise RuntimeError(f"{len(summary.failures)} alerts could not be sent: {summary.failures[0]}")
        return summary

    def release_due(self) -> Summary:
        """Finish what is due: held alerts whose hold ended, claims whose sender died."""
        summary = Summary()
        ours: list[AlertRecord] = []
        due = self.store.alerts_due(self._now)
        # Digests first: a dead digest's members are taken back into it before anyone retakes them.
        for record in sorted(due, key=lambda r: r.kind != DIGEST_KIND):
            taken = self._retake(record, summary, strict=False, released=True)
            if taken is None:
                continue
            if taken.kind == DIGEST_KIND:
                self._send_digest_record(taken, summary)
            else:
                ours.append(taken)
        self._route(ours, summary, released=True)
        return summary

    # ------------------------------------------------------------------ deciding
    def _route(self, records: list[AlertRecord], summary: Summary, *, released: bool) -> None:
        by_recipient: dict[str, list[AlertRecord]] = defaultdict(list)
        for record in records:
            if record.urgent:
                self._send_one(record, summary)
            else:
                by_recipient[record.recipient].append(record)
        for recipient, group in by_recipient.items():
            zone = _zone(group[0].timezone)
            local = self.now.astimezone(zone)
            quiet = self.config.quiet_hours
            if quiet.contains(local.time().replace(tzinfo=None)):
                end = _at(local, quiet.end, zone)
                if end <= local:
                    end += timedelta(days=1)
                reason = f"quiet hours until {quiet.end.strftime('%H:%M')} {zone.key}"
                for record in group:
                    if quiet.holds(record.kind):
                        self._hold(record, reason, end, summary)
                group = [r for r in group if not quiet.holds(r.kind)]
                if not group:
                    continue
            limit = self.config.digest.max_per_day
            already = self._sent_today(recipient, local, zone, {r.key for r in group})
            if already + len(group) <= limit or (released and len(group) == 1 and already < limit):
                for record in group:
                    self._send_one(record, summary)
            elif len(group) >= 2:
                for start in range(0, len(group), MAX_DIGEST_MEMBERS):
                    self._send_digest(group[start : start + MAX_DIGEST_MEMBERS], local, summary)
            elif released:
                self._send_digest(group, local, summary)
            else:
                send_at = _at(local, self.config.digest.send_at, zone)
                due = send_at if send_at > local else self.now
                self._hold(group[0], f"digest: over {limit} alerts today", due, summary)
            self._today_counts[recipient] = already + len(group)

    def _sent_today(self, recipient: str, local: datetime, zone: ZoneInfo, excluding: set[str]) -> int:
        if recipient in self._today_counts:
            return self._today_counts[recipient]
        midnight = format_time(datetime.combine(local.date(), time(0), zone))
        records = self.store.alerts_to(recipient, midnight)
        return sum(
            1
            for r in records
            if not r.urgent and r.kind != DIGEST_KIND and r.key not in excluding
            and (r.status in ("sent", "digested") or (r.hold_reason and r.hold_reason.startswith("digest")))
        )  # fmt: skip

    # ------------------------------------------------------------------ acting
    def _hold(self, record: AlertRecord, reason: str, until: datetime, summary: Summary) -> None:
        if self.store.hold_alert(record.key, record.claim_token, reason, format_time(until)):
            summary.counts["held"] += 1
        else:
            summary.counts["lost_race"] += 1

    def _send(self, record: AlertRecord, subject: str, text: str, html: str, summary: Summary) -> bool:
        try:
            message_id = self.mailer.send(record.recipient, subject, text, html)
        except Exception as exc:  # SES refused or was unreachable: give the claim up for a retry
            logger.exception("alert not sent", extra={"kind": record.kind, "key": record.key})
            self.store.release_alert(record.key, record.claim_token, self._now)
            summary.failures.append(f"{record.key}: {type(exc).__name__}: {exc}")
            return False
        if not self._mark_sent(record, message_id):
            logger.warning("alert sent but its claim was taken over", extra={"key": record.key})
        return True

    def _mark_sent(self, record: AlertRecord, message_id: str) -> bool:
        """Mark a sent alert, trying again while the table is busy (the mail is gone: giving up here
        would fail the record, and its retry would send it a second time)."""
        for attempt in range(MARK_TRIES):
            try:
                return self.store.mark_alert_sent(record.key, record.claim_token, message_id, self._now)
            except Throttled:
                if attempt == MARK_TRIES - 1:
                    raise
                clock.sleep(0.05 * 2**attempt)
        return False

    def _send_one(self, record: AlertRecord, summary: Summary) -> None:
        rendered = render_alert(record.kind, record.facts, record.recipient_name, record.fallback_reason)
        if self._send(record, rendered.subject, rendered.text, rendered.html, summary):
            summary.counts["sent"] += 1
            summary.counts[f"sent:{record.kind}"] += 1
            if record.fallback_reason:
                summary.counts["fallback"] += 1

    def _send_digest(self, members: list[AlertRecord], local: datetime, summary: Summary) -> None:
        first = members[0]
        day = local.date().isoformat()
        digest_id = hashlib.sha256("\n".join(sorted(m.key for m in members)).encode()).hexdigest()[:24]
        entries = [{"kind": m.kind, "subject": m.subject, "key": m.key} for m in members]
        digest = AlertRecord(
            key=f"{DIGEST_KIND}|RECIPIENT#{first.recipient}|{day}|{digest_id}", kind=DIGEST_KIND,
            entity=f"RECIPIENT#{first.recipient}", recipient=first.recipient, created_at=self._now,
            role=first.role, recipient_name=first.recipient_name, timezone=first.timezone,
            claim_token=self.new_token(), due_at=self._lease_end,
            subject=render_digest(entries, first.recipient_name, day).subject,
            facts={"day": day, "entries": entries},
        )  # fmt: skip
        marked = self.store.claim_digest(digest, [(m.key, m.claim_token) for m in members])
        if marked is None:
            summary.counts["lost_race"] += len(members)
            return
        summary.counts["digested"] += len(marked)
        summary.counts["lost_race"] += len(members) - len(marked)
        self._send_digest_record(digest, summary, set(marked))

    def _send_digest_record(
        self, digest: AlertRecord, summary: Summary, marked: set[str] | None = None
    ) -> None:
        """Send a digest; a retried one first takes in the members its dead sender had not marked."""
        entries = list(digest.facts.get("entries", []))
        if marked is None:
            marked = {
                e["key"] for e in entries if self.store.adopt_into_digest(e["key"], digest.key, self._now)
            }
            summary.counts["digested"] += len(marked)
        entries = [e for e in entries if e["key"] in marked]
        if not entries:
            self.store.mark_alert_sent(digest.key, digest.claim_token, "(empty)", self._now)
            return
        rendered = render_digest(entries, digest.recipient_name, str(digest.facts.get("day", "")))
        if self._send(digest, rendered.subject, rendered.text, rendered.html, summary):
            summary.counts["sent"] += 1
            summary.counts["sent:digest"] += 1
