"""POST /events through the handler under mock_aws: tables and SSM built from the template."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.signing import sign
from shared.store import crm
from shared.store.plan import plan_figure_key
from tests.helpers import http_event

SOURCE = "crm-test"
SECRET = "whsec_handler_secret"


@pytest.fixture
def events_api(aws, lambda_context):
    """The events handler with one signing source in SSM; returns a poster of signed bodies."""
    from crm_events import app

    app.events_context.cache_clear()
    boto3.client("ssm", region_name="us-east-1").put_parameter(
        Name=f"/crm-hub/sources/{SOURCE}", Value=json.dumps([SECRET]), Type="SecureString", Overwrite=True
    )

    def post(
        body: bytes | str, headers: dict[str, str] | None = None, *, secret: str = SECRET
    ) -> tuple[int, Any]:
        raw = body.encode() if isinstance(body, str) else body
        if headers is None:
            headers = {"X-Hub-Signature": sign(raw, secret, int(time.time())), "X-Hub-Source": SOURCE}
        result = app.handler(http_event("POST", "/events", raw, headers), lambda_context)
        return result["statusCode"], json.loads(result["body"]) if result.get("body") else None

    yield post
    app.events_context.cache_clear()


def now_iso(offset_s: int = 0) -> str:
    return datetime.fromtimestamp(time.time() + offset_s, UTC).isoformat().replace("+00:00", "Z")


def ev(type_: str, data: dict[str, Any], event_id: str, offset_s: int = 0) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "type": type_,
        "occurred_at": now_iso(offset_s),
        "source": SOURCE,
        "data": data,
    }


def opp(event_id: str, offset_s: int, stage: str) -> dict[str, Any]:
    data = {"id": "opp-1", "account_id": "acc-1", "name": "Big deal", "owner": "rep-sam", "stage": stage}
    return ev("opportunity.upserted", data, event_id, offset_s)


def body_of(*events: dict[str, Any]) -> str:
    return json.dumps({"events": list(events)})


def items(aws, logical: str) -> list[dict[str, Any]]:
    table = boto3.resource("dynamodb", region_name="us-east-1").Table(aws.table_name(logical))
    return table.scan()["Items"]


def get(aws, logical: str, pk: str, sk: str) -> dict[str, Any] | None:
    table = boto3.resource("dynamodb", region_name="us-east-1").Table(aws.table_name(logical))
    return table.get_item(Key={"pk": pk, "sk": sk}).get("Item")


def test_a_signed_batch_lands_in_the_inbox_and_the_crm(aws, events_api):
    # Given a signed batch creating a territory, an account, an opportunity and a plan figure
    body = body_of(
        ev("territory.upserted", {"id": "T-NEW", "name": "New", "parent_id": "T-AMER"}, "e1", -60),
        ev(
            "account.upserted",
            {"id": "acc-1", "name": "Tows R Us", "territory_id": "T-NEW", "aliases": ["TRU"]},
            "e2",
            -60,
        ),
        opp("e3", -60, "Qualifying Needs"),
        ev(
            "plan.upserted",
            {"node_type": "territory", "node_id": "T-NEW", "year": 2026, "quarter": 4, "amount": 9},
            "e4",
        ),
    )
    # When posted
    status, answer = events_api(body)
    # Then all are accepted and stored where readers look
    assert status == 200, answer
    assert answer["accepted"] == 4
    assert get(aws, "CrmTable", *crm.account_key("acc-1"))["aliases"] == ["TRU"]
    assert get(aws, "CrmTable", *crm.opportunity_key("opp-1"))["stage"] == "Qualifying Needs"
    assert get(aws, "PlanTable", *plan_figure_key("territory", "T-NEW", 2026, 4))["entity"] == "PLAN"
    # And the inbox keeps each for at least 72 hours
    inbox = items(aws, "EventsTable")
    assert len(inbox) == 4
    assert all(int(i["expires_at"]) >= time.time() + 72 * 3600 - 60 for i in inbox)


def test_pynamodb_models_read_what_events_wrote(aws, events_api):
    # Given a rep and an account written from events
    rep = {"id": "rep-x", "name": "Rex", "email": "rex@example.com", "manager_id": "rep-maria", "quota": 1000,
           "out_of_office": [{"start": "2026-12-20", "end": "2027-01-02"}]}  # fmt: skip
    status, _ = events_api(
        body_of(ev("rep.upserted", rep, "r1"), ev("account.upserted", {"id": "a", "name": "A"}, "a1"))
    )
    assert status == 200
    # When read through the store's models / Then the shapes fit
    from shared.store.crm import AccountItem, RepItem

    item = RepItem.get(*crm.rep_key("rep-x"))
    assert item.manager_id == "rep-maria"
    assert item.quota.as_dict() == {"default": 1000}
    assert item.out_of_office.as_dict()["periods"] == [{"start": "2026-12-20", "end": "2027-01-02"}]
    assert AccountItem.get(*crm.account_key("a")).name == "A"


def test_an_event_updates_a_demo_entity_written_without_versions(aws, demo_data, events_api):
    _status, answer = events_api(
        body_of(ev("account.upserted", {"id": "A-ACME", "name": "Acme Robotics"}, "x1"))
    )
    assert answer["results"][0]["outcome"] == "applied"
    assert get(aws, "CrmTable", *crm.account_key("A-ACME"))["name"] == "Acme Robotics"


def test_reverse_order_ends_in_the_newest_state(aws, events_api):
    events = [
        opp("e1", -300, "Qualifying Needs"),
        opp("e2", -200, "Sales Presentation"),
        opp("e3", -100, "Job Won"),
    ]
    for event in reversed(events):
        assert events_api(body_of(event))[0] == 200
    item = get(aws, "CrmTable", *crm.opportunity_key("opp-1"))
    assert (item["stage"], item["last_event_id"]) == ("Job Won", "e3")
    from crm_events import app

    history = [(c.from_stage, c.to_stage) for c in app.events_context().store.crm.stage_history("opp-1")]
    assert history == [
        (None, "Qualifying Needs"),
        ("Qualifying Needs", "Sales Presentation"),
        ("Sales Presentation", "Job Won"),
    ]


def test_same_batch_twice_changes_nothing(aws, events_api):
    body = body_of(
        opp("e1", -10, "Qualifying Needs"), ev("territory.upserted", {"id": "T9", "name": "Nine"}, "e2")
    )
    events_api(body)
    before = sorted(map(str, items(aws, "CrmTable") + items(aws, "PlanTable")))
    status, answer = events_api(body)
    assert status == 200
    assert [r["status"] for r in answer["results"]] == ["duplicate", "duplicate"]
    # No entity changed (the inbox keeps one record per event; a redelivery only moves its retention on)
    assert sorted(map(str, items(aws, "CrmTable") + items(aws, "PlanTable"))) == before
    assert len(items(aws, "EventsTable")) == 2


def test_a_replayed_signed_request_has_one_effect(aws, events_api):
    raw = body_of(opp("e1", -10, "Qualifying Needs")).encode()
    headers = {"X-Hub-Signature": sign(raw, SECRET, int(time.time())), "X-Hub-Source": SOURCE}
    assert events_api(raw, headers)[1]["results"][0]["status"] == "accepted"
    assert events_api(raw, headers)[1]["results"][0]["status"] == "duplicate"
    assert len(items(aws, "EventsTable")) == 1
    assert (
        len([i for i in items(aws, "CrmTable") if i["pk"] == crm.opportunity_key("opp-1")[0]]) == 2
    )  # the opportunity and one observation


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Hub-Source": SOURCE},
        {"X-Hub-Source": SOURCE, "X-Hub-Signature": "t=abc,v1=00"},
        {"X-Hub-Source": "crm-unknown", "X-Hub-Signature": "t=1700000000,v1=" + "0" * 64},
    ],
)
def test_missing_malformed_or_unknown_is_401(aws, events_api, headers):
    status, _answer = events_api(body_of(opp("e1", 0, "Qualifying Needs")), headers)
    assert status == 401
    assert items(aws, "EventsTable") == []


def test_wrong_secret_and_old_timestamp_are_401(aws, events_api):
    raw = body_of(opp("e1", 0, "Qualifying Needs")).encode()
    assert events_api(raw, secret="wrong")[0] == 401
    stale = {"X-Hub-Signature": sign(raw, SECRET, int(time.time()) - 301), "X-Hub-Source": SOURCE}
    assert events_api(raw, stale)[0] == 401


def test_rotation_with_two_active_secrets(aws, events_api):
    from crm_events import app

    boto3.client("ssm", region_name="us-east-1").put_parameter(
        Name=f"/crm-hub/sources/{SOURCE}",
        Value=json.dumps(["new-secret", SECRET]),
        Type="SecureString",
        Overwrite=True,
    )
    app.events_context.cache_clear()
    assert events_api(body_of(opp("e1", 0, "Qualifying Needs")), secret=SECRET)[0] == 200
    assert events_api(body_of(opp("e2", 1, "Qualifying Needs")), secret="new-secret")[0] == 200


def test_over_one_mib_is_413(aws, events_api):
    assert events_api(" " * (1024 * 1024 + 1))[0] == 413


json_leaf = st.none() | st.booleans() | st.integers() | st.text(max_size=12)
json_value = st.recursive(
    json_leaf,
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=3),
    max_leaves=12,
)
event_like = st.fixed_dictionaries(
    {
        "event_id": st.one_of(st.just("p-1"), st.text(min_size=1, max_size=8), json_value),
        "type": st.one_of(st.sampled_from(["opportunity.upserted", "plan.upserted", "territory.upserted"]), json_value),
        "occurred_at": st.one_of(st.just(now_iso()), json_value),
        "source": st.one_of(st.just(SOURCE), json_value),
        "data": st.one_of(
            st.fixed_dictionaries(
                {"id": st.sampled_from(["x", "", "a#b"]), "name": st.text(max_size=5), "account_id": st.just("a")},
                optional={"stage": st.sampled_from(["Job Won", "nope"]), "node_type": st.sampled_from(["account", "x"]),
                          "node_id": st.just("n"), "year": st.integers(1990, 2110), "quarter": st.integers(0, 5),
                          "amount": st.one_of(st.integers(-5, 5), st.text(max_size=4))},
            ),
            json_value,
        ),
    }
)  # fmt: skip
bodies = st.one_of(
    st.binary(max_size=64),
    json_value.map(json.dumps),
    event_like.map(json.dumps),
    st.lists(event_like, max_size=4).map(lambda es: json.dumps({"events": es})),
)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body=bodies)
def test_no_signed_body_gives_a_5xx_and_nothing_invalid_is_stored(aws, events_api, body):
    from crm_events.models import validate_event

    from shared.config_schemas.stages import load_stages_file

    status, _ = events_api(body)
    assert status < 500
    stages = load_stages_file()
    for item in items(aws, "EventsTable"):
        assert validate_event(json.loads(item["body"]), stages).valid
    for item in items(aws, "CrmTable") + items(aws, "PlanTable"):
        # Only validated events are applied: every entity carries its event's version and a clean id.
        assert item["entity"] and item["last_event_id" if "last_event_id" in item else "event_id"]
        assert "#" not in item["pk"].split("#", 1)[1] or item["entity"] == "PLAN"


def test_the_opportunity_route_shows_the_stage_history(aws, events_api, lambda_context):
    # Given an opportunity that moved on
    events_api(body_of(opp("e1", -100, "Qualifying Needs")))
    events_api(body_of(opp("e2", -50, "Proposal Delivered")))
    # When read through the reports API
    from reports_api.app import handler

    result = handler(http_event("GET", "/opportunities/opp-1", authorized=True), lambda_context)
    view = json.loads(result["body"])
    # Then the change shows, old stage to new, with when
    assert result["statusCode"] == 200
    assert view["stage"] == "Proposal Delivered"
    assert [(c["from_stage"], c["to_stage"]) for c in view["stage_history"]] == [
        (None, "Qualifying Needs"),
        ("Qualifying Needs", "Proposal Delivered"),
    ]
    missing = handler(http_event("GET", "/opportunities/nope", authorized=True), lambda_context)
    assert missing["statusCode"] == 404


def test_hub_events_replay_restores_a_lost_entity_and_changes_nothing_else(aws, events_api, tmp_path, capsys):
    # Given applied events, then an opportunity lost from the CRM table
    events_api(
        body_of(opp("e1", -30, "Qualifying Needs"), ev("territory.upserted", {"id": "T9", "name": "N"}, "e2"))
    )
    table = boto3.resource("dynamodb", region_name="us-east-1").Table(aws.table_name("CrmTable"))
    table.delete_item(Key=dict(zip(("pk", "sk"), crm.opportunity_key("opp-1"), strict=True)))
    # When the operator replays the last hour
    from hub.cli import main

    code = main(["events", "--home", str(tmp_path), "replay", "--since", "1h", "--no-progress"])
    # Then the opportunity is back; the territory was already up to date
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0
    assert summary["outcomes"] == {"applied": 1, "duplicate": 1}
    assert get(aws, "CrmTable", *crm.opportunity_key("opp-1"))["stage"] == "Qualifying Needs"


def test_lead_status_changes_apply_in_order_to_the_intakes_lead(aws, events_api):
    # Given a lead the intake stored
    from shared.store.crm import LeadItem

    LeadItem(*crm.lead_key("L1"), lead_id="L1", email="l1@example.com", status="New", version=3).save()

    def status(event_id: str, offset_s: int, value: str) -> dict[str, Any]:
        return ev(
            "lead.status_changed", {"lead_id": "L1", "status": value, "reason": "call"}, event_id, offset_s
        )

    # When a newer change, an older one, and a change for a lead nobody knows arrive
    newer = status("s2", -10, "qualified lead")
    _, answer = events_api(
        body_of(
            newer,
            status("s1", -20, "Identified Prospect"),
            ev("lead.status_changed", {"lead_id": "L404", "status": "Lost"}, "s3"),
        )
    )
    # Then the newer holds, in the catalogue's spelling, the intake's version moved on, and nothing else changed
    assert [r["outcome"] for r in answer["results"]] == ["applied", "stale", "missing"]
    lead = LeadItem.get(*crm.lead_key("L1"))
    assert (lead.status, lead.version, lead.email) == ("Qualified Lead", 4, "l1@example.com")
    assert get(aws, "CrmTable", *crm.lead_key("L404")) is None
    # And the same change again is a duplicate
    assert events_api(body_of(newer))[1]["results"][0]["outcome"] == "duplicate"


def test_a_lead_closed_by_an_external_crm_leaves_its_owners_open_leads(aws, events_api):
    # Given two open leads of one rep, stored by the intake's writer
    store = crm.DynamoCrmStore()
    for lead_id in ("L1", "L2"):
        lead = crm.Lead(lead_id=lead_id, email=f"{lead_id}@example.com", owner="rep-1",
                        created_at=datetime.now(UTC), updated_at=datetime.now(UTC))  # fmt: skip
        submission = crm.LeadSubmission(submission_id="s", lead_id=lead_id, received_at=datetime.now(UTC),
                                        source="web_form", outcome="created")  # fmt: skip
        store.create_lead(lead, submission)
    assert store.open_lead_count("rep-1") == 2
    # When the CRM marks one Lost and converts the other
    _, answer = events_api(
        body_of(
            ev("lead.status_changed", {"lead_id": "L1", "status": "Lost"}, "c1", -5),
            ev("lead.converted", {"lead_id": "L2", "account_id": "acc-1"}, "c2", -5),
        )
    )
    assert [r["outcome"] for r in answer["results"]] == ["applied", "applied"]
    # Then neither counts against the rep's capacity any more
    assert store.open_lead_count("rep-1") == 0
    assert {x.status for x in store.leads_of_owner("rep-1")} == {"Lost", "Converted"}


def test_an_order_keeps_its_opportunity_on_dynamodb(aws, events_api):
    order = {"id": "o-9", "account_id": "acc-1", "opportunity_id": "opp-1", "amount": "99.95", "currency": "EUR",
             "booked_at": now_iso(-60)}  # fmt: skip
    assert events_api(body_of(ev("order.booked", order, "o1")))[0] == 200
    stored = get(aws, "CrmTable", *crm.order_key("o-9"))
    assert (stored["opportunity_id"], stored["amount"], stored["currency"]) == (
        "opp-1",
        Decimal("99.95"),
        "EUR",
    )


def test_the_handler_answers_post_events_as_the_resolver_that_documents_it(aws, events_api, lambda_context):
    # Given a batch already accepted, then requests whose answers do not change when asked twice: that batch
    # again (duplicates), one of its ids with another body (409 inside a 200), an unknown type only (every
    # event rejected), a bad signature (401), a body that is not JSON (400)
    from crm_events import app, web

    now = int(time.time())
    raw_ok = body_of(opp("p1", -30, "Qualifying Needs"), ev("nonsense.kind", {}, "p2")).encode()
    assert events_api(raw_ok)[0] == 200
    raw_conflict = body_of(opp("p1", -30, "Job Won")).encode()
    raw_rejected = body_of(ev("nonsense.kind", {}, "p3")).encode()
    requests = [
        (raw_ok, {"X-Hub-Signature": sign(raw_ok, SECRET, now), "X-Hub-Source": SOURCE}),
        (raw_conflict, {"X-Hub-Signature": sign(raw_conflict, SECRET, now), "X-Hub-Source": SOURCE}),
        (raw_rejected, {"X-Hub-Signature": sign(raw_rejected, SECRET, now), "X-Hub-Source": SOURCE}),
        (raw_ok, {"X-Hub-Signature": sign(raw_ok, "whsec_other", now), "X-Hub-Source": SOURCE}),
        (b"{not json", {"X-Hub-Signature": sign(b"{not json", SECRET, now), "X-Hub-Source": SOURCE}),
    ]
    statuses = []
    for raw, headers in requests:
        # When the handler answers it directly, and the resolver answers the same request
        direct = app.handler(http_event("POST", "/events", raw, headers), lambda_context)
        resolved = web.app.resolve(http_event("POST", "/events", raw, headers), lambda_context)
        # Then the two answers are the same, byte for byte
        assert direct == resolved
        statuses.append(direct["statusCode"])
    assert 401 in statuses and 400 in statuses and 200 in statuses


def test_a_request_other_than_post_events_is_answered_by_the_resolver(aws, events_api, lambda_context):
    # When a GET reaches the function (API Gateway routes only POST /events here)
    from crm_events import app

    event = http_event("POST", "/events", b"", {})
    event["requestContext"]["http"]["method"] = "GET"
    answer = app.handler(event, lambda_context)
    # Then powertools' resolver answers it, as before: not found
    assert answer["statusCode"] == 404
    assert app.app.__class__.__name__ == "APIGatewayHttpResolver"
