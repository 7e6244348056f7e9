"""POST /mailchimp/webhook/{token}: MailChimp's unsubscribes, cleans and profile changes into the CRM."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import UTC, datetime

from mailchimp_sync.repository import ContactRepository
from mailchimp_sync.webhook import change_for, parse_webhook_form


@dataclass(frozen=True)
class WebhookResult:
    status: int
    applied: bool = False
    note: str = ""


def token_ok(given: str, expected: str) -> bool:
    """Constant-time; an unset expected token never matches."""
    return bool(expected) and hmac.compare_digest(given.encode(), expected.encode())


def receive_webhook(
    token: str,
    expected_token: str,
    body: str,
    repository: ContactRepository,
    *,
    list_id: str | None = None,
    now: datetime | None = None,
) -> WebhookResult:
    """Apply one webhook. A wrong token is 404 and changes nothing; anything else answers 200 so
    MailChimp does not retry what we chose to ignore (api-sourced events, another audience's
    events, unknown people)."""
    if not token_ok(token, expected_token):
        return WebhookResult(404, note="unknown webhook")
    event = parse_webhook_form(body)
    if list_id and event.list_id and event.list_id != list_id:
        return WebhookResult(200, note="another audience")
    change = change_for(event)
    if change is None:
        return WebhookResult(
            200, note=f"{event.type} from {event.source or 'unknown source'}: nothing to change"
        )
    found = repository.find_by_email(change.email)
    if not found:
        return WebhookResult(200, note="no such contact")
    # The same person may be a lead and a CRM contact: the change reaches each of them.
    at = now or datetime.now(UTC)
    applied = [repository.apply_change(key, change, at) for key, _ in found]
    return WebhookResult(200, applied=any(applied), note=event.type if any(applied) else "stale or unchanged")
