"""POST /mailchimp/webhook/{token}: MailChimp's unsubscribes, cleans and profile changes into the CRM."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import UTC, datetime

from mailchimp_sync.repository import ContactRepository
from mailchimp_sync.webhook import WebhookRefused, change_for, parse_webhook_form


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
    """Apply one webhook. A wrong token is 404 and changes nothing; data that cannot be used (an
    address that is not one, ``fired_at`` in the future) is 422 with the reason; anything else answers
    200 so MailChimp does not retry what we chose to ignore (api-sourced events, another audience's
    events). A status for an address the hub has no person for is kept (the suppression list) and
    applied when that person arrives; a profile's bad fields are left out, named in the note."""
    if not token_ok(token, expected_token):
        return WebhookResult(404, note="unknown webhook")
    event = parse_webhook_form(body)
    if list_id and event.list_id and event.list_id != list_id:
        return WebhookResult(200, note="another audience")
    at = now or datetime.now(UTC)
    try:
        change = change_for(event, now=at)
    except WebhookRefused as exc:
        return WebhookResult(422, note=f"refused: {exc}")
    if change is None:
        return WebhookResult(
            200, note=f"{event.type} from {event.source or 'unknown source'}: nothing to change"
        )
    ignored = f"; ignored {', '.join(change.ignored)}" if change.ignored else ""
    found = repository.find_by_email(change.email)
    if not found:
        if change.marketing_status is not None:
            kept = repository.keep_unknown_status(change, at)
            note = (
                "kept for an address without a person (suppression list)"
                if kept
                else "older than the kept status"
            )
            return WebhookResult(200, applied=kept, note=note)
        return WebhookResult(200, note="no such contact" + ignored)
    # The same person may be a lead and a CRM contact: the change reaches each of them.
    applied = [repository.apply_change(key, change, at) for key, _ in found]
    note = event.type if any(applied) else "stale or unchanged"
    return WebhookResult(200, applied=any(applied), note=note + ignored)
