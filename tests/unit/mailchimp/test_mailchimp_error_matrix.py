"""The error matrix, each case through the real mailchimp_marketing client against the fake server."""

from __future__ import annotations

import hashlib
import time

import pytest
from mailchimp_sync.errors import (
    MailchimpRequestError,
    RetryableMailchimpError,
)
from mailchimp_sync.gateway import Budget
from mailchimp_sync.segments import subscriber_hash
from mailchimp_sync.sync import sync_contact

MEMBER = r"/members/[0-9a-f]{32}$"


@pytest.mark.parametrize(
    ("fault", "label"),
    [
        ({"status": 429}, "429 Too Many Requests"),
        ({"status": 500}, "500 problem+json"),
        ({"status": 503}, "503"),
        ({"status": 500, "body": ""}, "500 with an empty body (the client does not raise)"),
        ({"status": 502, "body": "<html>bad gateway</html>"}, "502 with a non-JSON body"),
        ({"hang": 5}, "a hang past the call time-out"),
    ],
)
def test_transient_failures_are_retried_then_succeed(fake, make_gateway, make_contact, fault, label):
    # Given MailChimp fails the member upsert twice
    gateway = make_gateway(timeout_s=0.5)
    fake.inject(MEMBER, method="PUT", times=2, **fault)
    # When a contact is synced
    outcome = sync_contact(make_contact(), gateway, Budget.seconds(20))
    # Then the third attempt went through and the member exists
    assert outcome.state == "synced", label
    assert len(fake.calls_to("PUT", MEMBER)) == 3
    assert fake.member("ada@example.com")["status"] == "subscribed"
    assert gateway.retries == 2


@pytest.mark.parametrize(
    "fault",
    [{"status": 429}, {"status": 503}, {"status": 500, "body": ""}, {"hang": 5}],
)
def test_persistent_transient_failure_gives_up_as_retryable_within_the_budget(
    fake, make_gateway, make_contact, fault
):
    # Given MailChimp keeps failing
    gateway = make_gateway(timeout_s=0.5, max_attempts=100, backoff_base_s=0.05, backoff_cap_s=0.2)
    fake.inject(MEMBER, method="PUT", times=-1, **fault)
    started = time.monotonic()
    # When a contact is synced with 1.6 seconds left
    with pytest.raises(RetryableMailchimpError) as caught:
        sync_contact(make_contact(), gateway, Budget.seconds(1.6))
    # Then it gave up inside the budget, having retried, and says it may be retried later
    assert time.monotonic() - started < 2.0
    assert caught.value.attempts >= 2
    deadline = time.monotonic() + 1  # a hung call is recorded once the server sees the client leave
    while len(fake.calls_to("PUT", MEMBER)) < caught.value.attempts and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(fake.calls_to("PUT", MEMBER)) == caught.value.attempts


def test_attempts_are_bounded_without_a_deadline(fake, make_gateway, make_contact):
    gateway = make_gateway(max_attempts=3)
    fake.inject(MEMBER, method="PUT", status=503, times=-1)
    with pytest.raises(RetryableMailchimpError) as caught:
        sync_contact(make_contact(), gateway)
    assert caught.value.attempts == 3
    assert caught.value.status == 503
    assert "Service Unavailable" in caught.value.summary


def test_compliance_state_is_final_and_not_retried(fake, gateway, make_contact):
    # Given a member who unsubscribed, and a (mis)forced re-subscribe answer from MailChimp
    fake.inject(MEMBER, method="PUT", compliance=True)
    # When synced
    outcome = sync_contact(make_contact(), gateway)
    # Then the contact is blocked with the reason and MailChimp was asked once
    assert outcome.state == "blocked"
    assert outcome.reason == "compliance_state"
    assert "Member In Compliance State" in outcome.error
    assert len(fake.calls_to("PUT", MEMBER)) == 1


def test_forgotten_email_is_final(fake, gateway, make_contact):
    # Given the person asked MailChimp to forget them
    fake.forget("ada@example.com")
    outcome = sync_contact(make_contact(), gateway)
    assert outcome.state == "blocked"
    assert outcome.reason == "forgotten_email"
    assert "Forgotten Email Not Subscribed" in outcome.error
    assert len(fake.calls_to("PUT", MEMBER)) == 1
    assert fake.member("ada@example.com") is None


def test_invalid_email_is_final(fake, gateway, make_contact):
    outcome = sync_contact(make_contact("ada@nowhere"), gateway)
    assert outcome.state == "blocked"
    assert outcome.reason == "invalid_email"
    assert "Invalid Resource" in outcome.error
    assert len(fake.calls_to("PUT", MEMBER)) == 1


def test_another_client_error_is_not_retried_and_not_blocked(fake, make_gateway, make_contact):
    # Given a list id MailChimp does not know (a configuration error, not the contact's fault)
    gateway = make_gateway(list_id="nosuchlist")
    with pytest.raises(MailchimpRequestError) as caught:
        sync_contact(make_contact(), gateway)
    assert caught.value.status == 404
    assert len(fake.calls_to("PUT", MEMBER)) == 1


def test_every_call_has_a_timeout_of_at_most_ten_seconds(make_gateway):
    gateway = make_gateway(timeout_s=120)
    assert gateway.config.timeout_s == 10
    gateway.ping()
    assert gateway._client().api_client.timeout <= 10


def test_the_call_timeout_shrinks_to_the_budget(fake, make_gateway):
    # Given a hang and only 1.5 s left
    gateway = make_gateway(timeout_s=10, max_attempts=1)
    fake.inject("/ping", hang=10)
    started = time.monotonic()
    with pytest.raises(RetryableMailchimpError):
        gateway.ping(Budget.seconds(1.5))
    # Then the call was cut at the budget, not at ten seconds
    assert time.monotonic() - started < 2.5


def test_tag_write_failure_is_retried(fake, gateway, make_contact):
    fake.inject(r"/tags$", method="POST", status=500, times=1)
    outcome = sync_contact(make_contact(), gateway)
    assert outcome.state == "synced"
    assert "employees:50-249" in fake.tags("ada@example.com")
    assert len(fake.calls_to("POST", r"/tags$")) == 2


def test_subscriber_hash_is_md5_of_the_lowercased_email():
    expected = hashlib.md5(b"ada@example.com").hexdigest()  # noqa: S324
    assert subscriber_hash(" Ada@Example.COM ") == expected


def test_member_data_mailchimp_refuses_is_final_not_dead_lettered(fake, gateway, make_contact):
    # Given MailChimp refuses the member's merge field values
    fake.inject(
        MEMBER, method="PUT", status=400, title="Invalid Resource", detail="Your merge fields were invalid."
    )
    outcome = sync_contact(make_contact(), gateway)
    # Then the contact is blocked with the reason, after one call
    assert outcome.state == "blocked"
    assert outcome.reason == "invalid_resource"
    assert "Your merge fields were invalid." in outcome.error
    assert len(fake.calls_to("PUT", MEMBER)) == 1
