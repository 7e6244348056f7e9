"""Property-based: names with CR/LF, HTML and unicode never break a message or its headers."""

from __future__ import annotations

import email.policy
import re
from email.message import EmailMessage

from alerts.render import render_alert, render_digest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.email import header_safe

NASTY = st.text(
    alphabet=st.one_of(
        st.sampled_from(list("\r\n\t<>&\"'\x00\x0b\x1b\u2028\u2029\u202e\u2066\u200b\u200d\ufeff\u0085")),
        st.characters(),
    ),
    max_size=400,
)
INVISIBLE = re.compile(
    r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]"
)


def _check_html(html: str, raw: str) -> None:
    stripped = re.sub(r"</?(p|table|tr|th|td|h3|ul|li|html|body)( align='left')?>|<!DOCTYPE html>", "", html)
    assert "<" not in stripped and ">" not in stripped


@settings(max_examples=200, deadline=None)
@given(first=NASTY, last=NASTY, company=NASTY, name=NASTY)
def test_alert_messages_stay_whole(first: str, last: str, company: str, name: str) -> None:
    facts = {
        "first_name": first,
        "last_name": last,
        "company": company,
        "email": "x@example.com",
        "message": last,
    }
    rendered = render_alert(
        "lead_assigned", facts, name, fallback_reason=f"owner {first!r} is not a known rep"
    )
    assert not INVISIBLE.search(rendered.subject) and len(rendered.subject) <= 200
    _check_html(rendered.html, first)
    # The subject makes one valid header (no folding surprises, no injected header).
    message = EmailMessage(policy=email.policy.SMTP)
    message["Subject"] = rendered.subject
    message["To"] = "rep@example.com"
    headers = message.as_bytes().split(b"\r\n\r\n", 1)[0].decode("ascii", "replace")
    names = [line.split(":", 1)[0] for line in headers.split("\r\n") if line and not line[0].isspace()]
    assert names == ["Subject", "To"]
    # Every text line the values made is one line: no value adds a "Header:"-looking line at the start.
    for line in rendered.text.splitlines()[2:]:
        assert not INVISIBLE.search(line)


@settings(max_examples=100, deadline=None)
@given(subjects=st.lists(NASTY, min_size=1, max_size=5), name=NASTY)
def test_digests_stay_whole(subjects: list[str], name: str) -> None:
    rendered = render_digest(
        [{"kind": "opportunity_stale", "subject": s} for s in subjects], name, "2026-11-25"
    )
    _check_html(rendered.html, name)
    assert "\n" not in rendered.subject and "\r" not in rendered.subject


@given(value=NASTY)
def test_header_safe_is_one_clean_bounded_line(value: str) -> None:
    cleaned = header_safe(value)
    assert not INVISIBLE.search(cleaned) and len(cleaned) <= 200 and cleaned == cleaned.strip()
