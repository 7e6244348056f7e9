"""A MailChimp batch that does not finish within the invocation's time is deleted (``DELETE /batches/{id}``), so
MailChimp never applies it after the stream's retry has sent newer data; its records fail and are sent again.

The time budget runs on a clock of the test's own that only the gateway's sleeps move (no timed test); the fake
holds batches "pending" as MailChimp's queue can, and answers the delete as MailChimp does."""

from __future__ import annotations

import requests
from mailchimp_sync.errors import RetryableMailchimpError
from mailchimp_sync.gateway import Budget, MailchimpGateway
from mailchimp_sync.sync import sync_in_batches

from tests.unit.mailchimp.conftest import build_contact

EMAILS = [f"held{n}@example.com" for n in range(10)]  # batch_min_contacts (10): through POST /batches


class Clock:
    """Monotonic time that moves only when the gateway sleeps (its back-off and its polling)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_the_fake_deletes_a_batch_as_mailchimp_does(fake, gateway):
    # Given a batch MailChimp holds in its queue
    fake.hold_batches()
    operation = {"method": "GET", "path": "/ping", "operation_id": "0"}
    batch_id = gateway.start_batch([operation])["id"]
    url, auth = f"{fake.url}/batches/{batch_id}", ("u", "k")
    # When it is deleted: 204 with no body; then the batch is unknown (its status and a second delete, 404)
    deleted = requests.delete(url, auth=auth, timeout=5)
    assert (deleted.status_code, deleted.content) == (204, b"")
    assert requests.get(url, auth=auth, timeout=5).status_code == 404
    assert requests.delete(url, auth=auth, timeout=5).json()["title"] == "Resource Not Found"
    assert requests.delete(f"{fake.url}/batches/nosuchbatch", auth=auth, timeout=5).status_code == 404
    # and released, it never runs
    fake.release_batches()
    fake.wait_for_batches()
    assert [c for c in fake.calls if c.batch_id == batch_id] == []


def test_a_batch_that_outlives_the_time_budget_is_deleted_and_never_applied(fake, make_gateway):
    # Given ten opted-in contacts, MailChimp keeping their batch pending, and 10 s left
    clock = Clock()
    gateway = MailchimpGateway(make_gateway().config, sleep=clock.sleep)
    fake.hold_batches()
    # When they are synced
    results = sync_in_batches([build_contact(e) for e in EMAILS], gateway, Budget.seconds(10, clock))
    # Then every contact fails as retryable (the stream sends its record again), and the batch was deleted
    assert all(isinstance(r, RetryableMailchimpError) for r in results), results
    assert [c.status for c in fake.calls_to("POST", r"/3.0/batches/?$")] == [200]
    assert [c.status for c in fake.calls_to("DELETE", r"/3.0/batches/")] == [204]
    # and when MailChimp's queue moves on, none of its operations lands
    fake.release_batches()
    fake.wait_for_batches()
    assert [c for c in fake.calls if c.batch_id] == []
    assert [fake.member(e) for e in EMAILS] == [None] * len(EMAILS)


def test_a_failed_delete_is_logged_and_the_records_still_fail_for_the_stream_to_retry(
    fake, make_gateway, caplog
):
    # Given a pending batch as above, and MailChimp answering 503 to every DELETE /batches/{id}
    clock = Clock()
    gateway = MailchimpGateway(make_gateway().config, sleep=clock.sleep)
    fake.hold_batches()
    fake.inject(r"^/batches/", method="DELETE", status=503, times=-1)
    # When the contacts are synced
    results = sync_in_batches([build_contact(e) for e in EMAILS], gateway, Budget.seconds(10, clock))
    # Then the delete was tried (and retried) in the time kept for it, and failed
    deletes = fake.calls_to("DELETE", r"/3.0/batches/")
    assert deletes and {c.status for c in deletes} == {503}
    batch_id = deletes[0].path.rsplit("/", 1)[1]
    # and the failure is logged with the batch's id: that batch may still be applied later
    (warning,) = [r for r in caplog.records if getattr(r, "batch_id", None) == batch_id]
    assert warning.levelname == "WARNING" and "503" in warning.error
    # and no record is lost: every contact failed as retryable, so the stream sends each again (and its retry
    # writes the contact as the CRM holds it then, after whatever the old batch did)
    assert len(results) == len(EMAILS)
    assert all(isinstance(r, RetryableMailchimpError) for r in results), results
    fake.release_batches()
    fake.wait_for_batches()
