"""Faults on the MailChimp sync's stream: a poison record redelivered after a partial failure, and
MailChimp failing for a while, then recovering. The members and sync states are the run without the fault."""

from __future__ import annotations

from typing import Any

from tests.handlers.test_mailchimp_handler import _hash, lead, stored
from tests.helpers import stream_event

EMAILS = ["ann@example.com", "poison@example.com", "cy@example.com", "dee@example.com"]


def redeliver_after(event: dict[str, Any], answer: dict[str, Any]) -> dict[str, Any] | None:
    """What Lambda delivers again after a partial failure: the batch from the first failed record on."""
    failed = [f["itemIdentifier"] for f in answer["batchItemFailures"]]
    if not failed:
        return None
    numbers = [r["dynamodb"]["SequenceNumber"] for r in event["Records"]]
    return {"Records": event["Records"][numbers.index(failed[0]) :]}


def members(server: Any, emails: list[str]) -> dict[str, Any]:
    found = {}
    for email in emails:
        member = server.member(email)
        found[email] = (
            None if member is None else (member["status"], sorted(t["name"] for t in member.get("tags", [])))
        )
    return found


def test_a_poison_record_redelivered_after_a_partial_failure_loses_and_doubles_nothing(table, handler, fake):
    items = [lead(email) for email in EMAILS]
    for item in items:
        table.put_item(Item=item)
    fake.inject(r"/members/" + _hash("poison@example.com"), status=400, title="Invalid Resource",
                detail="poison", times=-1)  # fmt: skip
    event = stream_event([("INSERT", item, None) for item in items])
    deliveries = 0
    while event is not None and deliveries < 4:  # the mapping's retries, then the dead-letter queue
        answer = handler(event)
        deliveries += 1
        event = redeliver_after(event, answer)
    good = [e for e in EMAILS if e != "poison@example.com"]
    assert members(fake, good) == {e: ("subscribed", members(fake, [e])[e][1]) for e in good}
    for email in good:
        assert stored(table, email)["mailchimp"]["state"] == "synced"
        # each good member was added once, however often its record came again
        assert len(fake.calls_to("PUT", "/members/" + _hash(email) + "$")) <= deliveries
    assert fake.member("poison@example.com") is None
    assert stored(table, "poison@example.com")["mailchimp"]["state"] in ("failed", "blocked")


def test_mailchimp_failing_for_a_while_then_recovering_syncs_everyone_once(table, handler, fake):
    items = [lead(email) for email in EMAILS if email != "poison@example.com"]
    for item in items:
        table.put_item(Item=item)
    fake.inject(r"/members/", status=503, times=8)
    event = stream_event([("INSERT", item, None) for item in items])
    for _ in range(10):
        answer = handler(event)
        event = redeliver_after(event, answer)
        if event is None:
            break
    assert event is None, "still failing after MailChimp recovered"
    emails = [i["email"] for i in items]
    assert {e: s[0] for e, s in members(fake, emails).items()} == dict.fromkeys(emails, "subscribed")
    assert all(stored(table, e)["mailchimp"]["state"] == "synced" for e in emails)


def test_dynamodb_throttling_on_the_sync_state_writes_loses_and_doubles_nothing(table, handler, fake, faults):
    items = [lead(email) for email in EMAILS if email != "poison@example.com"]
    for item in items:
        table.put_item(Item=item)
    # from the first write on: the batch's sync states are one transaction (then, refused, one write each)
    faults.throttle_every, faults.throttle_burst = 1, 6
    event = stream_event([("INSERT", item, None) for item in items])
    for _ in range(12):
        try:
            answer = handler(event)
        except Exception:  # noqa: S112  (the invocation failed: the stream delivers the batch again)
            continue
        event = redeliver_after(event, answer)
        if event is None:
            break
    faults.clear()
    assert event is None and faults.throttled > 0
    emails = [i["email"] for i in items]
    assert {e: s[0] for e, s in members(fake, emails).items()} == dict.fromkeys(emails, "subscribed")
    assert all(stored(table, e)["mailchimp"]["state"] == "synced" for e in emails)
