"""MailChimp's webhooks (form-encoded, as MailChimp posts them) turned into changes to a contact."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Literal
from urllib.parse import parse_qs

from pydantic import BaseModel, Field

WebhookType = Literal["subscribe", "unsubscribe", "profile", "upemail", "cleaned", "campaign"]

# merge field tag -> contact field written back by a `profile` event
PROFILE_FIELDS = {
    "FNAME": "first_name",
    "LNAME": "last_name",
    "COMPANY": "company",
    "PHONE": "phone",
    "COUNTRY": "country",
}
_KEY = re.compile(r"^data\[(?P<a>[^\]]+)\](?:\[(?P<b>[^\]]+)\])?$")


class MailchimpWebhookEvent(BaseModel):
    type: WebhookType | str
    fired_at: datetime
    source: str | None = None
    list_id: str | None = None
    email: str | None = None
    old_email: str | None = None
    new_email: str | None = None
    reason: str | None = None
    action: str | None = None
    merges: dict[str, str] = Field(default_factory=dict)

    @property
    def contact_email(self) -> str | None:
        """The email the CRM knows the contact by."""
        return self.old_email if self.type == "upemail" else self.email


class ContactChange(BaseModel):
    """What a webhook does to the contact with ``email``."""

    email: str
    marketing_status: Literal["subscribed", "unsubscribed", "cleaned"] | None = None
    marketing_status_at: datetime | None = None
    reason: str | None = None
    new_email: str | None = None
    fields: dict[str, str] = Field(default_factory=dict)


def parse_webhook_form(body: str | Mapping[str, str]) -> MailchimpWebhookEvent:
    """Parse ``type=unsubscribe&fired_at=...&data[email]=...&data[merges][FNAME]=...``."""
    if isinstance(body, str):
        flat = {k: v[-1] for k, v in parse_qs(body, keep_blank_values=True).items()}
    else:
        flat = dict(body)
    data: dict[str, str] = {}
    merges: dict[str, str] = {}
    for key, value in flat.items():
        match = _KEY.match(key)
        if not match:
            continue
        if match["a"] == "merges" and match["b"]:
            merges[match["b"].upper()] = value
        elif not match["b"]:
            data[match["a"]] = value
    fired_at = _parse_fired_at(flat.get("fired_at"))
    return MailchimpWebhookEvent(
        type=flat.get("type", ""),
        fired_at=fired_at,
        source=flat.get("source") or data.get("source"),
        list_id=data.get("list_id"),
        email=data.get("email") or merges.get("EMAIL"),
        old_email=data.get("old_email"),
        new_email=data.get("new_email"),
        reason=data.get("reason"),
        action=data.get("action"),
        merges=merges,
    )


def _parse_fired_at(value: str | None) -> datetime:
    """MailChimp sends ``2026-11-22 10:00:00`` (UTC); a missing or odd value means now."""
    if value:
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return datetime.now(UTC)


def change_for(event: MailchimpWebhookEvent) -> ContactChange | None:
    """The change to make, or ``None`` for events that change nothing.

    Events from source ``api`` are our own writes coming back: ignored, so there is no echo loop."""
    email = event.contact_email
    if (event.source or "").lower() == "api" or not email:
        return None
    if event.type in {"unsubscribe", "cleaned"}:
        status = "unsubscribed" if event.type == "unsubscribe" else "cleaned"
        return ContactChange(
            email=email, marketing_status=status, marketing_status_at=event.fired_at, reason=event.reason
        )
    if event.type == "subscribe":
        return ContactChange(email=email, marketing_status="subscribed", marketing_status_at=event.fired_at)
    if event.type == "profile":
        fields = {PROFILE_FIELDS[k]: v for k, v in event.merges.items() if k in PROFILE_FIELDS and v.strip()}
        return ContactChange(email=email, fields=fields) if fields else None
    if event.type == "upemail" and event.new_email:
        return ContactChange(email=email, new_email=event.new_email)
    return None
