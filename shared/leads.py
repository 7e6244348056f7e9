"""A lead's identity, shared by the functions that meet a person by email (leads_webhook, mailchimp_sync),
and the one list of what a lead tells of its person (`LeadFields`): the intake's models
(``leads_webhook.submission.LeadDetails``) and the CRM store's lead record (``shared.store.crm.Lead``)
both take their fields from it, so a new lead field is one edit here (and its item attribute in the store).
Likewise one submission in a lead's history (`SubmissionFields`: ``leads_webhook.records.SubmissionRecord``
and ``shared.store.crm.LeadSubmission``).

The lead itself (the submission model, parsing, normalisation) is `leads_webhook`'s.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


def email_key(email: str) -> str:
    """The identity of a person: the address, trimmed and compared case-insensitively."""
    return email.strip().lower()


# A lead's id is derived from its email identity, so the same person always maps to the same
# lead: the intake dedupes with one conditional write, and MailChimp's webhooks find the lead.
LEAD_NAMESPACE = uuid.UUID("5b0f8a3e-6d1c-4e55-9b0a-2f4c7e1d8a90")


def lead_id_for(email_key: str) -> str:
    return uuid.uuid5(LEAD_NAMESPACE, email_key).hex


class LeadFields(BaseModel):
    """What the hub knows of a person, normalised (names are contracts: docs/data-model.md's lead item).

    Only a base: its schema is never built itself (``defer_build``); a subclass builds its own."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    email: str
    first_name: str | None = None
    last_name: str | None = None
    company: str | None = None
    title: str | None = None
    phone: str | None = None
    phone_raw: str | None = None
    country: str | None = None
    state: str | None = None
    postal_code: str | None = None
    employees: int | None = None
    employee_band: str | None = None
    annual_revenue: Decimal | None = None
    revenue_band: str | None = None
    industry: str | None = None
    product_interest: str | None = None
    campaign: str | None = None
    utm_source: str | None = None
    utm_medium: str | None = None
    utm_campaign: str | None = None
    message: str | None = None
    marketing_opt_in: bool | None = None


class SubmissionFields(BaseModel):
    """One submission in a lead's history (names are contracts: docs/data-model.md's submission item).

    Only a base, like `LeadFields`."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    submission_id: str
    lead_id: str
    received_at: datetime
    source: str
    outcome: str
    campaign: str | None = None
    utm_source: str | None = None
    utm_medium: str | None = None
    utm_campaign: str | None = None
    quarantine_reasons: tuple[str, ...] = ()
    fields: dict[str, Any] = Field(default_factory=dict)
