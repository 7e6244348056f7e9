"""Keep one contact's MailChimp member in step with the CRM, without ever re-subscribing a leaver."""

from __future__ import annotations

import json
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from mailchimp_sync.errors import BlockedMemberError, MailchimpError, MemberNotFoundError
from mailchimp_sync.gateway import Budget, MailchimpGateway, classify
from mailchimp_sync.models import LEFT_STATUSES, MailchimpContact, SyncOutcome
from mailchimp_sync.segments import TagDiff, diff_tags, merge_fields_for, subscriber_hash, tags_for


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
    first = first_request(contact, gateway.config.double_opt_in)
    if isinstance(first, SyncOutcome):
        return first
    operation, hash_, body = first
    try:
        if operation == "put member":
            member = gateway.put_member(hash_, body, budget)
            if needs_reconfirm(contact, member):
                # the CRM had not heard of the unsubscribe, but the opt-in is newer than it
                member = gateway.put_member(hash_, _reconfirm_body(contact, body["merge_fields"]), budget)
        else:
            try:
                member = gateway.patch_member(hash_, body, budget)
            except MemberNotFoundError:
                return _no_opt_in(contact)
        diff = tag_diff(contact, member)
        if diff:
            gateway.update_member_tags(hash_, diff.as_body(), budget)
    except BlockedMemberError as err:
        return _blocked(contact, err)
    return synced_outcome(contact, member, diff)


FirstRequest = tuple[str, str, dict[str, Any]]  # ("put member" | "patch member", subscriber hash, body)


def first_request(contact: MailchimpContact, double_opt_in: bool) -> SyncOutcome | FirstRequest:
    """The member write a contact's sync starts with, or its outcome when nothing is to be sent."""
    if contact.has_left and not contact.opted_in_again:
        return SyncOutcome(
            contact_id=contact.contact_id,
            state="skipped",
            member_status=contact.marketing_status,
            reason=f"{contact.marketing_status} in MailChimp",
        )
    hash_ = subscriber_hash(contact.email)
    merge_fields = merge_fields_for(contact)
    if contact.opted_in_again:
        return "put member", hash_, _reconfirm_body(contact, merge_fields)
    if contact.marketing_opt_in:
        body = {
            "email_address": contact.email,
            "status_if_new": "pending" if double_opt_in else "subscribed",
            "merge_fields": merge_fields,
        }
        return "put member", hash_, body
    return "patch member", hash_, {"merge_fields": merge_fields}


def needs_reconfirm(contact: MailchimpContact, member: dict[str, Any]) -> bool:
    """An upsert answered with a leaver whose opt-in is newer than the leaving: MailChimp's re-confirmation."""
    return (
        not contact.opted_in_again
        and member.get("status") in LEFT_STATUSES
        and _opted_in_after(contact, _parse_time(member.get("last_changed")))
    )


def tag_diff(contact: MailchimpContact, member: dict[str, Any]) -> TagDiff:
    current = {t["name"] for t in member.get("tags", []) if isinstance(t, dict) and t.get("name")}
    return diff_tags(current, tags_for(contact))


def synced_outcome(contact: MailchimpContact, member: dict[str, Any], diff: TagDiff) -> SyncOutcome:
    return SyncOutcome(
        contact_id=contact.contact_id,
        state="synced",
        member_status=member.get("status"),
        member_status_at=_parse_time(member.get("last_changed")),
        tags_added=list(diff.add),
        tags_removed=list(diff.remove),
    )


def _no_opt_in(contact: MailchimpContact) -> SyncOutcome:
    return SyncOutcome(contact_id=contact.contact_id, state="skipped", reason="no marketing opt-in")


def _blocked(contact: MailchimpContact, err: BlockedMemberError) -> SyncOutcome:
    return SyncOutcome(contact_id=contact.contact_id, state="blocked", reason=err.reason, error=err.summary)


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


def sync_in_batches(
    contacts: Iterable[MailchimpContact], gateway: MailchimpGateway, budget: Budget | None = None
) -> list[SyncOutcome | MailchimpError]:
    """Sync several contacts as :func:`sync_contact` does, one result per contact, in order; from
    ``batch_min_contacts`` contacts on through MailChimp's batch endpoint (``POST /batches``): one batch of
    member writes, then one of the tag writes they call for, instead of a call or two per contact.

    Each contact's operation is answered apart in the batch's results, so a member MailChimp refuses fails
    (or is blocked) alone. An operation answered 429 or 5xx, a re-confirmation and an operation missing from
    the results are synced again one by one (the gateway's retries and back-off); every write is an upsert or a
    tag state, so writing one again changes nothing. A batch not finished within the budget fails its contacts
    (the stream sends them again) and is deleted, so MailChimp never applies it after a newer change."""
    contacts = list(contacts)
    budget = budget or Budget.unlimited()
    config = gateway.config
    if not config.batch_min_contacts or len(contacts) < max(config.batch_min_contacts, 2):
        return sync_contacts(contacts, gateway, budget)
    results: dict[int, SyncOutcome | MailchimpError] = {}
    firsts: dict[int, FirstRequest] = {}
    for i, contact in enumerate(contacts):
        first = first_request(contact, config.double_opt_in)
        if isinstance(first, SyncOutcome):
            results[i] = first
        else:
            firsts[i] = first
    one_by_one: list[int] = []
    members: dict[int, dict[str, Any]] = {}
    member_path = f"/lists/{config.list_id}/members"
    writes = {
        i: {"method": "PUT" if operation == "put member" else "PATCH", "path": f"{member_path}/{hash_}",
            "operation_id": str(i), "body": json.dumps(body)}
        for i, (operation, hash_, body) in firsts.items()
    }  # fmt: skip
    for i, answer in _in_batches(writes, gateway, budget).items():
        judged = _judge(contacts[i], firsts[i][0], answer)
        if judged is None or (isinstance(judged, dict) and needs_reconfirm(contacts[i], judged)):
            one_by_one.append(i)
        elif isinstance(judged, dict):
            members[i] = judged
        else:
            results[i] = judged
    diffs = {i: tag_diff(contacts[i], member) for i, member in members.items()}
    tag_writes = {
        i: {"method": "POST", "path": f"{member_path}/{firsts[i][1]}/tags", "operation_id": str(i),
            "body": json.dumps({"tags": diff.as_body(), "is_syncing": True})}
        for i, diff in diffs.items() if diff
    }  # fmt: skip
    tagged = (
        _in_batches(tag_writes, gateway, budget)
        if len(tag_writes) >= max(config.batch_min_contacts, 2)
        else {}
    )
    for i, member in members.items():
        # not in `tagged`: too few for a batch, or missing from its results (None: synced again alone)
        judged = _judge(contacts[i], "update member tags", tagged.get(i)) if i in tag_writes else {}
        if judged is None:
            one_by_one.append(i)
        elif isinstance(judged, dict):
            results[i] = synced_outcome(contacts[i], member, diffs[i])
        else:
            results[i] = judged
    one_by_one.sort()
    for i, result in zip(
        one_by_one, sync_contacts([contacts[i] for i in one_by_one], gateway, budget), strict=True
    ):
        results[i] = result
    return [results[i] for i in range(len(contacts))]


BatchAnswer = dict[str, Any] | tuple[int, Any] | MailchimpError | None


def _judge(
    contact: MailchimpContact, operation: str, answer: BatchAnswer
) -> dict[str, Any] | SyncOutcome | MailchimpError | None:
    """What a batch's answer to one of a contact's operations comes to: the 2xx answer, the contact's final
    result (blocked, skipped, or an error to record as failed), or None to sync the contact again on its own
    (missing from the results, 429 or 5xx)."""
    if not isinstance(answer, tuple):
        return answer
    failure = classify(operation, *answer)
    if failure.retryable:
        return None
    if isinstance(failure.error, BlockedMemberError):
        return _blocked(contact, failure.error)
    if isinstance(failure.error, MemberNotFoundError) and operation == "patch member":
        return _no_opt_in(contact)
    return failure.error


def _in_batches(
    operations: dict[int, dict[str, Any]], gateway: MailchimpGateway, budget: Budget
) -> dict[int, BatchAnswer]:
    """Run the operations in batches of at most ``batch_max_operations``; per operation the parsed 2xx answer,
    ``(status, problem)`` for an error answer, None when missing from the results, or the error that stopped
    its whole batch (not accepted, not finished within the budget)."""
    answers: dict[int, BatchAnswer] = {}
    keys = list(operations)
    size = gateway.config.batch_max_operations
    for start in range(0, len(keys), size):
        chunk = keys[start : start + size]
        try:
            results = gateway.run_batch(
                [operations[i] for i in chunk], budget, poll_interval_s=2.0, first_poll_s=0.1
            )
        except MailchimpError as err:
            answers.update(dict.fromkeys(chunk, err))
            continue
        by_id = {str(r.get("operation_id")): r for r in results}
        for i in chunk:
            result = by_id.get(str(i))
            if result is None:
                answers[i] = None
                continue
            status, text = int(result.get("status_code") or 0), result.get("response") or ""
            if 200 <= status < 300:
                try:
                    parsed = json.loads(text) if text else {}
                except ValueError:
                    parsed = {}
                answers[i] = parsed if isinstance(parsed, dict) else {}
            else:
                answers[i] = (status, text)
    return answers
