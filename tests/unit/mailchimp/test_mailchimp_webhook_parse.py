"""MailChimp's form-encoded webhooks into contact changes."""

from __future__ import annotations

from urllib.parse import urlencode

from mailchimp_sync.webhook import change_for, parse_webhook_form


def form(**fields: str) -> str:
    return urlencode(fields)


def test_unsubscribe_sets_the_marketing_status():
    body = form(
        type="unsubscribe",
        fired_at="2026-11-22 10:00:00",
        **{"data[email]": "ada@example.com", "data[reason]": "manual", "data[merges][FNAME]": "Ada"},
    )
    change = change_for(parse_webhook_form(body))
    assert change.email == "ada@example.com"
    assert change.marketing_status == "unsubscribed"
    assert change.marketing_status_at.isoformat() == "2026-11-22T10:00:00+00:00"


def test_cleaned_sets_cleaned():
    change = change_for(
        parse_webhook_form(form(type="cleaned", **{"data[email]": "a@b.co", "data[reason]": "hard"}))
    )
    assert change.marketing_status == "cleaned"
    assert change.reason == "hard"


def test_profile_updates_known_fields_only():
    body = form(
        type="profile",
        **{
            "data[email]": "ada@example.com",
            "data[merges][FNAME]": "Augusta",
            "data[merges][LNAME]": "King",
            "data[merges][EMPBAND]": "1-10",
        },
    )
    change = change_for(parse_webhook_form(body))
    assert change.fields == {"first_name": "Augusta", "last_name": "King"}
    assert change.marketing_status is None


def test_upemail_moves_the_contact_to_the_new_email():
    body = form(
        type="upemail", **{"data[old_email]": "old@example.com", "data[new_email]": "new@example.com"}
    )
    change = change_for(parse_webhook_form(body))
    assert (change.email, change.new_email) == ("old@example.com", "new@example.com")


def test_api_source_changes_nothing():
    body = form(type="unsubscribe", source="api", **{"data[email]": "ada@example.com"})
    assert change_for(parse_webhook_form(body)) is None


def test_campaign_events_change_nothing():
    assert change_for(parse_webhook_form(form(type="campaign", **{"data[id]": "x"}))) is None
