"""Moments in alert emails read as people read them: minutes and the zone, no microseconds, no ``T``."""

from __future__ import annotations

from alerts.render import render_alert


def test_an_escalation_past_due_shows_its_due_time_in_minutes_and_utc() -> None:
    facts = {"escalation_id": "ESC-1", "title": "Connector cracks", "severity": "high", "status": "open",
             "due_at": "2026-12-02T13:24:12.718137Z", "account_id": "A-1", "assignee": "rep-jonas"}  # fmt: skip
    rendered = render_alert("escalation_overdue", facts, "Jonas Weber")
    assert "Due: 2026-12-02 13:24 UTC" in rendered.text
    assert "<td>2026-12-02 13:24 UTC</td>" in rendered.html
    assert "718137" not in rendered.text


def test_an_offset_moment_is_shown_in_utc_and_a_date_or_other_text_as_it_is() -> None:
    lead = {"lead_id": "l-1", "first_name": "Priya", "assigned_at": "2026-12-02T10:24:12+02:00"}
    assert "Assigned at: 2026-12-02 08:24 UTC" in render_alert("speed_to_lead", lead, "Sam").text
    sample = {"part_number": "P-1", "account_id": "A-1", "shipped_at": "2026-11-20", "follow_up_at": "soon"}
    text = render_alert("sample_follow_up_due", sample, "Sam").text
    assert "Shipped: 2026-11-20\n" in text and "Follow up: soon" in text
