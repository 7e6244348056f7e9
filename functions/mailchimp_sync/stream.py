"""A batch of CRM stream records in, MailChimp members out, sync state recorded per contact.

The batch is planned first: records that change nothing MailChimp sees (our own sync-state
writes among them, so there is no echo loop) are passed over, and for a contact changed several
times in the batch only its latest change is synced. The planned contacts are synced together on
up to ``max_concurrency`` threads; the per-record step then records each outcome and fails the
records whose sync failed, so the stream retries them (and, after its retries, dead-letters them).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from mailchimp_sync.errors import MailchimpError
from mailchimp_sync.gateway import Budget, MailchimpGateway
from mailchimp_sync.models import MailchimpContact, SyncOutcome
from mailchimp_sync.repository import ContactKey, ContactRepository, contact_from_image, key_of, needs_sync
from mailchimp_sync.sync import failed_outcome, sync_in_batches


class ContactSyncFailedError(Exception):
    """The record's sync failed in a way worth retrying; the stream will deliver it again."""


@dataclass
class StreamChange:
    sequence: str
    new: Mapping[str, Any] | None
    old: Mapping[str, Any] | None


@dataclass
class BatchPlan:
    """Which record syncs which contact, and what came of it."""

    work: dict[str, tuple[ContactKey, MailchimpContact]] = field(default_factory=dict)
    state_exists: dict[str, bool] = field(default_factory=dict)
    results: dict[str, SyncOutcome | MailchimpError] = field(default_factory=dict)
    # what recording each outcome came to (``record_outcomes``): the outcome, or what the record must raise
    settled: dict[str, SyncOutcome | Exception] = field(default_factory=dict)

    @property
    def contacts(self) -> list[MailchimpContact]:
        return [contact for _, contact in self.work.values()]


def plan_batch(changes: Iterable[StreamChange]) -> BatchPlan:
    """The latest relevant change per contact, by the sequence number of its record."""
    latest: dict[ContactKey, tuple[str, MailchimpContact, bool]] = {}
    for change in changes:
        if not needs_sync(change.new, change.old):
            continue
        contact = contact_from_image(change.new)
        if contact is None or change.new is None:
            continue
        latest[key_of(change.new)] = (change.sequence, contact, "mailchimp" in change.new)
    plan = BatchPlan()
    for key, (sequence, contact, state_exists) in latest.items():
        plan.work[sequence] = (key, contact)
        plan.state_exists[sequence] = state_exists
    return plan


def run_plan(plan: BatchPlan, gateway: MailchimpGateway, budget: Budget) -> BatchPlan:
    results = sync_in_batches(plan.contacts, gateway, budget)
    for sequence, result in zip(plan.work, results, strict=True):
        plan.results[sequence] = result
    return plan


RECORD_WORKERS = 8


def record_outcomes(
    plan: BatchPlan,
    repository: ContactRepository,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    workers: int = RECORD_WORKERS,
) -> BatchPlan:
    """Record every planned record's outcome on its contact: together (``record_outcomes``: transactions of up
    to 100 instead of a write per contact, each of which went back into the CRM stream as its own request), or
    when that fails one by one, up to ``workers`` at once. What each came to is kept in ``plan.settled`` for the
    per-record step, which fails the record whose sync (or, one by one, whose write) failed."""
    at = now()
    results = {
        sequence: plan.results.get(sequence) or MailchimpError("not synced in this invocation")
        for sequence in plan.work
    }
    entries = []
    for sequence, (key, contact) in plan.work.items():
        result = results[sequence]
        outcome = failed_outcome(contact, result) if isinstance(result, MailchimpError) else result
        entries.append((key, outcome, at, plan.state_exists.get(sequence)))
    try:
        repository.record_outcomes(entries)
    except Exception:
        return _record_one_by_one(plan, repository, now, workers)
    for sequence, (_, contact) in plan.work.items():
        result = results[sequence]
        plan.settled[sequence] = _failure(contact, result) if isinstance(result, MailchimpError) else result
    return plan


def _failure(contact: MailchimpContact, error: MailchimpError) -> ContactSyncFailedError:
    failure = ContactSyncFailedError(f"{contact.contact_id}: {error.summary}")
    failure.__cause__ = error
    return failure


def _record_one_by_one(
    plan: BatchPlan, repository: ContactRepository, now: Callable[[], datetime], workers: int
) -> BatchPlan:
    def one(sequence: str) -> SyncOutcome | Exception:
        try:
            outcome = settle_record(sequence, plan, repository, now)
        except Exception as err:  # the record's own failure: raised again by its record step
            return err
        return outcome or ContactSyncFailedError(f"{sequence}: nothing planned")

    sequences = list(plan.work)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        plan.settled = dict(zip(sequences, pool.map(one, sequences), strict=True))
    return plan


def settle_record(
    sequence: str,
    plan: BatchPlan,
    repository: ContactRepository,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> SyncOutcome | None:
    """Record the outcome of the record's sync (if it had one); raise for a failed sync."""
    if sequence not in plan.work:
        return None
    key, contact = plan.work[sequence]
    result = plan.results.get(sequence)
    if result is None:
        result = MailchimpError("not synced in this invocation")
    state_exists = plan.state_exists.get(sequence)
    if isinstance(result, MailchimpError):
        repository.record_outcome(key, failed_outcome(contact, result), now(), state_exists=state_exists)
        raise ContactSyncFailedError(f"{contact.contact_id}: {result.summary}") from result
    repository.record_outcome(key, result, now(), state_exists=state_exists)
    return result
