"""Receiving and applying events with in-memory storage: answers, idempotency, ordering, replay."""

from __future__ import annotations

import argparse
import json
from datetime import timedelta

import pytest
from crm_events.inbox import read_inbox
from crm_events.service import EventsContext, receive_events, replay_events

from hub.events_cli import parse_since
from shared import crm_entities as entities
from shared.config_schemas.stages import load_stages_file
from shared.crm_entities import InMemoryEntityStore, stage_history
from shared.signing import StaticSourceSecrets
from tests.unit.events.events_builders import NOW, SECRET, SOURCE, batch, event, opportunity, signed_headers

STAGES = load_stages_file()


@pytest.fixture
def store() -> InMemoryEntityStore:
    return InMemoryEntityStore()


@pytest.fixture
def context(store: InMemoryEntityStore) -> EventsContext:
    return EventsContext(
        store=store,
        secrets=StaticSourceSecrets({SOURCE: [SECRET]}),
        stages=lambda: STAGES,
        now=lambda: NOW,
    )


def post(context: EventsContext, body: bytes, headers: dict[str, str] | None = None):
    return receive_events(signed_headers(body) if headers is None else headers, body, context)


def entity_state(store: InMemoryEntityStore) -> dict:
    """Everything but the inbox and write stamps: what applying produced."""
    return {
        "/".join(k): {a: v for a, v in item.items() if a != "updated_at"}
        for k, item in store.items.items()
        if k[0] != "events"
    }


def entity_writes(store: InMemoryEntityStore) -> int:
    return store.writes["crm"] + store.writes["plan"]


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
    account = store.get(entities.entity_key("ACCOUNT", "acc-1"))
    assert account["territory_id"] == "t-west"
    assert account["aliases"] == ["TRU"]
    assert account["alias_keys"] == ["tru"]
    opp = store.get(entities.entity_key("OPPORTUNITY", "opp-1"))
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
    opp = store.get(entities.entity_key("OPPORTUNITY", "opp-1"))
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
        store = InMemoryEntityStore()
        context = EventsContext(
            store, StaticSourceSecrets({SOURCE: [SECRET]}), lambda: STAGES, now=lambda: NOW
        )
        post(context, batch(*ordering))
        opp = store.get(entities.entity_key("OPPORTUNITY", "opp-1"))
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
    opp = store.get(entities.entity_key("OPPORTUNITY", "opp-1"))
    assert opp["stage_entered_at"].startswith("2026-11-22T10:00:00")
    post(context, batch(opportunity("e3", 9, "Sales Presentation")))
    opp = store.get(entities.entity_key("OPPORTUNITY", "opp-1"))
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
    item = store.get(entities.entity_key("REP", "rep-2"))
    assert item["manager_id"] == "rep-9"
    assert item["quota"] == {"2026-Q4": 120000}
    assert item["out_of_office"] == {"periods": [{"start": "2026-12-20", "end": "2027-01-02"}]}


def test_plan_figures_live_per_node_year_and_quarter(context, store):
    figure = {"node_type": "account", "node_id": "acc-1", "year": 2026, "quarter": 3, "amount": "1250.50"}
    post(context, batch(event("plan.upserted", figure, "e1")))
    item = store.get(entities.plan_key("account", "acc-1", 2026, 3))
    assert item["entity"] == "PLAN"
    assert str(item["amount"]) == "1250.50"
    assert item["gsi1pk"] == "PLAN#2026"


def test_lead_status_changes_update_the_lead_in_order(context, store):
    # Given a lead the leads webhook stored
    store.items[("crm", "LEAD#lead-1", "LEAD")] = {
        "pk": "LEAD#lead-1",
        "sk": "LEAD",
        "entity": "LEAD",
        "status": "New",
    }
    status = lambda eid, m, s: event("lead.status_changed", {"lead_id": "lead-1", "status": s}, eid, m)  # noqa: E731
    # When a newer and then an older status change arrive
    answer = post(context, batch(status("e2", 5, "Qualified Lead"), status("e1", 1, "Identified Prospect")))
    # Then the newer one holds
    assert [r["outcome"] for r in answer.body["results"]] == ["applied", "stale"]
    lead = store.get(entities.entity_key("LEAD", "lead-1"))
    assert lead["status"] == "Qualified Lead"
    assert lead["version"] == 1
    # And conversion moves it on
    post(context, batch(event("lead.converted", {"lead_id": "lead-1", "account_id": "acc-1"}, "e3", 9)))
    lead = store.get(entities.entity_key("LEAD", "lead-1"))
    assert (lead["status"], lead["converted_account_id"]) == ("Converted", "acc-1")


def test_status_of_an_unknown_lead_changes_nothing(context, store):
    answer = post(context, batch(event("lead.status_changed", {"lead_id": "nope", "status": "Lost"}, "e1")))
    assert answer.body["results"][0]["outcome"] == "missing"
    assert store.get(entities.entity_key("LEAD", "nope")) is None


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
    assert store.items == {}


def test_wrong_secret_is_401(context, store):
    body = batch(opportunity("e1", 0, "Qualifying Needs"))
    answer = post(context, body, signed_headers(body, secret="not-the-secret"))
    assert (answer.status_code, answer.body["reason"]) == (401, "no matching signature")
    assert store.items == {}


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
    del store.items[("crm", "OPPORTUNITY#opp-1", "OPPORTUNITY")]
    # When the inbox is replayed
    seen = []
    summary = replay_events(store, STAGES, NOW.replace(hour=0), progress=seen.append)
    # Then the lost entity is back and the rest unchanged
    assert summary.outcomes == {"applied": 1, "duplicate": 1}
    assert seen and len(seen) == 2
    assert store.get(entities.entity_key("OPPORTUNITY", "opp-1"))["stage"] == "Qualifying Needs"


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
