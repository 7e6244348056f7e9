"""The CRM store: the same behaviour in memory and on DynamoDB (moto and DynamoDB Local, tables from the template)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from shared.store import crm
from shared.store.common import Outcome, Version
from shared.store.errors import Conflict, NotFound, Throttled
from tests.ddb_local.plugin import BACKENDS

T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


@pytest.fixture(params=BACKENDS)  # memory, moto, DynamoDB Local (tests/ddb_local)
def store(request: pytest.FixtureRequest) -> crm.CrmStore:
    if request.param == "memory":
        return crm.InMemoryCrmStore()
    request.getfixturevalue("aws" if request.param == "moto" else "ddblocal_tables")
    return crm.DynamoCrmStore()


def v(event_id: str, minutes: int = 0) -> Version:
    return Version(T0 + timedelta(minutes=minutes), event_id)


def a_lead(lead_id: str = "L1", **fields) -> crm.Lead:
    return crm.Lead(
        lead_id=lead_id, email=f"{lead_id.lower()}@example.com", created_at=T0, updated_at=T0, **fields
    )


def a_submission(lead_id: str = "L1", submission_id: str = "s1") -> crm.LeadSubmission:
    return crm.LeadSubmission(
        submission_id=submission_id, lead_id=lead_id, received_at=T0, source="web_form", outcome="created"
    )


def test_a_lead_is_created_once_and_updated_on_its_version(store):
    store.create_lead(a_lead(owner="rep-1"), a_submission())
    with pytest.raises(crm.SubmissionExists):
        store.create_lead(a_lead(owner="rep-1"), a_submission())
    with pytest.raises(crm.LeadExists):
        store.create_lead(a_lead(owner="rep-1"), a_submission(submission_id="s2"))
    updated = store.update_lead(
        "L1", {"company": "Acme", "annual_revenue": Decimal("12.50")}, expected_version=0
    )
    assert updated.version == 1
    lead = store.get_lead("L1")
    assert (lead.company, lead.annual_revenue, lead.version) == ("Acme", Decimal("12.50"), 1)
    with pytest.raises(Conflict):
        store.update_lead("L1", {"company": "Late"}, expected_version=0)
    with pytest.raises(NotFound):
        store.update_lead("nope", {"company": "X"}, expected_version=0)
    with pytest.raises(crm.SubmissionExists):
        store.update_lead("L1", {"company": "Again"}, expected_version=1, submission=a_submission())
    assert store.get_lead("L1").company == "Acme"
    assert [s.submission_id for s in store.lead_submissions("L1")] == ["s1"]


def test_a_closed_outcome_leaves_the_owners_open_leads(store):
    store.create_lead(a_lead("L1", owner="rep-1"), a_submission("L1"))
    store.create_lead(a_lead("L2", owner="rep-1"), a_submission("L2"))
    assert store.open_lead_count("rep-1") == 2
    store.update_lead("L1", {"status": "Lost", "closed": True}, expected_version=0)
    assert store.open_lead_count("rep-1") == 1
    assert [x.lead_id for x in store.leads_of_owner("rep-1", open_only=True)] == ["L2"]
    assert {x.lead_id for x in store.leads_of_owner("rep-1")} == {"L1", "L2"}
    # reopened: back in the count
    store.update_lead("L1", {"status": "Qualified Lead", "closed": False}, expected_version=1)
    assert store.open_lead_count("rep-1") == 2


def test_the_sync_map_is_kept_apart_from_the_version(store):
    store.create_lead(a_lead(marketing_opt_in=True), a_submission())
    ref = crm.ContactRef("LEAD", "L1")
    assert store.record_sync_state(ref, {"state": "synced"}, map_exists=False)
    assert store.record_sync_state(ref, {"member_status": "subscribed", "reason": None})
    lead = store.get_lead("L1")
    assert lead.mailchimp == {"state": "synced", "member_status": "subscribed"}
    assert lead.version == 0
    store.update_lead(
        "L1", {"marketing_status": "unsubscribed", "mailchimp.status_at": "x"}, expected_version=0
    )
    assert store.get_lead("L1").mailchimp == {
        "state": "synced",
        "member_status": "subscribed",
        "status_at": "x",
    }
    assert not store.record_sync_state(crm.ContactRef("LEAD", "gone"), {"state": "synced"})


def test_sync_states_of_many_go_together_and_a_refused_transaction_one_by_one(store):
    # Given three leads, one with a sync map already
    for n in range(3):
        store.create_lead(a_lead(f"L{n}", marketing_opt_in=True), a_submission(f"L{n}"))
    refs = [crm.ContactRef("LEAD", f"L{n}") for n in range(3)]
    assert store.record_sync_state(refs[0], {"state": "failed", "last_error": "503"}, map_exists=False)
    # When their states are written together, as the stream saw them (no map on any)
    written = store.record_sync_states(
        [(ref, {"state": "synced", "last_error": None}, False) for ref in refs]
        + [(crm.ContactRef("LEAD", "gone"), {"state": "synced"}, False)]
    )
    # Then every person there has the state (L0's map, which the transaction did not expect, one by one),
    # the one who is gone is not created, and no version moved
    assert written == [True, True, True, False]
    assert [store.get_lead(f"L{n}").mailchimp for n in range(3)] == [{"state": "synced"}] * 3
    assert store.get_lead("gone") is None
    assert {store.get_lead(f"L{n}").version for n in range(3)} == {0}
    # And when nothing was expected wrongly, one transaction writes them all
    assert store.record_sync_states([(ref, {"state": "skipped"}, True) for ref in refs]) == [True] * 3
    assert [store.get_lead(f"L{n}").mailchimp["state"] for n in range(3)] == ["skipped"] * 3


def test_a_throttled_sync_state_transaction_is_raised_not_written_one_by_one(aws, monkeypatch):
    # Given three leads on DynamoDB (moto), and DynamoDB cancelling every transaction for throttling, as it
    # does when an item in it is throttled (TransactionCanceledException, reason ThrottlingError)
    from moto.core.botocore_stubber import BotocoreStubber

    store = crm.DynamoCrmStore()
    for n in range(3):
        store.create_lead(a_lead(f"L{n}", marketing_opt_in=True), a_submission(f"L{n}"))
    refs = [crm.ContactRef("LEAD", f"L{n}") for n in range(3)]
    seen: list[str] = []
    original = BotocoreStubber.process_request

    def process_request(self, request):
        target = request.headers.get("X-Amz-Target") or b""
        operation = (target.decode() if isinstance(target, bytes) else str(target)).rpartition(".")[2]
        seen.append(operation)
        if operation == "TransactWriteItems":
            body = {"__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
                    "message": "Transaction cancelled, please refer cancellation reasons for specific reasons "
                               "[ThrottlingError, None, None]",
                    "CancellationReasons": [{"Code": "ThrottlingError", "Message": "Throughput exceeds the "
                                             "current capacity for one or more global secondary indexes"},
                                            {"Code": "None"}, {"Code": "None"}]}  # fmt: skip
            return 400, {"Content-Type": "application/x-amz-json-1.0"}, json.dumps(body)
        return original(self, request)

    monkeypatch.setattr(BotocoreStubber, "process_request", process_request)
    # When the stream batch's states are written together
    with pytest.raises(Throttled):
        store.record_sync_states([(ref, {"state": "synced"}, False) for ref in refs])
    # Then the error reaches the caller (the stream retries the batch) and nobody was written one by one
    assert "TransactWriteItems" in seen and "UpdateItem" not in seen
    monkeypatch.setattr(BotocoreStubber, "process_request", original)
    assert [store.get_lead(f"L{n}").mailchimp for n in range(3)] == [None] * 3


def test_opted_in_leads_resume_after_a_cursor(store):
    for n in range(5):
        store.create_lead(a_lead(f"L{n}", marketing_opt_in=n != 2), a_submission(f"L{n}"))
    seen = list(store.opted_in_leads())
    assert sorted(lead.lead_id for _, lead in seen) == ["L0", "L1", "L3", "L4"]
    rest = [lead.lead_id for _, lead in store.opted_in_leads(seen[1][0])]
    assert rest == [lead.lead_id for _, lead in seen[2:]]


def test_events_apply_only_when_newer(store):
    territory = crm.Territory(territory_id="t1", name="West", source="crm-x")
    assert store.upsert_territory(territory, v("e2", 2)) is Outcome.APPLIED
    assert store.upsert_territory(territory.model_copy(update={"name": "Old"}), v("e1", 1)) is Outcome.STALE
    assert store.upsert_territory(territory, v("e2", 2)) is Outcome.DUPLICATE
    got = store.get_territory("t1")
    assert (got.name, got.last_event_id, got.occurred_at) == ("West", "e2", T0 + timedelta(minutes=2))
    assert [t.territory_id for t in store.list_territories()] == ["t1"]


def test_reps_are_typed_and_read_in_one_batch(store):
    rep = crm.Rep(
        rep_id="rep-1", name="Ann", email="ann@example.com", manager_id="rep-9", territory_id="t1", capacity=3,
        timezone="Europe/Berlin", quota={"2026-Q4": Decimal("1200.50")},
        out_of_office=(crm.AwayPeriod(start=date(2026, 12, 20), end=date(2027, 1, 2)),),
    )  # fmt: skip
    store.upsert_rep(rep, v("e1"))
    store.upsert_rep(crm.Rep(rep_id="rep-2", name="Bob"), v("e2"))
    got = store.get_rep("rep-1")
    assert got.timezone == "Europe/Berlin" and got.capacity == 3
    assert got.away_on(date(2026, 12, 24)) and not got.away_on(date(2027, 1, 3))
    assert got.quota_for(2026, 4) == Decimal("1200.50")
    assert set(store.get_reps(["rep-1", "rep-2", "rep-404"])) == {"rep-1", "rep-2"}
    assert [r.rep_id for r in store.list_reps()] == ["rep-1", "rep-2"]
    with pytest.raises(ValueError, match="time zone"):
        crm.Rep(rep_id="x", name="X", timezone="Mars/Olympus")


def test_reps_and_accounts_are_read_together_and_unknown_ids_left_out(store):
    store.upsert_account(crm.Account(account_id="A-SOLAR", name="Solar Inc", owner="rep-1"), v("e1"))
    store.upsert_account(crm.Account(account_id="A-ACME", name="Acme Corp"), v("e2"))
    store.upsert_rep(crm.Rep(rep_id="rep-1", name="Ann", manager_id="rep-9"), v("e3"))
    # An id of one kind never finds an item of the other
    reps, accounts = store.get_reps_and_accounts(["rep-1", "rep-404", "A-ACME", "rep-1"],
                                                 ["A-SOLAR", "A-ACME", "A-404", "rep-1"])  # fmt: skip
    assert {i: (r.name, r.manager_id) for i, r in reps.items()} == {"rep-1": ("Ann", "rep-9")}
    assert {i: (a.name, a.owner) for i, a in accounts.items()} == {
        "A-SOLAR": ("Solar Inc", "rep-1"),
        "A-ACME": ("Acme Corp", None),
    }
    assert store.get_reps_and_accounts([], []) == ({}, {})


def test_an_escalation_without_a_due_time_is_due_from_its_opening(store):
    base = {"account_id": "a1", "title": "Broken", "severity": "high", "status": "open"}
    store.upsert_escalation(crm.Escalation(escalation_id="x1", **base), v("e1", 0))
    store.upsert_escalation(
        crm.Escalation(escalation_id="x2", **base, due_at=T0 + timedelta(hours=5)), v("e2", 0)
    )
    # a later update keeps the opening time
    store.upsert_escalation(crm.Escalation(escalation_id="x1", **base, assignee="ann"), v("e3", 30))
    due = store.open_escalations_due(T0 + timedelta(hours=1))
    assert [e.escalation_id for e in due] == ["x1"]
    assert due[0].due == T0
    assert [e.escalation_id for e in store.open_escalations_due(T0 + timedelta(hours=6))] == ["x1", "x2"]
    resolved = crm.Escalation(escalation_id="x1", **{**base, "status": "resolved"})
    store.upsert_escalation(resolved, v("e4", 40))
    assert [e.escalation_id for e in store.open_escalations_due(T0 + timedelta(hours=6))] == ["x2"]


def test_samples_activities_and_orders_by_time(store):
    store.upsert_sample(
        crm.Sample(sample_id="s1", account_id="a1", part_number="P", quantity=2, follow_up_at=T0), v("e1")
    )
    store.upsert_sample(crm.Sample(sample_id="s2", account_id="a1", part_number="P", quantity=1), v("e2"))
    assert [s.sample_id for s in store.samples_due(T0)] == ["s1"]
    for n in range(3):
        activity = crm.Activity(
            activity_id=f"a{n}", rep_id="rep-1", type="call", points=5, at=T0 + timedelta(days=n)
        )
        store.log_activity(activity, v(f"e{n}"))
    got = store.activities_of_rep("rep-1", T0, T0 + timedelta(days=2))
    assert [a.activity_id for a in got] == ["a0", "a1"]
    order = crm.Order(
        order_id="o1", account_id="a1", opportunity_id="opp-1", amount=Decimal("10.05"), booked_at=T0
    )
    store.book_order(order, v("e9"))
    [stored] = store.orders_of_year(2026)
    assert (stored.opportunity_id, stored.amount) == ("opp-1", Decimal("10.05"))
    assert store.orders_of_year(2025) == []


def test_opportunities_keep_their_stage_history_in_time_order(store):
    def opp(stage: str) -> crm.Opportunity:
        return crm.Opportunity(
            opportunity_id="o1", account_id="a1", name="Deal", stage=stage, amount=Decimal("5")
        )

    assert store.upsert_opportunity(opp("Sales Presentation"), v("e2", 2)) is Outcome.APPLIED
    assert store.upsert_opportunity(opp("Qualifying Needs"), v("e1", 1)) is Outcome.STALE
    got = store.get_opportunity("o1")
    # previous_stage and stage_entered_at come from the same observations as the history (issue 15)
    assert (got.stage, got.previous_stage, got.amount) == (
        "Sales Presentation",
        "Qualifying Needs",
        Decimal("5"),
    )
    assert [(c.from_stage, c.to_stage) for c in store.stage_history("o1")] == [
        (None, "Qualifying Needs"),
        ("Qualifying Needs", "Sales Presentation"),
    ]
    assert [o.opportunity_id for o in store.list_opportunities_of_account("a1")] == ["o1"]


def test_a_contact_is_found_by_email_and_keeps_what_mailchimp_said(store):
    contact = crm.Contact(contact_id="c1", account_id="a1", email="Ada@Example.com", first_name="Ada")
    store.upsert_contact(contact, v("e1"))
    [found] = store.contacts_by_email("ada@example.com")
    store.update_contact(
        "c1", {"marketing_status": "unsubscribed", "mailchimp.status_at": "t"}, expected_version=found.version
    )
    store.upsert_contact(contact.model_copy(update={"first_name": "Ada L."}), v("e2", 1))
    got = store.get_contact("c1")
    assert (got.first_name, got.marketing_status, got.mailchimp) == (
        "Ada L.",
        "unsubscribed",
        {"status_at": "t"},
    )
    assert [c.contact_id for c in store.contacts_of_account("a1")] == ["c1"]
    # a contact whose address changed is no longer found under the old one
    store.upsert_contact(contact.model_copy(update={"email": "new@example.com"}), v("e3", 2))
    assert store.contacts_by_email("ada@example.com") == []
    assert [c.contact_id for c in store.contacts_by_email("new@example.com")] == ["c1"]
