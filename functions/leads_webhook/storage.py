"""Leads on DynamoDB: the repository, over the CRM store.

- lead and submission history: ``shared.store.crm`` (keys, items and the lead's one versioned writer,
  ``CrmStore.update_lead``, which also keeps the lead's gsi1 keys in step: owner ``OPEN#``/``CLOSED#``,
  queue, quarantine); ``StoreLeadRepository`` maps the intake's ``StoredLead`` to and from it and writes
  only the attributes the intake owns, so what other functions keep on the same item (MailChimp sync
  state, an external CRM's status) is never overwritten;

Rotation turns and rate-limit windows live in the state table: ``shared.store.state.DynamoStateStore``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from leads_webhook.intake import KnownPerson, WriteResult
from leads_webhook.records import (
    CONTACT_FIELDS,
    FILL_FIELDS,
    OPEN_STATUSES,
    STATUS_QUARANTINED,
    StoredLead,
    SubmissionRecord,
)
from shared.store import crm
from shared.store.errors import Conflict, NotFound

# What the intake writes on a lead (by ``shared.store.crm.Lead`` field name); nothing else.
INTAKE_FIELDS = (
    *CONTACT_FIELDS, *FILL_FIELDS, "email", "marketing_opt_in", "status", "source", "owner", "quarantined",
    "quarantine_reasons", "assignment", "segments", "created_at", "updated_at", "marketing_status",
)  # fmt: skip


def _plain(value: Any) -> Any:
    """DynamoDB-friendly: money as decimal text (as the lead item keeps it), no floats."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _values(lead: StoredLead) -> dict[str, Any]:
    values = {name: getattr(lead, name) for name in INTAKE_FIELDS}
    values["assignment"] = _plain(lead.assignment) if lead.assignment else None
    values["segments"] = lead.segments or None
    return values


def _closed(status: str) -> bool:
    """Whether a status the intake sets takes the lead out of its owner's open leads."""
    return status not in (*OPEN_STATUSES, STATUS_QUARANTINED)


def _to_record(lead: StoredLead) -> crm.Lead:
    return crm.Lead(lead_id=lead.lead_id, version=lead.version, closed=_closed(lead.status), **_values(lead))


def _from_record(lead: crm.Lead) -> StoredLead:
    now = datetime.now(UTC)
    data = lead.model_dump(include=set(StoredLead.model_fields) - {"created_at", "updated_at"})
    data.update(
        created_at=lead.created_at or lead.updated_at or now,
        updated_at=lead.updated_at or lead.created_at or now,
    )
    return StoredLead.model_validate(data)


def _submission(submission: SubmissionRecord) -> crm.LeadSubmission:
    return crm.LeadSubmission.model_validate({**submission.model_dump(), "fields": _plain(submission.fields)})


def _from_submission(submission: crm.LeadSubmission) -> SubmissionRecord:
    return SubmissionRecord.model_validate(submission.model_dump())


class StoreLeadRepository:
    """`LeadRepository` on the CRM store."""

    def __init__(self, store: crm.CrmStore | None = None) -> None:
        self.store: crm.CrmStore = store if store is not None else crm.DynamoCrmStore()
        # The lead this thread read last: an update of it at the version read needs no second read
        # (the store's version condition still decides).
        self._read = threading.local()

    def create(self, lead: StoredLead, submission: SubmissionRecord) -> WriteResult:
        try:
            self.store.create_lead(_to_record(lead), _submission(submission))
        except crm.SubmissionExists:
            return WriteResult.SUBMISSION_EXISTS
        except Conflict:
            return WriteResult.LEAD_EXISTS  # or a transaction conflict: the caller reads and retries
        return WriteResult.DONE

    def update(
        self,
        lead: StoredLead,
        *,
        expected_version: int,
        submission: SubmissionRecord | None = None,
        previous: StoredLead | None = None,
    ) -> WriteResult:
        values = _values(lead)
        before = _values(previous) if previous is not None else {}
        # Only what changed (smaller writes), and always the time of the change.
        changes = {k: v for k, v in values.items() if previous is None or k == "updated_at" or before[k] != v}
        if "status" in changes:  # whoever changes the status keeps the lead's place in the open leads in step
            changes["closed"] = _closed(lead.status)
        try:
            self.store.update_lead(
                lead.lead_id,
                changes,
                expected_version=expected_version,
                submission=_submission(submission) if submission is not None else None,
                current=self._as_read(lead.lead_id, expected_version),
            )
        except crm.SubmissionExists:
            return WriteResult.SUBMISSION_EXISTS
        except (Conflict, NotFound):
            return WriteResult.VERSION_CONFLICT
        return WriteResult.DONE

    def create_many(self, new: Sequence[tuple[StoredLead, SubmissionRecord]]) -> list[WriteResult]:
        refused = self.store.create_leads([(_to_record(lead), _submission(sub)) for lead, sub in new])
        return [
            WriteResult.DONE if r is None
            else WriteResult.SUBMISSION_EXISTS if isinstance(r, crm.SubmissionExists)
            else WriteResult.LEAD_EXISTS
            for r in refused
        ]  # fmt: skip

    def add_submission(self, submission: SubmissionRecord) -> WriteResult:
        try:
            self.store.add_lead_submission(_submission(submission), lead=self._read_lead(submission.lead_id))
        except crm.SubmissionExists:
            return WriteResult.SUBMISSION_EXISTS
        return WriteResult.DONE

    def get(self, lead_id: str) -> StoredLead | None:
        # The first read of a submission comes with the address's other facts (``lead_id_for_email``):
        # used once; a retry after a conflict reads again.
        person: crm.Person | None = getattr(self._read, "person", None)
        if person is not None and person.lead_id == lead_id:
            self._read.person = None
            lead = person.lead
        else:
            lead = self.store.get_lead(lead_id)
        self._read.lead = lead
        return _from_record(lead) if lead is not None else None

    def read_people(
        self, email_keys: Sequence[str], *, remaining_ms: Callable[[], int] | None = None
    ) -> dict[str, KnownPerson]:
        people = self.store.read_people(email_keys, remaining_ms=remaining_ms)
        # What the next lead_id_for_email of a stored person takes instead of a read (a new person's entry
        # would be stale once the caller writes its lead).
        self._read.people = {key: p for key, p in people.items() if p.lead is not None}
        return {
            key: KnownPerson(
                p.lead_id,
                _from_record(p.lead) if p.lead is not None else None,
                p.suppression.status if p.suppression is not None and p.suppression.suppressed else None,
            )
            for key, p in people.items()
        }

    def lead_id_for_email(self, email_key: str) -> str:
        read: dict[str, crm.Person] = getattr(self._read, "people", {})
        person = read.pop(email_key, None) or self.store.read_person(email_key)
        self._read.person = person
        self._read.suppression = (email_key, person.suppression)
        return person.lead_id

    def suppression(self, email_key: str) -> str | None:
        read = getattr(self._read, "suppression", None)
        found = (
            read[1] if read is not None and read[0] == email_key else self.store.get_suppression(email_key)
        )
        return found.status if found is not None and found.suppressed else None

    def _as_read(self, lead_id: str, version: int) -> crm.Lead | None:
        lead = self._read_lead(lead_id)
        return lead if lead is not None and lead.version == version else None

    def _read_lead(self, lead_id: str) -> crm.Lead | None:
        """The lead as this thread read it last, if it is ``lead_id``'s (its first submission, kept on it, never
        changes: what a repeat delivery is checked against without another read)."""
        lead: crm.Lead | None = getattr(self._read, "lead", None)
        return lead if lead is not None and lead.lead_id == lead_id else None

    def get_submission(self, lead_id: str, submission_id: str) -> SubmissionRecord | None:
        found = self.store.get_lead_submission(lead_id, submission_id, lead=self._read_lead(lead_id))
        return _from_submission(found) if found is not None else None

    def history(self, lead_id: str) -> list[SubmissionRecord]:
        return [_from_submission(s) for s in self.store.lead_submissions(lead_id)]

    def quarantined(self, limit: int = 100) -> list[StoredLead]:
        return [_from_record(x) for x in self.store.quarantined_leads(limit)]

    def recent(self, limit: int = 100) -> list[StoredLead]:
        """The newest leads out of quarantine (the what-if command's `--last N`); an operator's scan."""
        return [_from_record(x) for x in self.store.recent_leads(limit)]

    def open_leads(self, rep_id: str) -> int:
        return self.store.open_lead_count(rep_id)


class DynamoLeadRepository(StoreLeadRepository):
    """`LeadRepository` on the CRM table."""

    def __init__(self) -> None:
        super().__init__(crm.DynamoCrmStore())
