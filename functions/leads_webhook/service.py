"""Thin-path lead intake: store a lead with an owner. The full intake (validation,
dedupe, routing, quarantine) builds on this module."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field

from shared.tables import LeadItem


class LeadIn(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    email: str = Field(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    first_name: str | None = Field(default=None, max_length=100)
    last_name: str | None = Field(default=None, max_length=100)
    company: str | None = Field(default=None, max_length=200)


def store_lead(lead: LeadIn, owner: str) -> str:
    """Store a new lead assigned to ``owner``; returns its id."""
    lead_id = uuid.uuid4().hex
    now = datetime.now(UTC)
    LeadItem(
        pk=f"LEAD#{lead_id}",
        sk="LEAD",
        lead_id=lead_id,
        email=lead.email.lower(),
        first_name=lead.first_name,
        last_name=lead.last_name,
        company=lead.company,
        owner=owner,
        gsi1pk=f"OWNER#{owner}",
        gsi1sk=now.isoformat(),
        created_at=now,
        updated_at=now,
    ).save()
    return lead_id
