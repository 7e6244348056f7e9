"""Receiving and applying events with in-memory storage: answers, idempotency, ordering, replay."""

from __future__ import annotations

import argparse
import json
from datetime import date, timedelta

import pytest
from crm_events.service import EventsContext, EventStores, receive_events, replay_events

from hub.events_cli import parse_since
from shared.config_schemas.stages import load_stages_file
from shared.signing import StaticSourceSecrets
from shared.store import crm
from shared.store.crm import InMemoryCrmStore
from shared.store.events import InMemoryEventsStore
from shared.store.plan import InMemoryPlanStore, plan_year_index
from tests.unit.events.events_builders import NOW, SECRET, SOURCE, batch, event, opportunity, signed_headers

STAGES = load_stages_file()


class CountingPlanStore(InMemoryPlanStore):
    """The in-memory plan store, counting the figures it wrote."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def put_plan_figure_if_newer(self, figure, **version):
        written = super().put_plan_figure_if_newer(figure, **version)
        self.writes += written == "applied"
        return written


def in_memory() -> EventStores:
    return EventStores(InMemoryCrmStore(), InMemoryEventsStore(), CountingPlanStore())


def read_inbox(store: EventStores, since):
    return store.inbox.read_inbox(since)


def stage_history(store: EventStores, opportunity_id: str):
    return store.crm.stage_history(opportunity_id)


def all_items(store: EventStores) -> dict:
    return {**store.crm.items, **store.inbox.items, **store.plan.figures}


@pytest.fixture
def store() -> EventStores:
    return in_memory()


@pytest.fixture
def context(store: EventStores) -> EventsContext:
    return EventsContext(
        store=store,
        secrets=StaticSourceSecrets({SOURCE: [SECRET]}),
        stages=lambda: STAGES,
        now=lambda: NOW,
    )


def post(context: EventsContext, body: bytes, headers: dict[str, str] | None = None):
    return receive_events(signed_headers(body) if headers is None else headers, body, context)


def entity_state(store: EventStores) -> dict:
    """Everything but the inbox and write stamps: what applying produced."""
    return {
        **{
            "/".join(k): {a: v for a, v in item.items() if a != "updated_at"}
            for k, item in store.crm.items.items()
        },
        **{"/".join(k): figure for k, figure in store.plan.figures.items()},
    }


def entity_writes(store: EventStores) -> int:
    return store.crm.writes + store.plan.writes


def test_a_signed_batch_is_stored_applied_and_answered_per_event(context, store):
    # Given a signed batch: a territory, an account, an opportunity
    body = batch(
        event("territory.upserted", {"id": "t-west", "name": "West"}, "e1"),
        event(
            "account.upserted",
            {"id": "acc-1", "name": "Tows R Us", "territory_id": "t-west", "aliases": ["TRU"]},
            "e2",
        ),
        opportunity("e3", 0, "Qualifying Needs", amount=6200),
    )
    # When posted
    answer = post(context, body)
    # Then all three are accepted and applied
    assert answer.status_code == 200
    assert answer.body["accepted"] == 3
    assert [(r["event_id"], r["status"], r["outcome"]) for r in answer.body["results"]] == [
        ("e1", "accepted", "applied"),
        ("e2", "accepted", "applied"),
        ("e3", "accepted", "applied"),
    ]
    account = store.crm.raw(crm.account_key("acc-1"))
    assert account["territory_id"] == "t-west"
    assert account["aliases"] == ["TRU"]
    assert account["alias_keys"] == ["tru"]
    opp = store.crm.raw(crm.opportunity_key("opp-1"))
    assert (opp["stage"], opp["probability"], opp["previous_stage"]) == ("Qualifying Needs", 10, None)
    # And every accepted event is in the inbox
    assert {e.event_id for e in read_inbox(store, NOW.replace(hour=0))} == {"e1", "e2", "e3"}


def test_a_batch_with_bad_events_accepts_the_good_ones(context, store):
    body = batch(
        opportunity("e1", 0, "Qualifying Needs"),
        opportunity("e2", 1, "Closed Won"),
        event("opportunity.deleted", {"id": "opp-1"}, "e3"),
        event("territory.upserted", {"id": "t-1", "name": "T"}, "e4", source="crm-y"),
    )
    answer = post(context, body)
    assert answer.status_code == 200
    assert answer.body["accepted"] == 1
    statuses = {r["event_id"]: (r["status"], r["errors"]) for r in answer.body["results"]}
    assert statuses["e1"] == ("accepted", [])
    assert statuses["e2"][0] == "rejected" and "unknown opportunity stage" in statuses["e2"][1][0]["message"]
    assert statuses["e3"][0] == "rejected" and "unknown event type" in statuses["e3"][1][0]["message"]
    assert statuses["e4"][0] == "rejected" and statuses["e4"][1][0]["field"] == "source"
    assert {e.event_id for e in read_inbox(store, NOW.replace(hour=0))} == {"e1"}


def test_all_bad_is_422(context):
    answer = post(context, batch(opportunity("e2", 1, "Closed Won")))
    assert answer.status_code == 422
    assert answer.body["accepted"] == 0


def test_reverse_order_ends_in_the_newest_state_with_the_full_history(context, store):
    # Given three stage changes of one opportunity, delivered newest first, one request each
    events = [
        opportunity("e1", 0, "Qualifying Needs", amount=100),
        opportunity("e2", 10, "Sales Presentation", amount=200),
        opportunity("e3", 20, "Verbal Approval", amount=300),
    ]
    outcomes = [post(context, batch(e)).body["results"][0]["outcome"] for e in reversed(events)]
    # Then only the newest changed the opportunity
    assert outcomes == ["applied", "stale", "stale"]
    opp = store.crm.raw(crm.opportunity_key("opp-1"))
    assert (opp["stage"], opp["amount"], opp["last_event_id"]) == ("Verbal Approval", 300, "e3")
    # And the history is in time order, as if delivered in order
    history = [(c.from_stage, c.to_stage) for c in stage_history(store, "opp-1")]
    assert history == [
        (None, "Qualifying Needs"),
        ("Qualifying Needs", "Sales Presentation"),
        ("Sales Presentation", "Verbal Approval"),
    ]


def test_in_order_and_reverse_order_end_in_the_same_state():
    events = [
        opportunity(f"e{i}", i, stage) for i, stage in enumerate(["Qualifying Needs", "Lost", "Job Won"])
    ]
    states = []
    for ordering in (events, list(reversed(events))):
        store = in_memory()
        context = EventsContext(
            store, StaticSourceSecrets({SOURCE: [SECRET]}), lambda: STAGES, now=lambda: NOW
        )
        post(context, batch(*ordering))
        opp = store.crm.raw(crm.opportunity_key("opp-1"))
        states.append(
            (opp["stage"], opp["last_event_id"], [c.to_stage for c in stage_history(store, "opp-1")])
        )
    assert states[0] == states[1]


def test_same_batch_twice_changes_nothing_the_second_time(context, store):
    body = batch(
        event("territory.upserted", {"id": "t-west", "name": "West"}, "e1"),
        opportunity("e2", 0, "Qualifying Needs"),
        event(
            "plan.upserted",
            {"node_type": "territory", "node_id": "t-west", "year": 2026, "quarter": 4, "amount": 5},
            "e3",
        ),
    )
    post(context, body)
    before, writes = json.dumps(entity_state(store), sort_keys=True, default=str), entity_writes(store)
    # When the very same batch comes again
    again = post(context, body)
    # Then each event is a duplicate and no entity was written
    assert [r["status"] for r in again.body["results"]] == ["duplicate"] * 3
    assert [r["outcome"] for r in again.body["results"]] == ["duplicate"] * 3
    assert entity_writes(store) == writes
    assert json.dumps(entity_state(store), sort_keys=True, default=str) == before


def test_stage_entered_at_is_kept_while_the_stage_stays(context, store):
    post(
        context,
        batch(opportunity("e1", 0, "Qualifying Needs"), opportunity("e2", 5, "Qualifying Needs", amount=9)),
    )
    opp = store.crm.raw(crm.opportunity_key("opp-1"))
    assert opp["stage_entered_at"].startswith("2026-11-22T10:00:00")
    post(context, batch(opportunity("e3", 9, "Sales Presentation")))
    opp = store.crm.raw(crm.opportunity_key("opp-1"))
    assert opp["stage_entered_at"].startswith("2026-11-22T10:09:00")
    assert opp["previous_stage"] == "Qualifying Needs"


def test_rep_keeps_manager_quota_and_out_of_office(context, store):
    rep = {
        "id": "rep-2",
        "name": "Nick Points",
        "email": "nick@example.com",
        "manager_id": "rep-9",
        "quota": {"2026-Q4": 120000},
        "activity_points_quota": 500,
        "out_of_office": [{"start": "2026-12-20", "end": "2027-01-02"}],
    }
    post(context, batch(event("rep.upserted", rep, "e1")))
    item = store.crm.raw(crm.rep_key("rep-2"))
    assert item["manager_id"] == "rep-9"
    assert item["quota"] == {"2026-Q4": 120000}
    assert item["out_of_office"] == {"periods": [{"start": "2026-12-20", "end": "2027-01-02"}]}


def test_plan_figures_live_per_node_year_and_quarter(context, store):
    figure = {"node_type": "account", "node_id": "acc-1", "year": 2026, "quarter": 3, "amount": "1250.50"}
    post(context, batch(event("plan.upserted", figure, "e1")))
    [item] = store.plan.plan_figures_of_year(2026)
    assert (item.node_type, item.node_id, item.quarter) == ("account", "acc-1", 3)
    assert str(item.amount) == "1250.50"
    assert plan_year_index("account", "acc-1", 2026, 3)[0] == "PLAN#2026"


def test_lead_status_changes_update_the_lead_in_order(context, store):
    # Given a lead the leads webhook stored
    store.crm.create_lead(
        crm.Lead(lead_id="lead-1", email="lead-1@example.com", status="New"),
        crm.LeadSubmission(
            submission_id="s1", lead_id="lead-1", received_at=NOW, source="web_form", outcome="created"
        ),
    )
    status = lambda eid, m, s: event("lead.status_changed", {"lead_id": "lead-1", "status": s}, eid, m)  # noqa: E731
    # When a newer and then an older status change arrive
    answer = post(context, batch(status("e2", 5, "Qualified Lead"), status("e1", 1, "Identified Prospect")))
    # Then the newer one holds
    assert [r["outcome"] for r in answer.body["results"]] == ["applied", "stale"]
    lead = store.crm.raw(crm.lead_key("lead-1"))
    assert lead["status"] == "Qualified Lead"
    assert lead["version"] == 1
    # And conversion moves it on
    post(context, batch(event("lead.converted", {"lead_id": "lead-1", "account_id": "acc-1"}, "e3", 9)))
    lead = store.crm.raw(crm.lead_key("lead-1"))
    assert (lead["status"], lead["converted_account_id"]) == ("Converted", "acc-1")


def test_status_of_an_unknown_lead_changes_nothing(context, store):
    answer = post(context, batch(event("lead.status_changed", {"lead_id": "nope", "status": "Lost"}, "e1")))
    assert answer.body["results"][0]["outcome"] == "missing"
    assert store.crm.raw(crm.lead_key("nope")) is None


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Hub-Source": SOURCE},
        {"X-Hub-Source": SOURCE, "X-Hub-Signature": "t=1,v1=00"},
    ],
)
def test_unsigned_or_malformed_is_401_and_stores_nothing(context, store, headers):
    answer = post(context, batch(opportunity("e1", 0, "Qualifying Needs")), headers)
    assert answer.status_code == 401
    assert all_items(store) == {}


def test_wrong_secret_is_401(context, store):
    body = batch(opportunity("e1", 0, "Qualifying Needs"))
    answer = post(context, body, signed_headers(body, secret="not-the-secret"))
    assert (answer.status_code, answer.body["reason"]) == (401, "no matching signature")
    assert all_items(store) == {}


def test_source_may_come_from_the_body_when_the_header_is_absent(context):
    body = batch(opportunity("e1", 0, "Qualifying Needs"))
    assert post(context, body, signed_headers(body, source=None)).status_code == 200


def test_the_same_signed_request_replayed_has_one_effect(context, store):
    # Given a signed request captured on the wire
    body = batch(opportunity("e1", 0, "Qualifying Needs"))
    headers = signed_headers(body)
    first = post(context, body, headers)
    writes = entity_writes(store)
    # When an attacker (or a retry) sends it again within the window
    second = post(context, body, headers)
    # Then it is answered as a duplicate and writes nothing
    assert first.body["results"][0]["status"] == "accepted"
    assert second.body["results"][0]["status"] == "duplicate"
    assert entity_writes(store) == writes


def test_too_large_is_413_before_anything_else(context, store):
    answer = post(context, b" " * (1024 * 1024 + 1), {})
    assert answer.status_code == 413


def test_unreadable_body_with_a_good_signature_is_400(context):
    assert post(context, b"not json").status_code == 400


def test_replay_restores_what_was_lost_and_changes_nothing_else(context, store):
    # Given applied events, and then an entity lost
    post(
        context,
        batch(
            opportunity("e1", 0, "Qualifying Needs"),
            event("territory.upserted", {"id": "t", "name": "T"}, "e2"),
        ),
    )
    del store.crm.items[crm.opportunity_key("opp-1")]
    # When the inbox is replayed
    seen = []
    summary = replay_events(store, STAGES, NOW.replace(hour=0), progress=seen.append)
    # Then the lost entity is back and the rest unchanged
    assert summary.outcomes == {"applied": 1, "duplicate": 1}
    assert seen and len(seen) == 2
    assert store.crm.raw(crm.opportunity_key("opp-1"))["stage"] == "Qualifying Needs"


def test_replay_of_one_source_only(context, store):
    other = EventsContext(store, StaticSourceSecrets({"crm-y": ["s"]}), lambda: STAGES, now=lambda: NOW)
    post(context, batch(opportunity("e1", 0, "Qualifying Needs")))
    body = batch(event("territory.upserted", {"id": "t", "name": "T"}, "e1", source="crm-y"))
    assert post(other, body, signed_headers(body, secret="s", source="crm-y")).status_code == 200
    summary = replay_events(store, STAGES, NOW.replace(hour=0), source="crm-y")
    assert summary.total == 1


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90m", NOW - timedelta(minutes=90)),
        ("6h", NOW - timedelta(hours=6)),
        ("3d", NOW - timedelta(days=3)),
        ("2026-11-22T10:00:00Z", NOW.replace(hour=10)),
        ("2026-11-22T10:00:00", NOW.replace(hour=10)),
    ],
)
def test_replay_since_accepts_iso_times_and_durations_ago(text, expected):
    assert parse_since(text, now=NOW) == expected


def test_replay_since_refuses_other_text():
    with pytest.raises(argparse.ArgumentTypeError):
        parse_since("yesterday", now=NOW)


def a_lead_of(store: EventStores, lead_id: str, owner: str) -> None:
    store.crm.create_lead(
        crm.Lead(
            lead_id=lead_id, email=f"{lead_id}@example.com", owner=owner, created_at=NOW, updated_at=NOW
        ),
        crm.LeadSubmission(
            submission_id="s1", lead_id=lead_id, received_at=NOW, source="web_form", outcome="created"
        ),
    )


@pytest.mark.parametrize("closing", ["Lost", "No Value", "Converted"])
def test_a_lead_moved_to_a_closed_outcome_leaves_its_owners_open_leads(context, store, closing):
    # Given two open leads of one rep (the routing's capacity check counts them)
    a_lead_of(store, "lead-1", "rep-1")
    a_lead_of(store, "lead-2", "rep-1")
    assert store.crm.open_lead_count("rep-1") == 2
    # When an external CRM moves one on, but not to an outcome: it stays open
    status = lambda eid, m, s: event("lead.status_changed", {"lead_id": "lead-1", "status": s}, eid, m)  # noqa: E731
    post(context, batch(status("e1", 1, "Qualified Lead")))
    assert store.crm.open_lead_count("rep-1") == 2
    # And when it reaches a closed outcome, it leaves the rep's open leads
    if closing == "Converted":
        post(context, batch(event("lead.converted", {"lead_id": "lead-1", "account_id": "acc-1"}, "e2", 2)))
    else:
        post(context, batch(status("e2", 2, closing)))
    assert store.crm.get_lead("lead-1").status == closing
    assert store.crm.open_lead_count("rep-1") == 1
    assert [x.lead_id for x in store.crm.leads_of_owner("rep-1", open_only=True)] == ["lead-2"]
    # And the status history has both changes
    assert [c.status for c in store.crm.lead_status_history("lead-1")] == ["Qualified Lead", closing]


OPENED_AT = NOW.replace(hour=10)


def test_an_escalation_without_a_due_time_is_overdue_from_its_opening(context, store):
    escalation = {
        "id": "esc-1",
        "account_id": "acc-1",
        "title": "Line down",
        "severity": "high",
        "status": "open",
    }
    post(context, batch(event("escalation.upserted", escalation, "e1", 0)))
    # Nothing says when it is due: it is due from when it was opened, so any sweep after that finds it
    opened = OPENED_AT  # the event's occurred_at
    [due] = store.crm.open_escalations_due(opened + timedelta(minutes=1))
    assert (due.escalation_id, due.due_at, due.due) == ("esc-1", None, opened)
    assert store.crm.open_escalations_due(opened - timedelta(minutes=1)) == []
    # And a later change (assigned) keeps it due from its opening, not from the change
    post(context, batch(event("escalation.upserted", {**escalation, "assignee": "rep-1"}, "e2", 30)))
    assert [e.due for e in store.crm.open_escalations_due(opened + timedelta(minutes=1))] == [opened]


def test_an_order_keeps_its_opportunity(context, store):
    order = {"id": "o-1", "account_id": "acc-1", "opportunity_id": "opp-1", "amount": "120.50",
             "booked_at": "2026-11-20T09:00:00Z"}  # fmt: skip
    answer = post(context, batch(event("order.booked", order, "e1")))
    assert answer.body["results"][0]["outcome"] == "applied"
    [stored] = store.crm.orders_of_year(2026)
    assert (stored.opportunity_id, str(stored.amount)) == ("opp-1", "120.50")
    assert store.crm.raw(crm.order_key("o-1"))["opportunity_id"] == "opp-1"


def test_a_rep_keeps_its_timezone_and_an_unknown_zone_is_refused(context, store):
    rep = {"id": "rep-3", "name": "Tia", "email": "tia@example.com", "capacity": 12, "timezone": "America/Chicago",
           "territory_id": "t-west", "out_of_office": [{"start": "2026-12-24", "end": "2026-12-26"}]}  # fmt: skip
    assert post(context, batch(event("rep.upserted", rep, "e1"))).status_code == 200
    stored = store.crm.get_rep("rep-3")
    assert (stored.timezone, stored.capacity, stored.territory_id) == ("America/Chicago", 12, "t-west")
    assert stored.away_on(date(2026, 12, 25))
    answer = post(context, batch(event("rep.upserted", {**rep, "timezone": "Mars/Olympus"}, "e2", 1)))
    assert answer.status_code == 422
    assert answer.body["results"][0]["errors"][0]["field"] == "data.timezone"


def test_a_source_that_is_not_text_is_401_not_a_crash(context, store):
    # Found by the OpenAPI fuzzing (schemathesis): a body whose events name a map as their source, unsigned
    body = json.dumps({"events": [{"event_id": "e1", "source": {"a": 1}}, {"source": ["x"]}]}).encode()
    answer = post(context, body, {})
    assert answer.status_code == 401
    assert all_items(store) == {}
