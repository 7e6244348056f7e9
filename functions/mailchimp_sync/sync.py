"""Keep one contact's MailChimp member in step with the CRM, without ever re-subscribing a leaver."""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from mailchimp_sync.errors import BlockedMemberError, MailchimpError, MemberNotFoundError
from mailchimp_sync.gateway import Budget, MailchimpGateway
from mailchimp_sync.models import LEFT_STATUSES, MailchimpContact, SyncOutcome
from mailchimp_sync.segments import diff_tags, merge_fields_for, subscriber_hash, tags_for


def _as_utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _parse_time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return _as_utc(datetime.fromisoformat(str(value).replace("Z", "+00:00")))
    except ValueError:
        return None


def _opted_in_after(contact: MailchimpContact, moment: datetime | None) -> bool:
    return bool(
        contact.marketing_opt_in and contact.opt_in_at and moment and _as_utc(contact.opt_in_at) > moment
    )


def sync_contact(
    contact: MailchimpContact, gateway: MailchimpGateway, budget: Budget | None = None
) -> SyncOutcome:
    """Upsert the member, its merge fields and its segment tags.

    * opt-in, not a member yet: added with ``status_if_new`` subscribed (pending with double opt-in);
    * no opt-in: an existing member's merge fields and tags are updated, nobody is added;
    * an existing member's status is never changed, so an unsubscribed or cleaned member stays so;
    * a leaver who opts in again (opt-in newer than the unsubscribe) is set to ``pending``, which
      makes MailChimp send its re-confirmation; never a forced ``subscribed``;
    * a contact the CRM knows has left (webhook) is not sent at all.

    Returns ``synced``, ``skipped`` or ``blocked`` (final, with the reason). Raises
    :class:`RetryableMailchimpError` or :class:`MailchimpRequestError` for the caller to record as
    ``failed`` and hand back to the stream."""
    if contact.has_left and not contact.opted_in_again:
        return SyncOutcome(
            contact_id=contact.contact_id,
            state="skipped",
            member_status=contact.marketing_status,
            reason=f"{contact.marketing_status} in MailChimp",
        )
    hash_ = subscriber_hash(contact.email)
    merge_fields = merge_fields_for(contact)
    try:
        if contact.opted_in_again:
            member = gateway.put_member(hash_, _reconfirm_body(contact, merge_fields), budget)
        elif contact.marketing_opt_in:
            body = {
                "email_address": contact.email,
                "status_if_new": "pending" if gateway.config.double_opt_in else "subscribed",
                "merge_fields": merge_fields,
            }
            member = gateway.put_member(hash_, body, budget)
            if member.get("status") in LEFT_STATUSES and _opted_in_after(
                contact, _parse_time(member.get("last_changed"))
            ):
                # the CRM had not heard of the unsubscribe, but the opt-in is newer than it
                member = gateway.put_member(hash_, _reconfirm_body(contact, merge_fields), budget)
        else:
            try:
                member = gateway.patch_member(hash_, {"merge_fields": merge_fields}, budget)
            except MemberNotFoundError:
                return SyncOutcome(
                    contact_id=contact.contact_id, state="skipped", reason="no marketing opt-in"
                )
        current = {t["name"] for t in member.get("tags", []) if isinstance(t, dict) and t.get("name")}
        diff = diff_tags(current, tags_for(contact))
        if diff:
            gateway.update_member_tags(hash_, diff.as_body(), budget)
    except BlockedMemberError as err:
        return SyncOutcome(
            contact_id=contact.contact_id,
            state="blocked",
            reason=err.reason,
            error=err.summary,
        )
    return SyncOutcome(
        contact_id=contact.contact_id,
        state="synced",
        member_status=member.get("status"),
        member_status_at=_parse_time(member.get("last_changed")),
        tags_added=list(diff.add),
        tags_removed=list(diff.remove),
    )


def _reconfirm_body(contact: MailchimpContact, merge_fields: dict[str, str]) -> dict[str, Any]:
    return {
        "email_address": contact.email,
        "status_if_new": "pending",
        "status": "pending",
        "merge_fields": merge_fields,
    }


def failed_outcome(contact: MailchimpContact, error: MailchimpError) -> SyncOutcome:
    return SyncOutcome(contact_id=contact.contact_id, state="failed", error=error.summary)


def sync_contacts(
    contacts: Iterable[MailchimpContact],
    gateway: MailchimpGateway,
    budget: Budget | None = None,
    workers: int | None = None,
) -> list[SyncOutcome | MailchimpError]:
    """Sync several contacts on up to ``max_concurrency`` threads; one result per contact, in order.

    A failure is returned (not raised) so the caller can fail just that record."""
    contacts = list(contacts)

    def one(contact: MailchimpContact) -> SyncOutcome | MailchimpError:
        try:
            return sync_contact(contact, gateway, budget)
        except MailchimpError as err:
            return err

    if len(contacts) <= 1:
        return [one(c) for c in contacts]
    with ThreadPoolExecutor(max_workers=workers or gateway.config.max_concurrency) as pool:
        return list(pool.map(one, contacts))
