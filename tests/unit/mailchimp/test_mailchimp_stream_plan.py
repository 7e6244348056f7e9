"""Which stream records are synced, and what a webhook change writes: pure logic, no AWS."""

from __future__ import annotations

from datetime import UTC, datetime

from boto3.dynamodb.types import TypeSerializer
from mailchimp_sync.repository import contact_from_image, needs_sync, plan_change, unchanged_for_sync
from mailchimp_sync.stream import StreamChange, plan_batch
from mailchimp_sync.webhook import ContactChange

from tests.helpers import lead_keys


def lead(n: int = 1, **fields):
    item = {
        **lead_keys(f"L{n}"), "entity": "LEAD", "lead_id": f"L{n}", "email": f"p{n}@example.com",
        "first_name": "Ada", "marketing_opt_in": True, "employee_band": "10-49", "version": 1,
    }  # fmt: skip
    item.update(fields)
    return item


def test_a_change_to_our_own_sync_state_needs_no_sync():
    before = lead()
    after = {**before, "mailchimp": {"state": "synced"}}
    assert not needs_sync(after, before)


def _typed(image):
    return {name: TypeSerializer().serialize(value) for name, value in image.items()}


def test_a_sync_state_write_is_told_from_its_typed_images_and_nothing_else_is():
    # Given changes as the stream types them: our own sync state written, fields MailChimp sees changed,
    # a new person, an image missing
    before = lead(employees=100)
    changes = [({**before, "mailchimp": {"state": "synced"}}, before)]
    changes += [({**before, name: "changed"}, before) for name in ("email", "company", "marketing_status")]
    changes += [({**before, "quarantined": True}, before), (before, None), (None, before)]
    # When told from the typed images
    told = [unchanged_for_sync({"NewImage": _typed(new) if new else None, "OldImage": _typed(old) if old else None})
            for new, old in changes]  # fmt: skip
    # Then only the sync-state write is, and needs_sync turns down every one that is
    assert told == [True] + [False] * 6
    assert all(not needs_sync(new, old) for (new, old), skip in zip(changes, told, strict=True) if skip)


def test_a_change_mailchimp_sees_needs_a_sync():
    assert needs_sync(lead(employee_band="50-249"), lead())
    assert needs_sync(lead(), None)


def test_quarantined_other_entities_and_emailless_items_are_not_contacts():
    assert contact_from_image(lead(quarantined=True)) is None
    assert contact_from_image({**lead(), "entity": "OPPORTUNITY"}) is None
    assert contact_from_image(lead(email="")) is None


def test_a_leaver_with_a_new_opt_in_is_a_re_opt_in():
    contact = contact_from_image(lead(marketing_status="unsubscribed", marketing_opt_in=True))
    assert contact.opted_in_again
    contact = contact_from_image(lead(marketing_status="unsubscribed", marketing_opt_in=False))
    assert contact.has_left and not contact.opted_in_again


def test_only_the_latest_relevant_change_per_contact_is_synced():
    first, second = lead(1), lead(2)
    changes = [
        StreamChange("1", first, None),
        StreamChange("2", second, None),
        StreamChange("3", {**first, "company": "New"}, first),
        StreamChange(
            "4", {**first, "company": "New", "mailchimp": {"state": "synced"}}, {**first, "company": "New"}
        ),
    ]
    plan = plan_batch(changes)
    assert sorted(plan.work) == ["2", "3"]
    assert plan.work["3"][1].company == "New"


def test_an_older_status_event_changes_nothing():
    item = lead(mailchimp={"status_at": "2026-11-23T08:00:00+00:00"})
    late = ContactChange(
        email="p1@example.com",
        marketing_status="unsubscribed",
        marketing_status_at=datetime(2026, 11, 23, 7, tzinfo=UTC),
    )
    assert plan_change(item, late, datetime.now(UTC)) is None


def test_an_unsubscribe_withdraws_the_opt_in_and_a_profile_only_writes_what_differs():
    now = datetime(2026, 11, 23, 9, tzinfo=UTC)
    top, values = plan_change(
        lead(), ContactChange(email="p1@example.com", marketing_status="unsubscribed"), now
    )
    assert top["marketing_status"] == "unsubscribed"
    assert top["marketing_opt_in"] is False
    assert values["status_at"] == now.isoformat()
    assert (
        plan_change(lead(), ContactChange(email="p1@example.com", fields={"first_name": "Ada"}), now) is None
    )
