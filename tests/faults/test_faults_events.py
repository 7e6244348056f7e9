"""Faults on the CRM events and the lead form: every event of a batch delivered reversed and shuffled,
DynamoDB throttling a share of the writes (the sender retries on 503), SES failing for a while, and a
schedule fired twice. Each outcome is compared with the same input without the fault."""

from __future__ import annotations

import json
import random
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from shared.signing import sign
from tests.faults.conftest import until_done
from tests.handlers.test_alerts_handler import emails
from tests.helpers import http_event

SOURCE = "crm-faults"
SECRET = "whsec_faults"
T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
STAGES = ["Qualifying Needs", "Sales Presentation", "Sales Presentation", "Proposal Delivered",
          "Verbal Approval", "Proposal Delivered", "Verbal Approval"]  # fmt: skip


@pytest.fixture
def send_events(aws, lambda_context):
    from crm_events import app

    app.events_context.cache_clear()
    boto3.client("ssm", region_name="us-east-1").put_parameter(
        Name=f"/crm-hub/sources/{SOURCE}", Value=json.dumps([SECRET]), Type="SecureString", Overwrite=True
    )

    def send(events: list[dict[str, Any]]) -> tuple[int, dict[str, Any]]:
        body = json.dumps({"events": events}).encode()
        headers = {"X-Hub-Signature": sign(body, SECRET, int(time.time())), "X-Hub-Source": SOURCE}
        answer = app.handler(http_event("POST", "/events", body, headers), lambda_context)
        return answer["statusCode"], json.loads(answer["body"] or "{}")

    yield send
    app.events_context.cache_clear()


def history_events(opportunity_id: str) -> list[dict[str, Any]]:
    return [
        {"event_id": f"{opportunity_id}-{n}", "type": "opportunity.upserted", "source": SOURCE,
         "occurred_at": (T0 + timedelta(minutes=n)).isoformat().replace("+00:00", "Z"),
         "data": {"id": opportunity_id, "account_id": "acc-f", "name": "Deal", "stage": stage, "amount": str(100 + n)}}
        for n, stage in enumerate(STAGES)
    ]  # fmt: skip


def view(opportunity_id: str, lambda_context: Any) -> dict[str, Any]:
    from reports_api.app import handler

    answer = handler(http_event("GET", f"/opportunities/{opportunity_id}", authorized=True), lambda_context)
    found = json.loads(answer["body"])
    found.pop("opportunity_id")
    return found


def test_every_event_of_a_batch_reversed_or_shuffled_gives_the_in_order_state(send_events, lambda_context):
    # The run without the fault: in order
    assert send_events(history_events("opp-ordered"))[0] == 200
    expected = view("opp-ordered", lambda_context)
    assert expected["stage"] == "Verbal Approval"
    # Reversed, shuffled, and one event per request in a shuffled order
    assert send_events(history_events("opp-reversed")[::-1])[0] == 200
    assert send_events(random.Random(7).sample(history_events("opp-shuffled"), len(STAGES)))[0] == 200
    for event in random.Random(11).sample(history_events("opp-one-by-one"), len(STAGES)):
        assert send_events([event])[0] == 200
    for opportunity_id in ("opp-reversed", "opp-shuffled", "opp-one-by-one"):
        assert view(opportunity_id, lambda_context) == expected, opportunity_id


def test_dynamodb_throttling_on_event_writes_loses_and_doubles_nothing(send_events, lambda_context, faults):
    assert send_events(history_events("opp-calm"))[0] == 200
    expected = view("opp-calm", lambda_context)
    # Every write is followed by a burst: the batch of 7 is 2 writes now (an inbox transaction and an
    # entity transaction), so "after every 4th write" would never reach the burst longer than retries.
    faults.throttle_every, faults.throttle_burst = 1, 6
    answers = until_done(lambda: send_events(history_events("opp-busy")), done=lambda a: a[0] == 200)
    faults.clear()
    assert faults.throttled > 0 and any(a[0] == 503 for a in answers if isinstance(a, tuple))
    assert view("opp-busy", lambda_context) == expected


def test_a_poison_event_fails_alone_and_the_others_are_applied(send_events, lambda_context, faults):
    # Given a batch of accounts, one of which DynamoDB refuses as sent however often it is retried
    batch = [
        {"event_id": f"acc-{n}", "type": "account.upserted", "source": SOURCE, "occurred_at": "2026-11-20T09:00:00Z",
         "data": {"id": f"acc-poison-{n}" if n == 3 else f"acc-good-{n}", "name": f"Account {n}"}}
        for n in range(6)
    ]  # fmt: skip
    faults.refuse_key = "ACCOUNT#acc-poison-3"

    # When the batch is sent
    status, answer = send_events(batch)

    # Then that event fails in its result, the request succeeds, and the other five are stored
    assert faults.refused > 0
    assert status == 200 and answer["accepted"] == 5
    statuses = {r["event_id"]: r["status"] for r in answer["results"]}
    assert statuses == {**{f"acc-{n}": "accepted" for n in range(6)}, "acc-3": "failed"}
    from shared.store import crm

    store = crm.DynamoCrmStore()
    assert [n for n in range(6) if store.get_account(f"acc-good-{n}") is not None] == [0, 1, 2, 4, 5]
    assert store.get_account("acc-poison-3") is None


@pytest.fixture
def post_lead(aws, demo_data, lambda_context):
    from leads_webhook.app import handler
    from leads_webhook.wiring import deployed_services

    deployed_services.cache_clear()

    def post(fields: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        answer = handler(
            http_event("POST", "/leads", json.dumps(fields), source_ip="198.51.100.9"), lambda_context
        )
        return answer["statusCode"], json.loads(answer["body"] or "{}")

    yield post
    deployed_services.cache_clear()


def lead_state(email: str) -> tuple[Any, ...]:
    from shared.store import crm

    store = crm.DynamoCrmStore()
    lead_id = store.lead_id_for_email(email)
    lead = store.get_lead(lead_id)
    assert lead is not None
    return (
        lead.first_name,
        lead.company,
        lead.status,
        bool(lead.owner or lead.queue),
        len(store.lead_submissions(lead_id)),
    )


def test_dynamodb_throttling_on_the_lead_form_loses_and_doubles_nothing(post_lead, faults):
    posts = [{"email": "calm@example.com", "first_name": "Cal", "company": "Calm", "country": "US"},
             {"email": "calm@example.com", "first_name": "Cal", "company": "Calm Two", "country": "US"}]  # fmt: skip
    for fields in posts:
        assert post_lead(fields)[0] == 202
    expected = lead_state("calm@example.com")
    faults.throttle_every, faults.throttle_burst = 3, 6
    for fields in posts:
        busy = {**fields, "email": "busy@example.com"}
        until_done(lambda busy=busy: post_lead(busy), done=lambda a: a[0] == 202)
    faults.clear()
    assert faults.throttled > 0
    assert lead_state("busy@example.com") == expected


# ------------------------------------------------------------------ SES and the schedules


def won_deal(opportunity_id: str) -> tuple[str, dict[str, Any]]:
    return ("opportunity.upserted", {"id": opportunity_id, "account_id": "A-ACME", "name": "Robot arms",
            "owner": "rep-sam", "stage": "Job Won", "amount": "1000.00", "close_date": "2026-12-20"})  # fmt: skip


def test_ses_failing_for_a_while_then_recovering_sends_each_alert_once(
    alerts, post_events, crm_stream, faults
):
    # The run without the fault: who a won deal tells
    post_events(won_deal("opp-calm"))
    assert alerts(crm_stream())["batchItemFailures"] == []
    calm = sorted(m.destinations["ToAddresses"][0] for m in emails())
    assert calm
    # With SES refusing the next three sends
    faults.ses_failures = 3
    post_events(won_deal("opp-busy"))
    event = crm_stream()
    for _ in range(6):
        answer = alerts(event)
        failed = {f["itemIdentifier"] for f in answer["batchItemFailures"]}
        if not failed:
            break
        event = {"Records": [r for r in event["Records"] if r["dynamodb"]["SequenceNumber"] in failed]}
    assert faults.ses_failed == 3
    all_sent = [m.destinations["ToAddresses"][0] for m in emails()]
    # each alert of the deal sent exactly once: the same recipients as without the fault, no more
    assert sorted(all_sent[len(calm) :]) == calm, all_sent


def test_a_schedule_fired_twice_at_once_sends_once(alerts, post_events, crm_stream):
    # An escalation overdue for a day: the hourly sweep reminds its assignee
    post_events(("escalation.upserted", {"id": "esc-f", "account_id": "A-ACME", "title": "Line down",
                 "severity": "high", "status": "open", "assignee": "rep-sam",
                 "due_at": (datetime.now(UTC) - timedelta(days=1)).isoformat().replace("+00:00", "Z")}))  # fmt: skip
    alerts(crm_stream())
    before = len(emails())
    # The run without the fault: one sweep
    alerts({"schedule": "alerts-sweep"})
    once = len(emails()) - before
    assert once >= 1, "the overdue escalation reminds someone"
    # EventBridge delivering the same schedule again, twice at once
    threads = [threading.Thread(target=alerts, args=({"schedule": "alerts-sweep"},)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(emails()) - before == once


def test_dynamodb_throttling_on_the_alerts_writes_sends_each_alert_once(
    alerts, post_events, crm_stream, faults
):
    post_events(won_deal("opp-calm-2"))
    assert alerts(crm_stream())["batchItemFailures"] == []
    calm = sorted(m.destinations["ToAddresses"][0] for m in emails())
    post_events(won_deal("opp-busy-2"))
    event = crm_stream()
    faults.throttle_every, faults.throttle_burst = 2, 6
    for _ in range(12):
        try:
            answer = alerts(event)
        except Exception:  # noqa: S112  (the invocation failed: the stream delivers the batch again)
            continue
        failed = {f["itemIdentifier"] for f in answer["batchItemFailures"]}
        if not failed:
            break
        event = {"Records": [r for r in event["Records"] if r["dynamodb"]["SequenceNumber"] in failed]}
    faults.clear()
    assert faults.throttled > 0
    sent = [m.destinations["ToAddresses"][0] for m in emails()]
    assert sorted(sent[len(calm) :]) == calm, sent
