"""Backfill through the batch endpoint: at most 500 operations a call, resumable from a cursor."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from mailchimp_sync.backfill import run_backfill
from mailchimp_sync.errors import RetryableMailchimpError


class MemoryCursor:
    def __init__(self) -> None:
        self.value: str | None = None
        self.saved: list[str | None] = []

    def load(self) -> str | None:
        return self.value

    def save(self, cursor: str | None) -> None:
        self.value = cursor
        self.saved.append(cursor)


def source(contacts):
    keyed = [(f"{i:06d}", c) for i, c in enumerate(contacts)]

    def after(cursor):
        return [(k, c) for k, c in keyed if cursor is None or k > cursor]

    return after


def test_backfill_sends_eligible_contacts_in_batches_of_at_most_500_operations(fake, gateway, make_contact):
    # Given 600 opted-in contacts and 10 without opt-in
    contacts = [make_contact(f"p{i}@example.com", contact_id=f"c{i}") for i in range(600)]
    contacts += [
        make_contact(f"n{i}@example.com", contact_id=f"n{i}", marketing_opt_in=False) for i in range(10)
    ]
    recorded = []
    progress = []
    # When backfilled
    report = run_backfill(
        source(contacts),
        gateway,
        MemoryCursor(),
        recorded.extend,
        on_progress=progress.append,
        poll_interval_s=0.02,
    )
    # Then every opted-in contact is a member with tags, in 3 calls of <= 500 operations
    assert report.complete
    assert (report.sent, report.synced, report.skipped) == (600, 600, 10)
    batch_calls = fake.calls_to("POST", r"^/3.0/batches$")
    assert len(batch_calls) == 3
    assert all(len(c.body["operations"]) <= 500 for c in batch_calls)
    assert fake.member("p599@example.com")["status"] == "subscribed"
    assert "employees:50-249" in fake.tags("p0@example.com")
    assert fake.member("n0@example.com") is None
    assert {o.state for o in recorded} == {"synced"}
    assert sum(progress) == 610


def test_backfill_keeps_leavers_and_forgotten_emails_safe(fake, gateway, make_contact):
    fake.seed_member("gone@example.com", "unsubscribed")
    fake.forget("forgot@example.com")
    now = datetime.now(UTC)
    contacts = [
        make_contact("gone@example.com", contact_id="gone"),
        make_contact("forgot@example.com", contact_id="forgot"),
        make_contact(
            "back@example.com",
            contact_id="back",
            marketing_status="unsubscribed",
            marketing_status_at=now - timedelta(days=2),
            opt_in_at=now - timedelta(days=1),
        ),
    ]
    fake.seed_member("back@example.com", "unsubscribed")
    recorded = []
    run_backfill(source(contacts), gateway, MemoryCursor(), recorded.extend, poll_interval_s=0.02)
    states = {o.contact_id: (o.state, o.reason) for o in recorded}
    assert fake.member("gone@example.com")["status"] == "unsubscribed"
    assert states["forgot"] == ("blocked", "forgotten_email")
    assert fake.member("back@example.com")["status"] == "pending"


def test_a_stopped_backfill_resumes_after_the_last_finished_batch(fake, make_gateway, make_contact):
    # Given batches of 50 contacts (100 operations), and MailChimp down when the third batch is sent
    gateway = make_gateway(batch_max_operations=100, max_attempts=1)
    contacts = source([make_contact(f"p{i}@example.com", contact_id=f"c{i}") for i in range(200)])
    cursor = MemoryCursor()
    recorded = []
    real_start = gateway.start_batch
    sent = {"batches": 0}

    def start_batch(operations, budget=None):
        sent["batches"] += 1
        if sent["batches"] == 3:
            fake.inject(r"^/batches$", method="POST", status=503, times=1)
        return real_start(operations, budget)

    gateway.start_batch = start_batch
    # When the backfill runs, it stops on the failure
    with pytest.raises(RetryableMailchimpError):
        run_backfill(contacts, gateway, cursor, recorded.extend, poll_interval_s=0.02)
    # Then the cursor points after the second batch
    assert cursor.value == "000099"
    assert len(recorded) == 100
    # When started again
    report = run_backfill(contacts, gateway, cursor, recorded.extend, poll_interval_s=0.02)
    # Then it picked up at contact 100 and finished
    assert report.resumed_from == "000099"
    assert report.sent == 100
    assert report.complete
    assert cursor.value is None
    assert len({o.contact_id for o in recorded}) == 200
    assert fake.stats()["members"] == 200


def test_backfill_removes_the_other_configured_band_tags(fake, gateway, make_contact):
    # Given a member tagged with an old band
    fake.seed_member("ada@example.com", "subscribed")
    fake.api.post_tags(
        list_id=fake.list_id,
        hash=fake.member("ada@example.com")["id"],
        body={
            "tags": [
                {"name": "employees:1-9", "status": "active"},
                {"name": "newsletter", "status": "active"},
            ]
        },
    )
    bands = {"employees:": ["1-9", "10-49", "50-249", "250-999", "1000+"]}
    # When backfilled with the configured band names
    run_backfill(
        source([make_contact()]),
        gateway,
        MemoryCursor(),
        lambda _: None,
        poll_interval_s=0.02,
        band_names=bands,
    )
    # Then the old band is gone, the new one is there, and other tags are kept
    tags = fake.tags("ada@example.com")
    assert "employees:1-9" not in tags
    assert {"employees:50-249", "newsletter"} <= tags
