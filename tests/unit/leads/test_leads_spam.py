"""Spam signals: quarantined with a reason, never dropped."""

from datetime import UTC, datetime, timedelta

from leads_webhook.spam import classify_spam
from leads_webhook.submission import parse_lead_fields

from shared.config_schemas.leads import SpamSettings

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
SETTINGS = SpamSettings(min_fill_seconds=3, blocked_domains=["Mailinator.com"])


def submission(**fields):
    result = parse_lead_fields({"email": "ann@example.com", **fields})
    assert result.ok, result.errors
    return result.submission


def test_a_person_is_not_spam():
    verdict = classify_spam(submission(form_elapsed_ms=12_000), SETTINGS, now=NOW)
    assert not verdict.is_spam


def test_filled_honeypot_is_spam():
    assert classify_spam(submission(website="http://spam.example"), SETTINGS, now=NOW).reasons == (
        "honeypot",
    )


def test_too_fast_by_elapsed_time_or_render_time():
    assert classify_spam(submission(form_elapsed_ms=900), SETTINGS, now=NOW).reasons == ("too_fast",)
    rendered = (NOW - timedelta(seconds=1)).isoformat()
    assert classify_spam(submission(form_rendered_at=rendered), SETTINGS, now=NOW).reasons == ("too_fast",)
    slow = (NOW - timedelta(seconds=30)).timestamp()
    assert not classify_spam(submission(form_rendered_at=slow), SETTINGS, now=NOW).is_spam


def test_render_time_in_the_future_is_not_a_signal():
    future = (NOW + timedelta(minutes=5)).isoformat()
    assert not classify_spam(submission(form_rendered_at=future), SETTINGS, now=NOW).is_spam


def test_blocked_domain_and_its_subdomains():
    assert classify_spam(submission(email="x@MAILINATOR.com"), SETTINGS, now=NOW).reasons == (
        "blocked_domain",
    )
    assert classify_spam(submission(email="x@eu.mailinator.com"), SETTINGS, now=NOW).is_spam
    assert not classify_spam(submission(email="x@notmailinator.com"), SETTINGS, now=NOW).is_spam


def test_every_reason_is_kept():
    sub = submission(email="x@mailinator.com", website="y", form_elapsed_ms=10)
    assert classify_spam(sub, SETTINGS, now=NOW).reasons == ("honeypot", "too_fast", "blocked_domain")
