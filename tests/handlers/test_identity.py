"""One identity per person across email changes, and no unsubscribe dropped (issue 15).

The lead form (leads_webhook) and MailChimp's webhooks (mailchimp_sync) through their handlers, under moto.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.helpers import http_event

TOKEN = "hook-token-identity"


@pytest.fixture
def hub(aws: Any, demo_data: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from leads_webhook.wiring import deployed_services
    from mailchimp_sync import app

    from shared.settings import get_settings

    monkeypatch.setenv("MAILCHIMP_URL", "http://127.0.0.1:9")  # never called: no stream records here
    monkeypatch.setenv("MAILCHIMP_API_KEY", "fake-key")
    monkeypatch.setenv("MAILCHIMP_LIST_ID", "list-1")
    monkeypatch.setenv("MAILCHIMP_WEBHOOK_TOKEN", TOKEN)
    caches = (get_settings, app.mailchimp_setup, app.gateway_for, app.repository, deployed_services)
    for cache in caches:
        cache.cache_clear()
    yield
    for cache in caches:
        cache.cache_clear()


@pytest.fixture
def post_lead(hub: None, lambda_context: Any) -> Callable[..., tuple[int, dict[str, Any]]]:
    from leads_webhook.app import handler

    def post(**fields: Any) -> tuple[int, dict[str, Any]]:
        event = http_event("POST", "/leads", json.dumps(fields), source_ip="198.51.100.77")
        answer = handler(event, lambda_context)
        return answer["statusCode"], json.loads(answer["body"] or "{}")

    return post


@pytest.fixture
def webhook(hub: None, lambda_context: Any) -> Callable[..., tuple[int, dict[str, Any]]]:
    from mailchimp_sync.app import handler

    def send(**fields: str) -> tuple[int, dict[str, Any]]:
        fields.setdefault("fired_at", datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S"))
        event = http_event(
            "POST", f"/mailchimp/webhook/{TOKEN}", urlencode(fields),
            headers={"content-type": "application/x-www-form-urlencoded"},
        )  # fmt: skip
        answer = handler(event, lambda_context)
        return answer["statusCode"], json.loads(answer["body"] or "{}")

    return send


def lead(lead_id: str) -> Any:
    from shared.store.crm import DynamoCrmStore

    return DynamoCrmStore().get_lead(lead_id)


def test_an_unsubscribe_from_the_new_address_after_an_email_change_reaches_the_lead(post_lead, webhook):
    # Given a lead for mc4@ that opted in
    status, body = post_lead(email="mc4@example.com", first_name="Mia", marketing_opt_in=True)
    assert status == 202
    lead_id = body["lead_id"]
    # When MailChimp changes the address, then the person unsubscribes from the new one
    assert (
        webhook(
            type="upemail", **{"data[old_email]": "mc4@example.com", "data[new_email]": "mc4-new@example.com"}
        )[0]
        == 200
    )
    status, answer = webhook(type="unsubscribe", **{"data[email]": "mc4-new@example.com"})
    # Then the one lead is opted out, and MailChimp hears it was applied
    assert (status, answer["applied"]) == (200, True)
    stored = lead(lead_id)
    assert stored.email == "mc4-new@example.com"
    assert stored.marketing_opt_in is False
    assert stored.marketing_status == "unsubscribed"


def test_later_posts_and_webhooks_from_either_address_reach_the_same_lead(post_lead, webhook):
    _, first = post_lead(email="mc5@example.com", marketing_opt_in=True)
    webhook(
        type="upemail", **{"data[old_email]": "mc5@example.com", "data[new_email]": "mc5-new@example.com"}
    )
    # When the person posts the form from the new address
    status, again = post_lead(email="MC5-new@example.com", company="Acme")
    # Then it is the same lead (merged, not a second one)
    assert (status, again["lead_id"]) == (202, first["lead_id"])
    assert lead(first["lead_id"]).company == "Acme"
    # And a profile change and an unsubscribe from the old address reach it too
    webhook(type="profile", **{"data[email]": "mc5-new@example.com", "data[merges][FNAME]": "Noor"})
    assert lead(first["lead_id"]).first_name == "Noor"
    status, answer = webhook(type="unsubscribe", **{"data[email]": "mc5@example.com"})
    assert answer["applied"] is True
    assert lead(first["lead_id"]).marketing_opt_in is False


def test_an_unsubscribe_for_an_unknown_address_is_kept_and_applied_when_the_person_arrives(
    post_lead, webhook
):
    # Given an unsubscribe for an address the hub has no person for
    status, answer = webhook(type="unsubscribe", **{"data[email]": "ghost@example.com"})
    assert (status, answer["applied"]) == (200, True)
    assert "suppression" in answer["note"]
    # When that person arrives through the form, opting in
    _, body = post_lead(email="ghost@example.com", marketing_opt_in=True)
    # Then the unsubscribe stands
    stored = lead(body["lead_id"])
    assert stored.marketing_opt_in is False
    assert stored.marketing_status == "unsubscribed"


def test_an_email_change_to_an_address_of_another_lead_does_not_take_it_over(post_lead, webhook):
    _, first = post_lead(email="one@example.com")
    _, second = post_lead(email="two@example.com")
    webhook(type="upemail", **{"data[old_email]": "one@example.com", "data[new_email]": "two@example.com"})
    assert lead(first["lead_id"]).email == "one@example.com"
    _, again = post_lead(email="two@example.com")
    assert again["lead_id"] == second["lead_id"]


# ---------------------------------------------------------------- webhook data checked like intake data


def test_webhook_values_are_checked_like_the_form_and_never_stored_when_bad(post_lead, webhook):
    _, body = post_lead(
        email="val@example.com", first_name="Val", country="France", phone="+33 1 23 45 67 89"
    )
    lead_id = body["lead_id"]
    # An address that is not one is refused, and the lead keeps its address
    status, answer = webhook(
        type="upemail", **{"data[old_email]": "val@example.com", "data[new_email]": "not an email\r\nbcc: x"}
    )
    assert status == 422
    assert "new_email" in answer["note"] and "bcc" not in answer["note"]
    assert lead(lead_id).email == "val@example.com"
    # A profile with control characters, an unknown country and an over-long phone
    status, answer = webhook(
        type="profile",
        **{
            "data[email]": "val@example.com",
            "data[merges][FNAME]": "Valerie\r\nBcc: x",
            "data[merges][COUNTRY]": "Atlantis",
            "data[merges][PHONE]": "1" * 3000,
        },
    )
    assert status == 200
    assert "country" in answer["note"] and "phone" in answer["note"] and "Atlantis" not in answer["note"]
    stored = lead(lead_id)
    assert stored.first_name == "Valerie Bcc: x"  # cleaned as the form cleans it: one line
    assert stored.country == "FR"
    assert stored.phone == "+33123456789"


def test_a_fired_at_far_in_the_future_is_refused_and_later_changes_still_apply(post_lead, webhook):
    _, body = post_lead(email="future@example.com", marketing_opt_in=True)
    status, answer = webhook(
        type="unsubscribe", fired_at="9999-12-31 00:00:00", **{"data[email]": "future@example.com"}
    )
    assert status == 422
    assert lead(body["lead_id"]).marketing_opt_in is True
    soon = (datetime.now(UTC) + timedelta(minutes=2)).strftime("%Y-%m-%d %H:%M:%S")
    status, answer = webhook(type="unsubscribe", fired_at=soon, **{"data[email]": "future@example.com"})
    assert (status, answer["applied"]) == (200, True)
    assert lead(body["lead_id"]).marketing_status == "unsubscribed"
