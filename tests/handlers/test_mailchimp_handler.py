"""mailchimp_sync's handler with real event shapes: moto's AWS, the fake MailChimp on 127.0.0.1."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlencode

import boto3
import pytest

from hub.fake_mailchimp import FakeMailchimp
from tests.helpers import http_event, lead_keys, stream_event

TOKEN = "hook-token-123"
EMAIL = "ada@example.com"


@pytest.fixture
def fake() -> Iterator[FakeMailchimp]:
    with FakeMailchimp() as server:
        yield server


@pytest.fixture
def mailchimp_env(fake: FakeMailchimp, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from mailchimp_sync import app

    from shared.settings import get_settings

    monkeypatch.setenv("MAILCHIMP_URL", fake.url)
    monkeypatch.setenv("MAILCHIMP_API_KEY", "fake-key")
    monkeypatch.setenv("MAILCHIMP_LIST_ID", fake.list_id)
    monkeypatch.setenv("MAILCHIMP_WEBHOOK_TOKEN", TOKEN)
    caches = (get_settings, app.mailchimp_setup, app.gateway_for, app.repository)
    for cache in caches:
        cache.cache_clear()
    yield
    for cache in caches:
        cache.cache_clear()


@pytest.fixture
def table(aws: Any) -> Any:
    return boto3.resource("dynamodb", region_name="us-east-1").Table(aws.table_name("CrmTable"))


@pytest.fixture
def handler(aws: Any, mailchimp_env: None, lambda_context: Any) -> Callable[[dict[str, Any]], dict[str, Any]]:
    from mailchimp_sync.app import handler as mailchimp_handler

    return lambda event: mailchimp_handler(event, lambda_context)


def lead_id(email: str = EMAIL) -> str:
    from leads_webhook.records import lead_id_for

    return lead_id_for(email)


def lead(email: str = EMAIL, **fields: Any) -> dict[str, Any]:
    item = {
        **lead_keys(lead_id(email)),
        "entity": "LEAD",
        "lead_id": lead_id(email),
        "email": email,
        "first_name": "Ada",
        "last_name": "Lovelace",
        "company": "Analytical Engines",
        "employee_band": "50-249",
        "revenue_band": "10M-100M",
        "industry": "Automotive",
        "campaign": "spring-expo",
        "marketing_opt_in": True,
        "quarantined": False,
        "version": 1,
    }
    item.update(fields)
    return item


def stored(table: Any, email: str = EMAIL) -> dict[str, Any]:
    return table.get_item(Key=lead_keys(lead_id(email)), ConsistentRead=True)["Item"]


def change(table: Any, handler: Callable, old: dict[str, Any] | None, **fields: Any) -> tuple[dict, dict]:
    """Write the lead as the CRM would and deliver the stream record; returns (new image, answer)."""
    current = stored(table, old["email"]) if old else None
    new = {**(current or lead()), **fields}
    table.put_item(Item=new)
    answer = handler(stream_event([("MODIFY" if old else "INSERT", new, current)]))
    return new, answer


def webhook(handler: Callable, token: str = TOKEN, **fields: str) -> dict[str, Any]:
    body = urlencode(fields)
    event = http_event(
        "POST",
        f"/mailchimp/webhook/{token}",
        body,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    return handler(event)


def test_a_new_lead_with_opt_in_becomes_a_subscribed_member_and_is_marked_synced(table, handler, fake):
    # Given the lead written, as the stream record follows the write
    table.put_item(Item=lead())
    # When its record is delivered
    answer = handler(stream_event([("INSERT", lead(), None)]))
    # Then the member, its tags and the lead's sync state are there
    assert answer == {"batchItemFailures": []}
    assert fake.member(EMAIL)["status"] == "subscribed"
    assert {"employees:50-249", "industry:automotive", "campaign:spring-expo"} <= fake.tags(EMAIL)
    state = stored(table)["mailchimp"]
    assert state["state"] == "synced"
    assert state["member_status"] == "subscribed"


def test_our_own_sync_state_write_is_not_synced_again(table, handler, fake):
    table.put_item(Item=lead())
    handler(stream_event([("INSERT", lead(), None)]))
    calls = len(fake.calls)
    # When the stream delivers the sync-state write itself
    after = stored(table)
    handler(stream_event([("MODIFY", after, lead())]))
    # Then MailChimp is not called again (no echo loop)
    assert len(fake.calls) == calls


def test_a_final_error_blocks_the_contact_and_the_record_succeeds(table, handler, fake):
    fake.forget(EMAIL)
    table.put_item(Item=lead())
    answer = handler(stream_event([("INSERT", lead(), None)]))
    assert answer == {"batchItemFailures": []}
    state = stored(table)["mailchimp"]
    assert state["state"] == "blocked"
    assert state["reason"] == "forgotten_email"
    assert "Forgotten Email Not Subscribed" in state["last_error"]
    assert state["last_error_at"]


def test_a_mailchimp_outage_fails_only_that_record_and_records_failed(table, handler, fake, monkeypatch):
    # Given two leads, and MailChimp down for the second one only
    other = lead("bob@example.com")
    table.put_item(Item=lead())
    table.put_item(Item=other)
    fake.inject(r"/members/" + _hash("bob@example.com"), status=503, times=-1)
    from mailchimp_sync import app

    gateway = app.gateway_for(app.mailchimp_setup())
    monkeypatch.setattr(gateway, "_sleep", lambda _: None)
    event = stream_event([("INSERT", lead(), None), ("INSERT", other, None)])
    # When the batch is handled
    answer = handler(event)
    # Then only Bob's record is handed back to the stream, and his state says failed
    assert answer == {
        "batchItemFailures": [{"itemIdentifier": event["Records"][1]["dynamodb"]["SequenceNumber"]}]
    }
    assert stored(table, "bob@example.com")["mailchimp"]["state"] == "failed"
    assert "503" in stored(table, "bob@example.com")["mailchimp"]["last_error"]
    assert stored(table)["mailchimp"]["state"] == "synced"


def test_quarantined_and_non_opted_in_leads_are_not_added(table, handler, fake):
    spam = lead("spam@example.com", quarantined=True)
    quiet = lead("quiet@example.com", marketing_opt_in=False)
    for item in (spam, quiet):
        table.put_item(Item=item)
    handler(stream_event([("INSERT", spam, None), ("INSERT", quiet, None)]))
    assert fake.member("spam@example.com") is None
    assert fake.member("quiet@example.com") is None
    assert "mailchimp" not in stored(table, "spam@example.com")
    assert stored(table, "quiet@example.com")["mailchimp"]["state"] == "skipped"


def test_an_unsubscribed_member_is_still_unsubscribed_after_ten_more_crm_changes(table, handler, fake):
    # Given a synced lead who then unsubscribes in MailChimp (and MailChimp tells us)
    table.put_item(Item=lead())
    handler(stream_event([("INSERT", lead(), None)]))
    fake.set_status(EMAIL, "unsubscribed")
    assert (
        webhook(handler, type="unsubscribe", fired_at="2026-11-23 07:00:00", **{"data[email]": EMAIL})[
            "statusCode"
        ]
        == 200
    )
    assert stored(table)["marketing_status"] == "unsubscribed"
    fake.reset_counters()
    # When the CRM changes the lead ten more times (one of them a form without the opt-in box)
    current = stored(table)
    for n in range(10):
        current, answer = change(
            table, handler, current, company=f"Analytical Engines {n}", employee_band="250-999"
        )
        assert answer == {"batchItemFailures": []}
    # Then the member is still unsubscribed, and MailChimp was not even asked
    assert fake.member(EMAIL)["status"] == "unsubscribed"
    assert fake.calls_to("PUT") == []
    assert stored(table)["mailchimp"]["state"] == "skipped"


def test_without_the_webhook_a_sync_never_resubscribes_an_unsubscribed_member(table, handler, fake):
    fake.seed_member(EMAIL, "unsubscribed")
    current = lead()
    table.put_item(Item=current)
    handler(stream_event([("INSERT", current, None)]))
    for n in range(10):
        current, _ = change(table, handler, current, company=f"Co {n}")
    assert fake.member(EMAIL)["status"] == "unsubscribed"
    assert all("status" not in c.body for c in fake.calls_to("PUT"))
    assert stored(table)["mailchimp"]["member_status"] == "unsubscribed"


def test_opting_in_again_after_unsubscribing_asks_for_reconfirmation(table, handler, fake):
    table.put_item(Item=lead())
    handler(stream_event([("INSERT", lead(), None)]))
    fake.set_status(EMAIL, "unsubscribed")
    webhook(handler, type="unsubscribe", fired_at="2026-11-23 07:00:00", **{"data[email]": EMAIL})
    assert stored(table)["marketing_opt_in"] is False
    # When the person ticks the opt-in box on a form again
    change(table, handler, stored(table), marketing_opt_in=True)
    # Then MailChimp sends its re-confirmation (pending), never a forced subscribe
    assert fake.member(EMAIL)["status"] == "pending"
    assert all(c.body.get("status") != "subscribed" for c in fake.calls_to("PUT"))


def test_an_api_source_webhook_changes_nothing(table, handler):
    table.put_item(Item=lead())
    before = stored(table)
    answer = webhook(handler, type="unsubscribe", source="api", **{"data[email]": EMAIL})
    assert answer["statusCode"] == 200
    assert stored(table) == before


def test_a_wrong_token_answers_404_and_changes_nothing(table, handler):
    table.put_item(Item=lead())
    before = stored(table)
    assert webhook(handler, token="wrong", type="unsubscribe", **{"data[email]": EMAIL})["statusCode"] == 404
    assert handler(http_event("GET", "/mailchimp/webhook/wrong"))["statusCode"] == 404
    assert stored(table) == before


def test_an_oversized_webhook_is_413_and_changes_nothing(table, handler):
    table.put_item(Item=lead())
    before = stored(table)
    answer = webhook(
        handler, type="unsubscribe", **{"data[email]": EMAIL, "data[merges][FNAME]": "x" * 70_000}
    )
    assert answer["statusCode"] == 413
    assert stored(table) == before


def test_the_webhook_check_answers_200(handler):
    assert handler(http_event("GET", f"/mailchimp/webhook/{TOKEN}"))["statusCode"] == 200


def test_cleaned_sets_the_status_and_profile_and_upemail_update_the_contact(table, handler):
    table.put_item(Item=lead())
    webhook(handler, type="profile", **{"data[email]": EMAIL, "data[merges][FNAME]": "Augusta"})
    assert stored(table)["first_name"] == "Augusta"
    assert stored(table)["version"] == 2
    webhook(handler, type="cleaned", **{"data[email]": EMAIL, "data[reason]": "hard"})
    assert stored(table)["marketing_status"] == "cleaned"
    webhook(handler, type="upemail", **{"data[old_email]": EMAIL, "data[new_email]": "ada@engines.example"})
    item = stored(table)
    assert item["email"] == "ada@engines.example"
    assert item["mailchimp"]["previous_emails"] == [EMAIL]


def test_a_late_older_unsubscribe_does_not_undo_a_newer_subscribe(table, handler):
    table.put_item(Item=lead())
    webhook(handler, type="subscribe", fired_at="2026-11-23 08:00:00", **{"data[email]": EMAIL})
    webhook(handler, type="unsubscribe", fired_at="2026-11-23 07:00:00", **{"data[email]": EMAIL})
    assert stored(table)["marketing_status"] == "subscribed"


def test_the_lead_read_route_shows_the_sync_state(table, handler, lambda_context):
    from reports_api.app import handler as reports

    table.put_item(Item=lead())
    handler(stream_event([("INSERT", lead(), None)]))
    answer = reports(http_event("GET", f"/leads/{lead_id()}", authorized=True), lambda_context)
    assert answer["statusCode"] == 200
    assert json.loads(answer["body"])["mailchimp"]["state"] == "synced"


def _hash(email: str) -> str:
    from mailchimp_sync.segments import subscriber_hash

    return subscriber_hash(email)


def test_an_event_of_another_audience_changes_nothing(table, handler):
    table.put_item(Item=lead())
    before = stored(table)
    answer = webhook(handler, type="unsubscribe", **{"data[email]": EMAIL, "data[list_id]": "another-list"})
    assert answer["statusCode"] == 200
    assert stored(table) == before


def test_an_unsubscribe_reaches_a_crm_contact_too(table, handler):
    from datetime import UTC, datetime

    from shared.store import crm
    from shared.store.common import Version

    # Given a CRM contact (from an external CRM) and a lead of the same person, and a contact alone
    store = crm.DynamoCrmStore()
    at = Version(datetime(2026, 11, 22, 9, tzinfo=UTC), "c1")
    store.upsert_contact(
        crm.Contact(contact_id="c-1", account_id="acc-1", email=EMAIL, marketing_opt_in=True), at
    )
    store.upsert_contact(crm.Contact(contact_id="c-2", email="grace@example.com", marketing_opt_in=True), at)
    table.put_item(Item=lead())
    # When MailChimp says each unsubscribed
    for email in (EMAIL, "grace@example.com"):
        answer = webhook(
            handler, type="unsubscribe", fired_at="2026-11-23 07:00:00", **{"data[email]": email}
        )
        assert json.loads(answer["body"])["applied"] is True
    # Then every record of each person stops being marketed to
    for contact_id in ("c-1", "c-2"):
        contact = store.get_contact(contact_id)
        assert (contact.marketing_status, contact.marketing_opt_in) == ("unsubscribed", False)
        assert contact.mailchimp["member_status"] == "unsubscribed"
    assert stored(table)["marketing_status"] == "unsubscribed"
    # And the CRM's next description of the contact does not bring the consent back
    later = Version(datetime(2026, 11, 24, 9, tzinfo=UTC), "c3")
    store.upsert_contact(crm.Contact(contact_id="c-2", email="grace@example.com", first_name="Grace"), later)
    assert store.get_contact("c-2").marketing_status == "unsubscribed"


def test_a_busy_table_answers_the_webhook_503_so_mailchimp_retries(table, handler, monkeypatch):
    from shared.store import crm
    from shared.store.errors import Throttled

    table.put_item(Item=lead())

    def busy(self, lead_id):
        raise Throttled("ProvisionedThroughputExceededException")

    monkeypatch.setattr(crm.DynamoCrmStore, "get_lead", busy)
    answer = webhook(handler, type="unsubscribe", **{"data[email]": EMAIL})
    assert (answer["statusCode"], answer["headers"]["Retry-After"]) == (503, "5")


# ------------------------------------------------------------------ a list: MailChimp's batch endpoint
# A stream batch of many contacts (a trade-show list) is synced through POST /batches: one batch of member writes
# and one of tag writes instead of a call or two per contact, each contact's answer still its own (the fake runs
# each operation of a batch as the single call would, faults included).
OPTED_IN = [f"keen{n}@example.com" for n in range(8)]
NO_OPT_IN = [f"visitor{n}@example.com" for n in range(6)]
FORGOTTEN, POISON, FLAKY = "gone@example.com", "poison@example.com", "flaky@example.com"


@pytest.fixture
def no_backoff(monkeypatch: pytest.MonkeyPatch, mailchimp_env: None) -> None:
    from mailchimp_sync import app

    monkeypatch.setattr(app.gateway_for(app.mailchimp_setup()), "_sleep", lambda _: None)


def _failed(answer: dict[str, Any]) -> list[str]:
    return [f["itemIdentifier"] for f in answer["batchItemFailures"]]


def test_a_list_of_contacts_goes_in_two_batches_and_each_answer_stays_its_own(
    table, handler, fake, no_backoff
):
    # Given 17 leads in one stream batch: 8 opted in, 6 without opt-in (2 of them already members), one address
    # MailChimp has forgotten (GDPR), one MailChimp refuses with a 400 (a poison), one whose write MailChimp
    # answers 503 inside the batch; and MailChimp's first answer to POST /batches is a 429
    people = [lead(e) for e in OPTED_IN] + [lead(e, marketing_opt_in=False) for e in NO_OPT_IN]
    people += [lead(FORGOTTEN), lead(POISON), lead(FLAKY)]
    for person in people:
        table.put_item(Item=person)
    fake.seed_member(NO_OPT_IN[0])
    fake.seed_member(NO_OPT_IN[1])
    fake.forget(FORGOTTEN)
    fake.inject(
        r"/members/" + _hash(POISON) + "$", status=400, title="Bad Request", detail="Poisoned.", times=-1
    )
    fake.inject(r"/members/" + _hash(FLAKY) + "$", status=503, times=1)
    fake.inject(r"^/batches/?$", method="POST", status=429, times=1)
    fake.reset_counters()
    event = stream_event([("INSERT", person, None) for person in people])
    poison_sequence = event["Records"][people.index(lead(POISON))]["dynamodb"]["SequenceNumber"]

    # When the batch is delivered
    answer = handler(event)

    # Then only the poison's record goes back to the stream
    assert _failed(answer) == [poison_sequence]
    # and MailChimp got two batches (the member writes, then the tag writes) after its 429, and one call of its
    # own only for the contact whose write was answered 503 in the batch
    batches = fake.calls_to("POST", r"/3.0/batches/?$")
    assert [c.status for c in batches] == [429, 200, 200]
    member_writes = [c for c in fake.calls if c.batch_id and c.method in ("PUT", "PATCH")]
    assert len(member_writes) == len(people)  # one each (the forgotten address too: MailChimp refuses it)
    assert [
        (c.method, c.path.rsplit("/", 1)[1]) for c in fake.calls if not c.batch_id and "/members/" in c.path
    ] == [
        ("PUT", _hash(FLAKY)),
        ("POST", "tags"),
    ]
    # and each contact's state is its own answer
    states = {person["email"]: stored(table, person["email"])["mailchimp"]["state"] for person in people}
    assert states == {**dict.fromkeys([*OPTED_IN, FLAKY], "synced"), NO_OPT_IN[0]: "synced", NO_OPT_IN[1]: "synced",
                      **dict.fromkeys(NO_OPT_IN[2:], "skipped"), FORGOTTEN: "blocked", POISON: "failed"}  # fmt: skip
    assert "Poisoned." in stored(table, POISON)["mailchimp"]["last_error"]
    for email in [*OPTED_IN, FLAKY]:
        assert fake.member(email)["status"] == "subscribed"
        assert {"employees:50-249", "industry:automotive", "campaign:spring-expo"} <= fake.tags(email)
    assert fake.member(NO_OPT_IN[2]) is None  # no opt-in: nobody added
    assert fake.tags(NO_OPT_IN[0]) >= {"industry:automotive"}  # an existing member's tags follow the CRM

    # When the stream delivers the same batch again (at-least-once)
    members_before = {e: fake.member(e) for e in OPTED_IN}
    again = handler(event)

    # Then the outcome is the same, and no member changed
    assert _failed(again) == [poison_sequence]
    assert {e: stored(table, e)["mailchimp"]["state"] for e in states} == states
    assert {e: fake.member(e) for e in OPTED_IN} == members_before


def test_a_batch_mailchimp_does_not_accept_fails_every_record_for_the_stream_to_retry(
    table, handler, fake, no_backoff
):
    # Given 12 opted-in leads, and MailChimp answering 429 to every POST /batches (the budget's retries run out)
    people = [lead(f"many{n}@example.com") for n in range(12)]
    for person in people:
        table.put_item(Item=person)
    fake.inject(r"^/batches/?$", method="POST", status=429, times=-1)
    event = stream_event([("INSERT", person, None) for person in people])

    # When the batch is delivered, then the invocation fails as a whole (every record failed: the stream
    # delivers the batch again)
    from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

    with pytest.raises(BatchProcessingError, match="All records failed"):
        handler(event)

    # and each is marked failed with MailChimp's answer; no member was written
    assert {stored(table, p["email"])["mailchimp"]["state"] for p in people} == {"failed"}
    assert "429" in stored(table, people[0]["email"])["mailchimp"]["last_error"]
    assert [c for c in fake.calls if "/members/" in c.path] == []

    # When MailChimp accepts batches again and the stream retries
    fake.clear_faults()
    assert handler(event) == {"batchItemFailures": []}
    assert {stored(table, p["email"])["mailchimp"]["state"] for p in people} == {"synced"}


def test_batches_can_be_turned_off_and_each_contact_is_synced_by_its_own_calls(
    table, handler, fake, monkeypatch
):
    # Given MAILCHIMP_BATCH_MIN_CONTACTS=0 and 12 opted-in leads in one stream batch
    monkeypatch.setenv("MAILCHIMP_BATCH_MIN_CONTACTS", "0")
    people = [lead(f"single{n}@example.com") for n in range(12)]
    for person in people:
        table.put_item(Item=person)
    # When the batch is delivered
    assert handler(stream_event([("INSERT", person, None) for person in people])) == {"batchItemFailures": []}
    # Then no batch was sent, each contact had its own upsert, and all are synced
    assert fake.calls_to("POST", r"/3.0/batches/?$") == []
    assert len(fake.calls_to("PUT", r"/members/")) == len(people)
    assert {stored(table, p["email"])["mailchimp"]["state"] for p in people} == {"synced"}
