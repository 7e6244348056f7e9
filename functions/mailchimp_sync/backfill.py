"""Send every eligible contact through MailChimp's batch endpoint, resumably (`hub mailchimp backfill`).

Each call carries at most ``batch_max_operations`` operations (500): per contact a member upsert
(same status rules as the one-by-one sync) and a tag write. After a batch has finished and its
outcomes are recorded, the position of the last contact it covered is saved; a stopped backfill
starts again after that position. A finished backfill clears its cursor.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

from pydantic import BaseModel, Field

from mailchimp_sync.errors import BlockedMemberError
from mailchimp_sync.gateway import Budget, MailchimpGateway, classify
from mailchimp_sync.models import MailchimpContact, SyncOutcome
from mailchimp_sync.segments import merge_fields_for, other_band_tags, subscriber_hash, tags_for

OPERATIONS_PER_CONTACT = 2


class CursorStore(Protocol):
    def load(self) -> str | None: ...

    def save(self, cursor: str | None) -> None: ...


class BackfillReport(BaseModel):
    seen: int = 0
    sent: int = 0
    skipped: int = 0
    synced: int = 0
    blocked: int = 0
    failed: int = 0
    batches: int = 0
    resumed_from: str | None = None
    complete: bool = False
    failures: dict[str, str] = Field(default_factory=dict)


def is_eligible(contact: MailchimpContact) -> bool:
    """Opted in, and not someone who has left (unless they opted in again since)."""
    return contact.marketing_opt_in and (not contact.has_left or contact.opted_in_again)


def operations_for(
    contact: MailchimpContact,
    list_id: str,
    double_opt_in: bool,
    band_names: Mapping[str, Iterable[str]] | None = None,
) -> list[dict[str, Any]]:
    """The batch operations for one contact; ``operation_id`` is ``<contact_id>|member`` or ``|tags``."""
    hash_ = subscriber_hash(contact.email)
    body: dict[str, Any] = {
        "email_address": contact.email,
        "status_if_new": "pending" if double_opt_in or contact.opted_in_again else "subscribed",
        "merge_fields": merge_fields_for(contact),
    }
    if contact.opted_in_again:
        body["status"] = "pending"  # MailChimp's re-confirmation, never a forced subscribe
    desired = tags_for(contact)
    tags = [{"name": t, "status": "active"} for t in sorted(desired)]
    tags += [{"name": t, "status": "inactive"} for t in sorted(other_band_tags(desired, band_names or {}))]
    member_path = f"/lists/{list_id}/members/{hash_}"
    operations = [
        {
            "method": "PUT",
            "path": member_path,
            "operation_id": f"{contact.contact_id}|member",
            "body": json.dumps(body),
        }
    ]
    if tags:
        operations.append(
            {
                "method": "POST",
                "path": f"{member_path}/tags",
                "operation_id": f"{contact.contact_id}|tags",
                "body": json.dumps({"tags": tags, "is_syncing": True}),
            }
        )
    return operations


def outcomes_from_results(
    contacts: list[MailchimpContact], results: list[dict[str, Any]]
) -> list[SyncOutcome]:
    """One outcome per contact from a finished batch's per-operation results."""
    by_id: dict[str, dict[str, Any]] = {str(r.get("operation_id")): r for r in results}
    outcomes = []
    for contact in contacts:
        member = by_id.get(f"{contact.contact_id}|member")
        tags = by_id.get(f"{contact.contact_id}|tags")
        outcome = _outcome_of(contact, "put member", member)
        if outcome.state == "synced" and tags is not None and int(tags.get("status_code", 0)) >= 300:
            outcome = _outcome_of(contact, "update member tags", tags)
        outcomes.append(outcome)
    return outcomes


def _outcome_of(contact: MailchimpContact, operation: str, result: dict[str, Any] | None) -> SyncOutcome:
    if result is None:
        return SyncOutcome(contact_id=contact.contact_id, state="failed", error="no result in the batch")
    status = int(result.get("status_code", 0))
    if 200 <= status < 300:
        try:
            member = json.loads(result.get("response") or "{}")
        except ValueError:
            member = {}
        return SyncOutcome(contact_id=contact.contact_id, state="synced", member_status=member.get("status"))
    error = classify(f"{operation} (batch)", status, result.get("response")).error
    if isinstance(error, BlockedMemberError):
        return SyncOutcome(
            contact_id=contact.contact_id, state="blocked", reason=error.reason, error=error.summary
        )
    return SyncOutcome(contact_id=contact.contact_id, state="failed", error=error.summary)


def run_batch(
    contacts: list[MailchimpContact],
    gateway: MailchimpGateway,
    *,
    poll_interval_s: float = 1.0,
    wait_s: float = 600.0,
    sleep: Callable[[float], None] = time.sleep,
    band_names: Mapping[str, Iterable[str]] | None = None,
) -> list[SyncOutcome]:
    """Submit one batch, wait for it to finish, and read each contact's outcome."""
    config = gateway.config
    operations = [
        op for c in contacts for op in operations_for(c, config.list_id, config.double_opt_in, band_names)
    ]
    results = gateway.run_batch(
        operations, Budget.seconds(wait_s), poll_interval_s=poll_interval_s, sleep=sleep
    )
    return outcomes_from_results(contacts, results)


def run_backfill(
    contacts_after: Callable[[str | None], Iterable[tuple[str, MailchimpContact]]],
    gateway: MailchimpGateway,
    cursor_store: CursorStore,
    record: Callable[[list[SyncOutcome]], None],
    *,
    on_progress: Callable[[int], None] = lambda _: None,
    poll_interval_s: float = 1.0,
    restart: bool = False,
    band_names: Mapping[str, Iterable[str]] | None = None,
) -> BackfillReport:
    """Backfill from the saved cursor (or the start).

    ``contacts_after(cursor)`` yields ``(position, contact)`` in a stable order, starting after
    ``cursor``; ``position`` is what to pass back to resume after that contact. ``record`` stores
    the outcomes of a finished batch (the contacts' sync state). ``on_progress(n)`` is told how
    many more contacts were dealt with. ``band_names`` (prefix -> configured band names) lets the
    tag write also remove a contact's other band tags."""
    cursor = None if restart else cursor_store.load()
    report = BackfillReport(resumed_from=cursor)
    per_batch = max(gateway.config.batch_max_operations // OPERATIONS_PER_CONTACT, 1)
    chunk: list[MailchimpContact] = []
    pending_progress = 0
    position: str | None = cursor

    def flush() -> None:
        nonlocal chunk, pending_progress
        if chunk:
            outcomes = run_batch(chunk, gateway, poll_interval_s=poll_interval_s, band_names=band_names)
            record(outcomes)
            report.batches += 1
            report.sent += len(chunk)
            for outcome in outcomes:
                if outcome.state == "synced":
                    report.synced += 1
                elif outcome.state == "blocked":
                    report.blocked += 1
                else:
                    report.failed += 1
                if outcome.state != "synced":
                    report.failures[outcome.contact_id] = outcome.reason or outcome.error or outcome.state
        cursor_store.save(position)
        on_progress(pending_progress)
        chunk, pending_progress = [], 0

    # a MailChimpError escapes with the cursor after the last recorded batch: a re-run resumes there
    for position, contact in contacts_after(cursor):  # noqa: B007 - position is read by flush()
        report.seen += 1
        pending_progress += 1
        if is_eligible(contact):
            chunk.append(contact)
        else:
            report.skipped += 1
        if len(chunk) >= per_batch:
            flush()
    flush()
    cursor_store.save(None)
    report.complete = True
    return report
