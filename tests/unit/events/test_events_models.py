"""Event models and body parsing (functions/crm_events/models.py)."""

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from crm_events.models import (
    EVENT_TYPES,
    MAX_BODY_BYTES,
    BodyError,
    OpportunityUpserted,
    PlanUpserted,
    parse_events,
    validate_event,
)

from shared.config_schemas.stages import load_stages_file

STAGES = load_stages_file()
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)

VALID_DATA = {
    "territory.upserted": {"id": "t-west", "name": "West", "parent_id": "t-na", "owner": "rsm-1"},
    "rep.upserted": {
        "id": "rep-1",
        "name": "Nick Points",
        "email": "nick@example.com",
        "manager_id": "rep-9",
        "quota": 120000,
        "activity_points_quota": 500,
        "out_of_office": [{"start": "2026-12-20", "end": "2027-01-02"}],
    },
    "account.upserted": {
        "id": "acc-1",
        "name": "Tows R Us",
        "territory_id": "t-west",
        "owner": "rep-1",
        "key_account": True,
        "aliases": ["Tows-R-Us Inc", "TRU"],
    },
    "contact.upserted": {"id": "c-1", "account_id": "acc-1", "first_name": "Jason", "email": "j@tru.example"},
    "opportunity.upserted": {
        "id": "opp-1",
        "account_id": "acc-1",
        "name": "Managed Services",
        "owner": "rep-1",
        "stage": "Qualifying Needs",
        "amount": "6200.00",
        "close_date": "2026-11-30",
        "next_step": "1st appointment",
        "next_step_date": "2026-12-09",
        "last_activity_at": "2026-11-20T10:00:00Z",
    },
    "escalation.upserted": {
        "id": "esc-1",
        "account_id": "acc-1",
        "title": "AVL qualification",
        "severity": "high",
        "status": "open",
        "assignee": "fae-1",
        "due_at": "2026-12-01T00:00:00Z",
    },
    "sample.upserted": {
        "id": "s-1",
        "account_id": "acc-1",
        "opportunity_id": "opp-1",
        "part_number": "PN-100",
        "quantity": 10,
        "shipped_at": "2026-11-01T00:00:00Z",
        "follow_up_at": "2026-11-15T00:00:00Z",
    },
    "activity.logged": {
        "id": "a-1",
        "rep_id": "rep-1",
        "type": "Thank You Card",
        "points": 1,
        "at": "2026-11-21T09:00:00Z",
    },
    "order.booked": {
        "id": "o-1",
        "account_id": "acc-1",
        "amount": 1500,
        "currency": "USD",
        "booked_at": "2026-11-21T09:00:00Z",
    },
    "plan.upserted": {
        "node_type": "territory",
        "node_id": "t-west",
        "year": 2026,
        "quarter": 4,
        "amount": 250000,
    },
    "lead.status_changed": {"lead_id": "lead-1", "status": "Qualified Lead", "reason": "need defined"},
    "lead.converted": {"lead_id": "lead-1", "account_id": "acc-1", "contact_id": "c-1"},
}


def envelope(type_, data, event_id="evt-1", occurred_at="2026-11-22T10:00:00Z"):
    return {"event_id": event_id, "type": type_, "occurred_at": occurred_at, "source": "crm-x", "data": data}


def test_every_type_has_an_example():
    assert set(VALID_DATA) == set(EVENT_TYPES)


@pytest.mark.parametrize("type_", EVENT_TYPES)
def test_each_type_validates(type_):
    result = validate_event(envelope(type_, VALID_DATA[type_]), STAGES, now=NOW)
    assert result.valid, result.errors
    assert result.event.type == type_


def test_opportunity_stage_is_canonical_and_probability_defaults_to_the_stage():
    data = {**VALID_DATA["opportunity.upserted"], "stage": "verbal approval"}
    event = validate_event(envelope("opportunity.upserted", data), STAGES, now=NOW).event
    assert isinstance(event, OpportunityUpserted)
    assert event.data.stage == "Verbal Approval"
    assert event.data.probability == 80
    assert event.data.amount == Decimal("6200.00")


def test_explicit_probability_is_kept():
    data = {**VALID_DATA["opportunity.upserted"], "probability": 35}
    assert (
        validate_event(envelope("opportunity.upserted", data), STAGES, now=NOW).event.data.probability == 35
    )


def test_occurred_at_is_normalised_to_utc():
    event = validate_event(
        envelope("plan.upserted", VALID_DATA["plan.upserted"], occurred_at="2026-11-22T12:00:00+02:00"),
        STAGES,
        now=NOW,
    ).event
    assert isinstance(event, PlanUpserted)
    assert event.occurred_at == datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


def errors_of(obj):
    result = validate_event(obj, STAGES, now=NOW)
    assert not result.valid
    return {e["field"]: e["message"] for e in result.errors}


def test_unknown_type_is_an_error_with_the_reason():
    errors = errors_of(envelope("opportunity.deleted", {}))
    assert "unknown event type 'opportunity.deleted'" in errors["type"]


def test_unknown_stage_is_an_error_with_the_reason():
    errors = errors_of(
        envelope("opportunity.upserted", {**VALID_DATA["opportunity.upserted"], "stage": "Closed Won"})
    )
    assert "unknown opportunity stage 'Closed Won'" in errors["data.stage"]


def test_unknown_lead_status_is_an_error():
    errors = errors_of(envelope("lead.status_changed", {"lead_id": "l1", "status": "Hot"}))
    assert "unknown lead status 'Hot'" in errors["data.status"]


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"occurred_at": "2026-11-22T10:00:00"}, "occurred_at"),  # naive: no time zone
        ({"occurred_at": "2026-11-22T14:00:00Z"}, "occurred_at"),  # two hours ahead of now
        ({"event_id": ""}, "event_id"),
        ({"event_id": "has space"}, "event_id"),
        ({"source": "CRM X"}, "source"),
        ({"data": {**VALID_DATA["plan.upserted"], "quarter": 5}}, "data.quarter"),
        ({"data": {**VALID_DATA["plan.upserted"], "node_type": "rep"}}, "data.node_type"),
        ({"data": {**VALID_DATA["plan.upserted"], "amount": "NaN"}}, "data.amount"),
        ({"data": {**VALID_DATA["plan.upserted"], "amount": -1}}, "data.amount"),
        ({"data": {**VALID_DATA["plan.upserted"], "node_id": "a#b"}}, "data.node_id"),
    ],
)
def test_invalid_fields_are_reported_by_field(patch, field):
    assert field in errors_of({**envelope("plan.upserted", VALID_DATA["plan.upserted"]), **patch})


def test_missing_type_is_reported():
    obj = envelope("plan.upserted", VALID_DATA["plan.upserted"])
    del obj["type"]
    assert errors_of(obj) == {"type": "type is required"}


def test_unknown_data_fields_are_dropped():
    data = {**VALID_DATA["territory.upserted"], "colour": "red"}
    event = validate_event(envelope("territory.upserted", data), STAGES, now=NOW).event
    assert "colour" not in event.data.model_dump()


def test_rep_cannot_manage_themselves_and_ooo_must_be_ordered():
    rep = VALID_DATA["rep.upserted"]
    assert errors_of(envelope("rep.upserted", {**rep, "manager_id": "rep-1"}))
    assert errors_of(
        envelope("rep.upserted", {**rep, "out_of_office": [{"start": "2026-12-02", "end": "2026-12-01"}]})
    )


def test_single_event_body():
    results = parse_events(
        json.dumps(envelope("plan.upserted", VALID_DATA["plan.upserted"])), STAGES, now=NOW
    )
    assert [r.valid for r in results] == [True]


def test_batch_answers_per_event_and_keeps_the_good_ones():
    # Given a batch with a good event, an unknown type, a non-object and another good one
    body = json.dumps(
        {
            "events": [
                envelope("territory.upserted", VALID_DATA["territory.upserted"], event_id="e1"),
                envelope("territory.moved", {}, event_id="e2"),
                7,
                envelope("account.upserted", VALID_DATA["account.upserted"], event_id="e4"),
            ]
        }
    )
    # When parsed
    results = parse_events(body, STAGES, now=NOW)
    # Then each event has its own verdict, in order
    assert [(r.index, r.event_id, r.valid) for r in results] == [
        (0, "e1", True),
        (1, "e2", False),
        (2, None, False),
        (3, "e4", True),
    ]


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"\xff\xfe",
        b"[]",
        b'"text"',
        b'{"events": {}}',
        b'{"events": []}',
        json.dumps({"events": [{}] * 101}).encode(),
        b"[" * 100_000,
    ],
)
def test_unreadable_bodies_are_body_errors(body):
    with pytest.raises(BodyError) as err:
        parse_events(body, STAGES, now=NOW)
    assert not err.value.too_large


def test_hundred_events_is_the_limit():
    body = json.dumps(
        {
            "events": [
                envelope("plan.upserted", VALID_DATA["plan.upserted"], event_id=f"e{i}") for i in range(100)
            ]
        }
    )
    assert len(parse_events(body, STAGES, now=NOW)) == 100


def test_body_over_one_mib_is_too_large():
    body = b" " * (MAX_BODY_BYTES + 1)
    with pytest.raises(BodyError) as err:
        parse_events(body, STAGES, now=NOW)
    assert err.value.too_large


def test_body_of_exactly_one_mib_is_read():
    event = json.dumps(envelope("plan.upserted", VALID_DATA["plan.upserted"])).encode()
    body = event + b" " * (MAX_BODY_BYTES - len(event))
    assert len(body) == MAX_BODY_BYTES
    assert parse_events(body, STAGES, now=NOW)[0].valid
