"""MailChimp's webhooks (form-encoded, as MailChimp posts them) turned into changes to a contact.

Webhook data is checked like the lead form's (``shared.lead_submission``: the same model): addresses
must be addresses, a profile's fields are cleaned and limited as the form's are (a bad one is left out,
named in ``ContactChange.ignored`` with the reason, never its value), and a ``fired_at`` more than
``FUTURE_SKEW`` ahead of now is refused (``WebhookRefused``): it would make every later status change
for the person look stale.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Literal
from urllib.parse import parse_qs

from pydantic import BaseModel, Field

from shared.lead_submission import check_person_fields, checked_email, normalise_phone

WebhookType = Literal["subscribe", "unsubscribe", "profile", "upemail", "cleaned", "campaign"]

# merge field tag -> contact field written back by a `profile` event
PROFILE_FIELDS = {
    "FNAME": "first_name",
    "LNAME": "last_name",
    "COMPANY": "company",
    "PHONE": "phone",
    "COUNTRY": "country",
}
FUTURE_SKEW = timedelta(minutes=5)  # MailChimp's clock and ours may differ this much, no more
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
    ignored: list[str] = Field(default_factory=list)  # "<field>: <reason>" of values left out


class WebhookRefused(ValueError):
    """A webhook whose data cannot be used at all (the reason names fields, never values)."""


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


def change_for(event: MailchimpWebhookEvent, *, now: datetime | None = None) -> ContactChange | None:
    """The change to make, or ``None`` for events that change nothing; ``WebhookRefused`` for data
    that cannot be used (an address that is not one, a ``fired_at`` in the future).

    Events from source ``api`` are our own writes coming back: ignored, so there is no echo loop."""
    if (event.source or "").lower() == "api" or not event.contact_email:
        return None
    if event.type not in {"unsubscribe", "cleaned", "subscribe", "profile", "upemail"}:
        return None
    moment = now or datetime.now(UTC)
    if event.fired_at > moment + FUTURE_SKEW:
        raise WebhookRefused(f"fired_at is more than {int(FUTURE_SKEW.total_seconds())} s in the future")
    email = checked_email(event.contact_email)
    if email is None:
        name = "data[old_email]" if event.type == "upemail" else "data[email]"
        raise WebhookRefused(f"{name} is not a valid email address")
    if event.type in {"unsubscribe", "cleaned"}:
        status = "unsubscribed" if event.type == "unsubscribe" else "cleaned"
        reason = _short_text(event.reason)
        return ContactChange(
            email=email, marketing_status=status, marketing_status_at=event.fired_at, reason=reason
        )
    if event.type == "subscribe":
        return ContactChange(email=email, marketing_status="subscribed", marketing_status_at=event.fired_at)
    if event.type == "profile":
        given = {PROFILE_FIELDS[k]: v for k, v in event.merges.items() if k in PROFILE_FIELDS and v.strip()}
        fields, errors = check_person_fields(given)
        if "phone" in fields:
            fields["phone"] = normalise_phone(fields["phone"], fields.get("country"))[0]
        kept = {k: str(v) for k, v in fields.items() if v is not None}
        ignored = [f"{e.field}: {e.message}" for e in errors]
        if not kept and not ignored:
            return None
        return ContactChange(email=email, fields=kept, ignored=ignored)
    if event.type == "upemail" and event.new_email:
        new_email = checked_email(event.new_email)
        if new_email is None:
            raise WebhookRefused("data[new_email] is not a valid email address")
        return ContactChange(email=email, new_email=new_email)
    return None


def _short_text(value: str | None) -> str | None:
    """A free-text reason as MailChimp sends it, on one line and not too long."""
    if value is None:
        return None
    text = " ".join(value.split())[:200]
    return text or None
