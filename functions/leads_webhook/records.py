"""The stored lead and its submission history, as the intake logic sees them, and how a repeat merges.

A lead's id is derived from its email identity (`lead_id_for`), so the same person always maps to the same
item and "one lead per email" is one conditional write (create only if absent), not a lookup then a write.

Merge rules for a repeat of the same email:
- contact details (name, company, title, phone, location) take the newer submission's non-empty values;
- marketing consent takes the newer explicit answer (an absent checkbox says nothing);
- everything else (size, revenue, industry, interest, first-touch campaign and UTM, message) only fills
  fields that are still empty;
- every submission is kept in the history, with its time, source and campaign.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import ConfigDict

from leads_webhook.submission import LeadDetails, NormalisedLead
from shared.leads import LeadFields, SubmissionFields, lead_id_for

# The merge rules' groups (see above): contact details take the newer submission's values.
CONTACT_FIELDS = (
    "first_name",
    "last_name",
    "company",
    "title",
    "phone",
    "phone_raw",
    "country",
    "state",
    "postal_code",
)
# Everything else a lead tells of its person (``shared.leads.LeadFields``) but the identity and the consent.
FILL_FIELDS = tuple(
    name for name in LeadFields.model_fields if name not in {*CONTACT_FIELDS, "email", "marketing_opt_in"}
)
OPEN_STATUSES = ("New", "Working")
STATUS_NEW = "New"
STATUS_QUARANTINED = "Quarantined"
Outcome = Literal["created", "merged", "quarantined"]


class StoredLead(LeadDetails):
    """A lead as kept in the CRM table (mapped to and from `shared.store.crm.Lead` by the storage)."""

    lead_id: str
    status: str = STATUS_NEW
    source: str | None = None
    owner: str | None = None  # a rep's id; a lead in a queue has none (see `queue`)
    territory_id: str | None = None
    quarantined: bool = False
    quarantine_reasons: tuple[str, ...] = ()
    assignment: dict[str, Any] | None = None
    marketing_status: str | None = (
        None  # MailChimp's (unsubscribed, cleaned): the intake only sets it at creation
    )
    created_at: datetime
    updated_at: datetime
    version: int = 0

    @property
    def needs_routing(self) -> bool:
        return not self.quarantined and self.assignment is None

    @property
    def queue(self) -> str | None:
        """The queue holding the lead when no rep could take it (`owner` is then empty)."""
        if self.assignment and self.assignment.get("owner_type") == "queue":
            return str(self.assignment.get("owner"))
        return None


class SubmissionRecord(SubmissionFields):
    """One submission in a lead's history (its fields: ``shared.leads.SubmissionFields``)."""

    # Built at import, as a model the intake validates on every request.
    model_config = ConfigDict(frozen=True, defer_build=False)

    outcome: Outcome


def new_lead(
    lead: NormalisedLead,
    *,
    source: str,
    at: datetime,
    quarantine: tuple[str, ...],
    lead_id: str | None = None,
    suppressed: str | None = None,
) -> StoredLead:
    """A new person's lead. ``suppressed``: MailChimp's unsubscribe (or clean) that came for this address
    before the person did; it stands, so the lead starts without marketing consent."""
    data = lead.model_dump(include=set(LeadFields.model_fields))
    if suppressed is not None:
        data.update(marketing_opt_in=False, marketing_status=suppressed)
    return StoredLead(
        lead_id=lead_id or lead_id_for(lead.email_key),
        source=source,
        status=STATUS_QUARANTINED if quarantine else STATUS_NEW,
        quarantined=bool(quarantine),
        quarantine_reasons=quarantine,
        created_at=at,
        updated_at=at,
        **data,
    )


def merge_lead(existing: StoredLead, incoming: NormalisedLead, *, at: datetime) -> StoredLead:
    """The lead after a repeat submission (see the module's merge rules); the version moves on by one."""
    changes: dict[str, Any] = {}
    newer = at >= existing.updated_at
    for name in CONTACT_FIELDS:
        value = getattr(incoming, name)
        if value is not None and (newer or getattr(existing, name) is None):
            changes[name] = value
    if incoming.marketing_opt_in is not None and (newer or existing.marketing_opt_in is None):
        changes["marketing_opt_in"] = incoming.marketing_opt_in
    for name in FILL_FIELDS:
        if getattr(existing, name) is None and getattr(incoming, name) is not None:
            changes[name] = getattr(incoming, name)
    changes["updated_at"] = max(at, existing.updated_at)
    changes["version"] = existing.version + 1
    return existing.model_copy(update=changes)


def submission_record(
    lead: NormalisedLead,
    *,
    lead_id: str,
    source: str,
    at: datetime,
    outcome: Outcome,
    quarantine: tuple[str, ...],
    submission_id: str | None = None,
) -> SubmissionRecord:
    fields = lead.model_dump(exclude_none=True, exclude={"email_key", "email_domain", "phone_valid"})
    return SubmissionRecord(
        submission_id=submission_id or uuid.uuid4().hex,
        lead_id=lead_id,
        received_at=at,
        source=source,
        campaign=lead.campaign,
        utm_source=lead.utm_source,
        utm_medium=lead.utm_medium,
        utm_campaign=lead.utm_campaign,
        outcome=outcome,
        quarantine_reasons=quarantine,
        fields=fields,
    )
