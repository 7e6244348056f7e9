"""Leads on DynamoDB: the repository.

Key layout (docs/data-model.md, "## Leads"):
- lead: CRM table `LEAD#<lead_id>` / `LEAD` (`shared.tables.LeadItem`); gsi1 `OWNER#<rep>` /
  `OPEN#|CLOSED#<created>#<id>` (a rep's leads, open ones counted by key for the capacity check),
  `QUEUE#<queue>` (a queue's leads) or `LEADS#QUARANTINE` (the quarantine), sorted by creation time;
- submission history: CRM table `LEAD#<lead_id>` / `SUBMISSION#<submission_id>` (`LeadSubmissionItem`),
  written in the same transaction as the lead change, on condition that it is new (exactly once);
Rotation turns and rate-limit windows live in the state table: ``shared.store.state.DynamoStateStore``.

Writes to a lead are UpdateItem of the attributes the intake owns, guarded by `version`, so what other
functions keep on the same item (MailChimp sync state, territory) is never overwritten.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from pynamodb.attributes import ListAttribute, MapAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.exceptions import DoesNotExist, PutError, TransactWriteError, UpdateError
from pynamodb.transactions import TransactWrite

from leads_webhook.intake import WriteResult
from leads_webhook.records import CONTACT_FIELDS, FILL_FIELDS, OPEN_STATUSES, StoredLead, SubmissionRecord
from shared.tables import CrmItem, LeadItem

QUARANTINE_INDEX_KEY = "LEADS#QUARANTINE"
_CONDITION_FAILED = "ConditionalCheckFailed"


class LeadSubmissionItem(CrmItem, discriminator="LEAD_SUBMISSION"):
    """One submission in a lead's history: `LEAD#<lead_id>` / `SUBMISSION#<submission_id>`."""

    lead_id = UnicodeAttribute()
    submission_id = UnicodeAttribute()
    received_at = UTCDateTimeAttribute()
    source = UnicodeAttribute()
    outcome = UnicodeAttribute()
    campaign = UnicodeAttribute(null=True)
    utm_source = UnicodeAttribute(null=True)
    utm_medium = UnicodeAttribute(null=True)
    utm_campaign = UnicodeAttribute(null=True)
    quarantine_reasons = ListAttribute(of=UnicodeAttribute, null=True)  # type: ignore[var-annotated]
    fields = MapAttribute(null=True)  # type: ignore[var-annotated]


def lead_key(lead_id: str) -> tuple[str, str]:
    return f"LEAD#{lead_id}", "LEAD"


def _plain(value: Any) -> Any:
    """DynamoDB-friendly: money as decimal text (as LeadItem keeps it), no floats."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _raw(value: Any) -> Any:
    """A raw MapAttribute's content as plain Python (numbers as int where whole)."""
    if isinstance(value, MapAttribute):
        value = value.as_dict()
    if isinstance(value, dict):
        return {k: _raw(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_raw(v) for v in value]
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else value
    return value


def _index_key(lead: StoredLead) -> tuple[str | None, str | None]:
    order = f"{lead.created_at.isoformat()}#{lead.lead_id}"
    if lead.quarantined:
        return QUARANTINE_INDEX_KEY, order
    if lead.owner is not None:
        # Open leads sort under OPEN#, so the capacity check counts them by key, never reading closed ones.
        state = "OPEN" if lead.status in OPEN_STATUSES else "CLOSED"
        return f"OWNER#{lead.owner}", f"{state}#{order}"
    if lead.queue is not None:
        return f"QUEUE#{lead.queue}", order
    return None, None


def _lead_values(lead: StoredLead) -> dict[str, Any]:
    """Every attribute the intake owns on a lead item, by LeadItem attribute name."""
    gsi1pk, gsi1sk = _index_key(lead)
    values: dict[str, Any] = {name: getattr(lead, name) for name in (*CONTACT_FIELDS, *FILL_FIELDS)}
    values.update(
        lead_id=lead.lead_id,
        email=lead.email,
        annual_revenue=None if lead.annual_revenue is None else str(lead.annual_revenue),
        marketing_opt_in=lead.marketing_opt_in,
        status=lead.status,
        source=lead.source,
        owner=lead.owner,
        quarantined=lead.quarantined,
        quarantine_reason=",".join(lead.quarantine_reasons) or None,
        assignment=_plain(lead.assignment) if lead.assignment else None,
        segments=lead.segments or None,
        created_at=lead.created_at,
        updated_at=lead.updated_at,
        version=lead.version,
        gsi1pk=gsi1pk,
        gsi1sk=gsi1sk,
    )
    return values


def _to_item(lead: StoredLead) -> LeadItem:
    pk, sk = lead_key(lead.lead_id)
    return LeadItem(pk, sk, **{k: v for k, v in _lead_values(lead).items() if v is not None})


def _update_actions(lead: StoredLead, previous: StoredLead | None = None) -> list[Any]:
    """SET/REMOVE for every owned attribute, or only for those that differ from `previous` (smaller writes)."""
    before = _lead_values(previous) if previous is not None else {}
    actions = []
    for name, value in _lead_values(lead).items():
        if previous is not None and name not in ("version", "updated_at") and before.get(name) == value:
            continue
        attribute = getattr(LeadItem, name)
        actions.append(attribute.remove() if value is None else attribute.set(value))
    return actions


def _from_item(item: LeadItem) -> StoredLead:
    data = {name: getattr(item, name) for name in (*CONTACT_FIELDS, *FILL_FIELDS)}
    data.update(
        lead_id=item.lead_id,
        email=item.email,
        employees=None if item.employees is None else int(item.employees),
        annual_revenue=None if item.annual_revenue is None else Decimal(item.annual_revenue),
        marketing_opt_in=item.marketing_opt_in,
        status=item.status,
        source=item.source,
        owner=item.owner,
        territory_id=item.territory_id,
        quarantined=bool(item.quarantined),
        quarantine_reasons=tuple(r for r in (item.quarantine_reason or "").split(",") if r),
        assignment=_raw(item.assignment) if item.assignment is not None else None,
        created_at=item.created_at or item.updated_at or datetime.now(UTC),
        updated_at=item.updated_at or item.created_at or datetime.now(UTC),
        version=int(item.version or 0),
    )
    return StoredLead.model_validate(data)


def _submission_item(submission: SubmissionRecord) -> LeadSubmissionItem:
    return LeadSubmissionItem(
        f"LEAD#{submission.lead_id}",
        f"SUBMISSION#{submission.submission_id}",
        lead_id=submission.lead_id,
        submission_id=submission.submission_id,
        received_at=submission.received_at,
        source=submission.source,
        outcome=submission.outcome,
        campaign=submission.campaign,
        utm_source=submission.utm_source,
        utm_medium=submission.utm_medium,
        utm_campaign=submission.utm_campaign,
        quarantine_reasons=list(submission.quarantine_reasons) or None,
        fields=_plain(submission.fields),
        updated_at=submission.received_at,
    )


def _from_submission(item: LeadSubmissionItem) -> SubmissionRecord:
    return SubmissionRecord(
        submission_id=item.submission_id,
        lead_id=item.lead_id,
        received_at=item.received_at,
        source=item.source,
        outcome=item.outcome,  # type: ignore[arg-type]
        campaign=item.campaign,
        utm_source=item.utm_source,
        utm_medium=item.utm_medium,
        utm_campaign=item.utm_campaign,
        quarantine_reasons=tuple(item.quarantine_reasons or ()),
        fields=_raw(item.fields) if item.fields is not None else {},
    )


def _cancel_codes(exc: TransactWriteError) -> list[str | None]:
    return [reason.code if reason else None for reason in (exc.cancellation_reasons or [])]


def _is_condition_failure(exc: Exception) -> bool:
    return getattr(exc, "cause_response_code", None) == "ConditionalCheckFailedException"


class DynamoLeadRepository:
    """`LeadRepository` on the CRM table."""

    def create(self, lead: StoredLead, submission: SubmissionRecord) -> WriteResult:
        try:
            with TransactWrite(connection=LeadItem._get_connection().connection) as transaction:
                transaction.save(_to_item(lead), condition=LeadItem.pk.does_not_exist())
                transaction.save(
                    _submission_item(submission), condition=LeadSubmissionItem.pk.does_not_exist()
                )
        except TransactWriteError as exc:
            codes = _cancel_codes(exc)  # in the order saved: the lead, then the submission
            if len(codes) > 1 and codes[1] == _CONDITION_FAILED:
                return WriteResult.SUBMISSION_EXISTS
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
        pk, sk = lead_key(lead.lead_id)
        condition = LeadItem.pk.exists() & (LeadItem.version == expected_version)
        if submission is None:
            try:
                LeadItem(pk, sk).update(actions=_update_actions(lead, previous), condition=condition)
            except UpdateError as exc:
                if _is_condition_failure(exc):
                    return WriteResult.VERSION_CONFLICT
                raise
            return WriteResult.DONE
        try:
            with TransactWrite(connection=LeadItem._get_connection().connection) as transaction:
                transaction.update(
                    LeadItem(pk, sk), actions=_update_actions(lead, previous), condition=condition
                )
                transaction.save(
                    _submission_item(submission), condition=LeadSubmissionItem.pk.does_not_exist()
                )
        except TransactWriteError as exc:
            # pynamodb sends puts before updates: the submission's reason comes first here.
            codes = _cancel_codes(exc)
            if codes and codes[0] == _CONDITION_FAILED:
                return WriteResult.SUBMISSION_EXISTS
            return WriteResult.VERSION_CONFLICT
        return WriteResult.DONE

    def add_submission(self, submission: SubmissionRecord) -> WriteResult:
        try:
            _submission_item(submission).save(condition=LeadSubmissionItem.pk.does_not_exist())
        except PutError as exc:
            if _is_condition_failure(exc):
                return WriteResult.SUBMISSION_EXISTS
            raise
        return WriteResult.DONE

    def get(self, lead_id: str) -> StoredLead | None:
        try:
            return _from_item(LeadItem.get(*lead_key(lead_id), consistent_read=True))
        except DoesNotExist:
            return None

    def get_submission(self, lead_id: str, submission_id: str) -> SubmissionRecord | None:
        try:
            item = LeadSubmissionItem.get(
                f"LEAD#{lead_id}", f"SUBMISSION#{submission_id}", consistent_read=True
            )
        except DoesNotExist:
            return None
        return _from_submission(item)

    def history(self, lead_id: str) -> list[SubmissionRecord]:
        items = CrmItem.query(f"LEAD#{lead_id}", CrmItem.sk.startswith("SUBMISSION#"))
        found = [_from_submission(i) for i in items if isinstance(i, LeadSubmissionItem)]
        return sorted(found, key=lambda s: (s.received_at, s.submission_id))

    def quarantined(self, limit: int = 100) -> list[StoredLead]:
        items = LeadItem.by_gsi1.query(QUARANTINE_INDEX_KEY, limit=limit)
        return [_from_item(i) for i in items if isinstance(i, LeadItem)]

    def recent(self, limit: int = 100) -> list[StoredLead]:
        """The newest leads out of quarantine (the what-if command's `--last N`); an operator's scan."""
        found = [_from_item(i) for i in LeadItem.scan() if isinstance(i, LeadItem) and not i.quarantined]
        found.sort(key=lambda x: x.created_at, reverse=True)
        return found[:limit]

    def open_leads(self, rep_id: str) -> int:
        return int(LeadItem.by_gsi1.count(f"OWNER#{rep_id}", LeadItem.gsi1sk.startswith("OPEN#")))
