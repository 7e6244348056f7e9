"""What the sync needs to know about a contact, and what it reports back.

Both models build their core schema when first used (``defer_build``): a stream batch is planned from the
records' images (``mailchimp_sync.repository.needs_sync``) and builds a contact only for a record that needs a
sync, so the many batches with nothing to sync (the sync-state writes the sync itself makes, changes to other
fields) never build them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

MemberStatus = Literal["subscribed", "unsubscribed", "cleaned", "pending", "transactional", "archived"]
SyncState = Literal["pending", "synced", "blocked", "failed", "skipped"]
LEFT_STATUSES = frozenset({"unsubscribed", "cleaned"})


class MailchimpContact(BaseModel):
    """A lead or contact as the sync sees it (mapped from the CRM record by the caller)."""

    model_config = ConfigDict(defer_build=True)

    contact_id: str
    email: str
    first_name: str | None = None
    last_name: str | None = None
    company: str | None = None
    phone: str | None = None
    country: str | None = None
    employee_band: str | None = None
    revenue_band: str | None = None
    industry: str | None = None
    campaigns: list[str] = Field(default_factory=list)
    marketing_opt_in: bool = False
    opt_in_at: datetime | None = None
    # MailChimp's status as last learned (sync answers and webhooks) and when it changed
    marketing_status: MemberStatus | None = None
    marketing_status_at: datetime | None = None

    @property
    def has_left(self) -> bool:
        return self.marketing_status in LEFT_STATUSES

    @property
    def opted_in_again(self) -> bool:
        """Opted in after MailChimp recorded the unsubscribe or clean.

        Leaving clears the CRM's opt-in (the webhook sets it false), so an opt-in on a leaver is a
        newer explicit one; when both times are known they must agree."""
        if not (self.has_left and self.marketing_opt_in):
            return False
        if self.opt_in_at and self.marketing_status_at:
            return self.opt_in_at > self.marketing_status_at
        return True


class SyncOutcome(BaseModel):
    """What happened to one contact; the caller records it as the contact's sync state."""

    model_config = ConfigDict(defer_build=True)

    contact_id: str
    state: SyncState
    member_status: MemberStatus | None = None
    member_status_at: datetime | None = None
    reason: str | None = None
    error: str | None = None
    tags_added: list[str] = Field(default_factory=list)
    tags_removed: list[str] = Field(default_factory=list)
