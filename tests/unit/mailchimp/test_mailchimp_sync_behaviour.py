"""How a contact lands in the audience: status rules, merge fields, tags as a diff."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from mailchimp_sync.audience_setup import set_up_merge_fields
from mailchimp_sync.segments import MERGE_FIELDS
from mailchimp_sync.sync import sync_contact

MEMBER = r"/members/[0-9a-f]{32}$"


def test_new_contact_with_opt_in_is_subscribed_with_merge_fields_and_tags(fake, gateway, make_contact):
    set_up_merge_fields(gateway)
    outcome = sync_contact(make_contact(campaigns=["spring-expo"]), gateway)
    member = fake.member("ada@example.com")
    assert outcome.state == "synced"
    assert member["status"] == "subscribed"
    assert member["merge_fields"]["FNAME"] == "Ada"
    assert member["merge_fields"]["COMPANY"] == "Analytical Engines"
    assert member["merge_fields"]["EMPBAND"] == "50-249"
    assert member["merge_fields"]["REVBAND"] == "10M-100M"
    assert fake.tags("ada@example.com") == {
        "employees:50-249",
        "revenue:10M-100M",
        "industry:automotive",
        "campaign:spring-expo",
    }


def test_double_opt_in_adds_a_new_member_as_pending(fake, make_gateway, make_contact):
    outcome = sync_contact(make_contact(), make_gateway(double_opt_in=True))
    assert outcome.member_status == "pending"
    assert fake.member("ada@example.com")["status"] == "pending"


def test_a_contact_without_opt_in_is_not_added(fake, gateway, make_contact):
    outcome = sync_contact(make_contact(marketing_opt_in=False), gateway)
    assert outcome.state == "skipped"
    assert fake.member("ada@example.com") is None
    assert fake.calls_to("PUT") == []


def test_a_contact_without_opt_in_who_is_a_member_gets_fresh_fields_but_the_same_status(
    fake, gateway, make_contact
):
    set_up_merge_fields(gateway)
    fake.seed_member("ada@example.com", "subscribed")
    outcome = sync_contact(make_contact(marketing_opt_in=False, company="New Co"), gateway)
    assert outcome.state == "synced"
    assert fake.member("ada@example.com")["merge_fields"]["COMPANY"] == "New Co"
    assert fake.member("ada@example.com")["status"] == "subscribed"


def test_an_existing_unsubscribed_member_stays_unsubscribed(fake, gateway, make_contact):
    # Given a member who unsubscribed yesterday, and a CRM opt-in from last month
    fake.seed_member("ada@example.com", "unsubscribed")
    opt_in = datetime.now(UTC) - timedelta(days=30)
    # When the contact is synced
    outcome = sync_contact(make_contact(opt_in_at=opt_in), gateway)
    # Then the member is untouched in status, and nothing was forced
    assert outcome.state == "synced"
    assert outcome.member_status == "unsubscribed"
    assert fake.member("ada@example.com")["status"] == "unsubscribed"
    assert all("status" not in c.body for c in fake.calls_to("PUT", MEMBER))


def test_a_contact_the_crm_knows_has_left_is_not_sent_at_all(fake, gateway, make_contact):
    left = datetime.now(UTC)
    outcome = sync_contact(
        make_contact(
            marketing_status="unsubscribed", marketing_status_at=left, opt_in_at=left - timedelta(days=1)
        ),
        gateway,
    )
    assert outcome.state == "skipped"
    assert fake.calls == []


def test_opting_in_again_after_unsubscribing_asks_for_reconfirmation(fake, gateway, make_contact):
    # Given an unsubscribe the CRM heard of, and a newer opt-in on a form
    fake.seed_member("ada@example.com", "unsubscribed")
    left = datetime.now(UTC) - timedelta(days=2)
    contact = make_contact(
        marketing_status="unsubscribed", marketing_status_at=left, opt_in_at=left + timedelta(days=1)
    )
    # When synced
    outcome = sync_contact(contact, gateway)
    # Then MailChimp was asked for pending (its re-confirmation email), never subscribed
    assert outcome.member_status == "pending"
    assert fake.member("ada@example.com")["status"] == "pending"
    assert all(c.body.get("status") != "subscribed" for c in fake.calls_to("PUT", MEMBER))


def test_a_newer_opt_in_reconfirms_even_when_the_unsubscribe_webhook_was_missed(fake, gateway, make_contact):
    fake.seed_member("ada@example.com", "unsubscribed", last_changed="2026-01-01T00:00:00+00:00")
    contact = make_contact(opt_in_at=datetime(2026, 6, 1, tzinfo=UTC))
    outcome = sync_contact(contact, gateway)
    assert outcome.member_status == "pending"
    assert [c.body.get("status") for c in fake.calls_to("PUT", MEMBER)] == [None, "pending"]


def test_a_band_change_replaces_the_old_band_tag_and_keeps_other_tags(fake, gateway, make_contact):
    # Given a member synced at 120 employees, in one campaign, with a tag marketing added by hand
    sync_contact(make_contact(campaigns=["expo"]), gateway)
    fake.api.post_tags(
        list_id=fake.list_id,
        hash=fake.member("ada@example.com")["id"],
        body={"tags": [{"name": "VIP", "status": "active"}]},
    )
    # When the company grows, changes industry and comes through another campaign
    outcome = sync_contact(
        make_contact(employee_band="250-999", industry="Medical Devices", campaigns=["expo", "webinar"]),
        gateway,
    )
    # Then the old band and industry are gone, the new ones are there, the rest is kept
    assert fake.tags("ada@example.com") == {
        "employees:250-999",
        "revenue:10M-100M",
        "industry:medical-devices",
        "campaign:expo",
        "campaign:webinar",
        "VIP",
    }
    assert set(outcome.tags_removed) == {"employees:50-249", "industry:automotive"}


def test_no_tag_call_when_tags_are_already_right(fake, gateway, make_contact):
    sync_contact(make_contact(), gateway)
    fake.reset_counters()
    sync_contact(make_contact(first_name="Augusta"), gateway)
    assert [c.method for c in fake.calls] == ["PUT"]


def test_setup_creates_only_the_missing_merge_fields_and_reports(fake, gateway):
    first = set_up_merge_fields(gateway)
    second = set_up_merge_fields(gateway)
    assert set(first.created) == {"COMPANY", "COUNTRY", "EMPBAND", "REVBAND", "INDUSTRY"}
    assert set(first.existing) == {"FNAME", "LNAME", "PHONE"}
    assert second.created == []
    assert set(second.existing) == {tag for tag, _, _ in MERGE_FIELDS}
    assert len(fake.calls_to("POST", "/merge-fields")) == 5


def test_setup_reports_a_field_it_could_not_create(fake, gateway):
    fake.inject("/merge-fields", method="POST", status=400, detail="Merge field limit reached", times=1)
    report = set_up_merge_fields(gateway)
    assert not report.ok
    assert len(report.failed) == 1
    assert "Merge field limit reached" in next(iter(report.failed.values()))
