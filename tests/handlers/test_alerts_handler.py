"""Alerts under moto: real stream records (old and new images, read from the CRM table's stream
after the real writers wrote), each kind once, fallback instead of failure, a crash's claim."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
import yaml

from shared.signing import sign
from shared.store.crm import opportunity_key
from tests.helpers import http_event, lead_keys, stream_event

SOURCE = "crm-alerts-test"
SECRET = "whsec_alerts_handler"


def emails() -> list[Any]:
    from moto.backends import get_backend

    return list(get_backend("ses")["123456789012"]["us-east-1"].sent_messages)


def sent_to() -> list[tuple[str, str]]:
    return [(m.destinations["ToAddresses"][0], m.subject) for m in emails()]


@pytest.fixture
def crm_stream(aws) -> Callable[[], dict[str, Any]]:
    """What the alerts function would receive: the CRM stream's new records since the last call,
    shaped and filtered as the template's event source mapping delivers them."""
    from hub.local.filters import FilterPattern, matches_any
    from hub.local.streams import lambda_record

    mapping = next(
        m for m in aws.stream_mappings() if m.function == "AlertsFunction" and m.table == "CrmTable"
    )
    patterns = [FilterPattern.load(p) for p in mapping.filters]
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    streams = boto3.client("dynamodbstreams", region_name="us-east-1")
    arn = ddb.describe_table(TableName=aws.table_name("CrmTable"))["Table"]["LatestStreamArn"]
    iterators = {
        shard["ShardId"]: streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"],
                                                     ShardIteratorType="LATEST")["ShardIterator"]
        for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
    }  # fmt: skip

    def read() -> dict[str, Any]:
        records = []
        for shard, iterator in iterators.items():
            answer = streams.get_records(ShardIterator=iterator)
            iterators[shard] = answer["NextShardIterator"]
            records += [lambda_record(r, arn, "us-east-1") for r in answer["Records"]]
        return {"Records": [r for r in records if matches_any(patterns, r)]}

    return read


@pytest.fixture
def post_events(aws, lambda_context) -> Callable[..., dict[str, Any]]:
    """Signed ``POST /events`` through the events function (the real writer of CRM entities)."""
    from crm_events import app

    app.events_context.cache_clear()
    boto3.client("ssm", region_name="us-east-1").put_parameter(
        Name=f"/crm-hub/sources/{SOURCE}", Value=json.dumps([SECRET]), Type="SecureString", Overwrite=True
    )
    counter = iter(range(1, 10_000))

    def post(*events: tuple[str, dict[str, Any]]) -> dict[str, Any]:
        stamp = datetime.now(UTC)
        body = json.dumps({"events": [
            {"event_id": f"ev-{next(counter)}", "type": kind, "source": SOURCE, "data": data,
             "occurred_at": (stamp + timedelta(milliseconds=i)).isoformat().replace("+00:00", "Z")}
            for i, (kind, data) in enumerate(events)
        ]}).encode()  # fmt: skip
        headers = {"X-Hub-Signature": sign(body, SECRET, int(time.time())), "X-Hub-Source": SOURCE}
        answer = app.handler(http_event("POST", "/events", body, headers), lambda_context)
        assert answer["statusCode"] == 200, answer
        return json.loads(answer["body"])  # type: ignore[no-any-return]

    yield post
    app.events_context.cache_clear()


@pytest.fixture
def alerts(aws, alert_demo_data, lambda_context) -> Callable[[dict[str, Any]], dict[str, Any]]:
    from alerts.app import handler

    return lambda event: handler(event, lambda_context)


def put_alerts_config(aws, **changes: Any) -> None:
    """An alerts.yaml in force (config-good/ in the bucket), as the validator leaves it."""
    boto3.client("s3", region_name="us-east-1").put_object(
        Bucket=aws.bucket_name(), Key="config-good/alerts.yaml", Body=yaml.safe_dump(changes).encode()
    )


def opportunity(stage: str, owner: str = "rep-sam", **extra: Any) -> tuple[str, dict[str, Any]]:
    return ("opportunity.upserted", {"id": "opp-7", "account_id": "A-ACME", "name": "Robot arms for Acme",
            "owner": owner, "stage": stage, "amount": "125000.50", "close_date": "2026-12-20",
            "next_step": "Countersign <b>contract</b>", **extra})  # fmt: skip


# ------------------------------------------------------------------ from the stream
def test_a_won_deal_tells_owner_and_manager_once_with_the_figures(alerts, post_events, crm_stream):
    # Given an opportunity in Formal Approval, then moved to Job Won by a signed event
    post_events(opportunity("Formal Approval"))
    alerts(crm_stream())
    post_events(opportunity("Job Won"))
    event = crm_stream()
    assert [r["eventName"] for r in event["Records"]] == ["MODIFY"]
    assert event["Records"][0]["dynamodb"]["OldImage"]["stage"] == {"S": "Formal Approval"}

    # When the stream delivers the change, twice (at-least-once)
    assert alerts(event) == {"batchItemFailures": []}
    assert alerts(event) == {"batchItemFailures": []}

    # Then the owner and the owner's manager are told once each, with old → new stage and figures
    assert sorted(to for to, _ in sent_to()) == ["maria.lopez@example.com", "sam.carter@example.com"]
    message = emails()[0]
    assert message.subject == "Opportunity won: Robot arms for Acme: Formal Approval → Job Won"
    # (the amount as people read it: thousands separators, every digit kept)
    for fact in ("125,000.50", "100 %", "2026-12-20", "Countersign &lt;b&gt;contract&lt;/b&gt;"):
        assert fact in message.body


def test_a_deal_email_names_its_owner_and_account_and_an_account_the_crm_lacks_stays_its_id(
    alerts, post_events, crm_stream
):
    # Given Sam's deal at Acme (both in the CRM) won, and one of Sam's at an account the CRM does not hold
    post_events(opportunity("Job Won"))
    post_events(("opportunity.upserted", {"id": "opp-8", "account_id": "A-NOWHERE", "name": "Ghost deal",
                                          "owner": "rep-sam", "stage": "Job Won"}))  # fmt: skip

    # When the stream delivers the changes
    assert alerts(crm_stream()) == {"batchItemFailures": []}

    # Then the emails name Sam and Acme (with its id), and the unknown account by its id
    to_sam = {
        m.subject: m.body for m in emails() if m.destinations["ToAddresses"] == ["sam.carter@example.com"]
    }
    acme = to_sam["Opportunity won: Robot arms for Acme: (new) → Job Won"]
    assert "<th align='left'>Owner</th><td>Sam Carter</td>" in acme
    assert "<th align='left'>Account</th><td>Acme Robotics, Inc. (A-ACME)</td>" in acme
    assert "rep-sam" not in acme
    ghost = to_sam["Opportunity won: Ghost deal: (new) → Job Won"]
    assert "<th align='left'>Account</th><td>A-NOWHERE</td>" in ghost


def test_verbal_approval_tells_the_owner_and_ordinary_moves_nobody(alerts, post_events, crm_stream):
    post_events(opportunity("Qualifying Needs"))
    post_events(opportunity("Sales Presentation"))
    post_events(opportunity("Verbal Approval"))
    alerts(crm_stream())
    assert sent_to() == [("sam.carter@example.com", "Opportunity reached a notable stage: Robot arms for Acme: "
                                                    "Sales Presentation → Verbal Approval")]  # fmt: skip


def test_an_owner_who_is_not_a_rep_goes_to_the_fallback_and_no_record_fails(alerts, post_events, crm_stream):
    # Given a deal owned by someone the CRM does not know, lost
    post_events(opportunity("Formal Approval", owner="j.random"), opportunity("Lost", owner="j.random"))

    # When its stream records are delivered
    result = alerts(crm_stream())

    # Then nothing failed, and the fallback address got both alerts, saying why
    assert result == {"batchItemFailures": []}
    assert [to for to, _ in sent_to()] == ["sales-ops@example.com", "sales-ops@example.com"]
    assert all("j.random" in m.body and "is not a known rep" in m.body for m in emails())
    from shared.store.common import format_time
    from shared.store.crm import DynamoCrmStore

    records = DynamoCrmStore().alerts_to(
        "sales-ops@example.com", format_time(datetime.now(UTC) - timedelta(hours=1))
    )
    assert {(r.status, bool(r.message_id), bool(r.fallback_reason)) for r in records} == {
        ("sent", True, True)
    }


def test_escalations_tell_each_new_assignee(alerts, post_events, crm_stream):
    due = (datetime.now(UTC) + timedelta(days=2)).isoformat().replace("+00:00", "Z")
    esc = {
        "id": "esc-1",
        "account_id": "A-ACME",
        "title": "Part fails at 85 C",
        "severity": "high",
        "due_at": due,
    }
    post_events(("escalation.upserted", {**esc, "status": "open", "assignee": "rep-ana"}))
    post_events(("escalation.upserted", {**esc, "status": "in_progress", "assignee": "rep-ana"}))
    post_events(("escalation.upserted", {**esc, "status": "in_progress", "assignee": "rep-jonas"}))
    alerts(crm_stream())
    assert sent_to() == [
        ("ana.souza@example.com", "Escalation assigned to you: Part fails at 85 C"),
        ("jonas.weber@example.com", "Escalation assigned to you: Part fails at 85 C"),
    ]


def test_a_resolved_escalation_tells_the_account_owner_and_the_contact_who_raised_it(
    alerts, post_events, crm_stream
):
    # Given a customer contact who raised an escalation on Acme (Sam owns the account)
    post_events(("contact.upserted", {"id": "C-ACME-1", "account_id": "A-ACME", "first_name": "Lee",
                                      "last_name": "Park", "email": "lee.park@acme.example"}))  # fmt: skip
    esc = {"id": "esc-2", "account_id": "A-ACME", "title": "Wrong reel size", "severity": "medium",
           "assignee": "rep-ana", "contact_id": "C-ACME-1"}  # fmt: skip
    post_events(("escalation.upserted", {**esc, "status": "in_progress"}))
    alerts(crm_stream())
    # When it is resolved, with the resolution
    post_events(
        (
            "escalation.upserted",
            {**esc, "status": "resolved", "resolution": "Reels of 2,500 ship from Monday"},
        )
    )
    event = crm_stream()
    alerts(event)
    alerts(event)
    # Then the account owner and the contact are told once each, with the resolution
    assert sent_to()[1:] == [
        ("sam.carter@example.com", "Escalation resolved: Wrong reel size"),
        ("lee.park@acme.example", "Your request has been resolved: Wrong reel size"),
    ]
    assert all("Reels of 2,500 ship from Monday" in m.body for m in emails()[1:])
    assert "rep-ana" not in emails()[2].body  # the customer sees the outcome, not our internals


def test_a_lead_assigned_and_reassigned_tells_each_owner(alerts, aws, crm_stream, lambda_context):
    from leads_webhook.app import handler as leads

    answer = leads(http_event("POST", "/leads", json.dumps({"email": "pat@buyer.example", "state": "CA",
                                                            "country": "US", "first_name": "Pat"})), lambda_context)  # fmt: skip
    lead_id = json.loads(answer["body"])["lead_id"]
    alerts(crm_stream())
    first_owner = [to for to, _ in sent_to()]
    assert len(first_owner) == 1 and emails()[0].subject.startswith("New prospect assigned: Pat")
    # An operator moves the lead to Ana (a MODIFY with both images)
    boto3.client("dynamodb", region_name="us-east-1").update_item(
        TableName=aws.table_name("CrmTable"), Key={k: {"S": v} for k, v in lead_keys(lead_id).items()},
        UpdateExpression="SET #o = :o ADD version :one", ExpressionAttributeNames={"#o": "owner"},
        ExpressionAttributeValues={":o": {"S": "rep-ana"}, ":one": {"N": "1"}},
    )  # fmt: skip
    alerts(crm_stream())
    assert sent_to()[1] == ("ana.souza@example.com", "Prospect re-assigned to you: Pat")


def test_a_pos_file_with_rejects_tells_the_channel_manager(alerts):
    run = {"pk": "RUN#pos/D-1/nov.csv", "sk": "VERSION#v1", "entity": "POS_RUN", "key": "pos/D-1/nov.csv",
           "version": "v1", "distributor": "D-1", "status": "done", "rows_total": 120, "accepted": 117,
           "rejected": 3, "rejects_key": "rejects/pos/D-1/nov.csv"}  # fmt: skip
    event = stream_event([("MODIFY", run, {**run, "status": "running", "rejected": 0})])
    assert alerts(event) == {"batchItemFailures": []}
    alerts(event)
    [(to, subject)] = sent_to()
    assert to == "channel@example.com" and subject == "POS file pos/D-1/nov.csv: 3 of 120 rows rejected"
    # where every rejected row is: the read route's signed link on the deployed API (HUB_API_URL, as the
    # template sets it; tests/handlers/test_signed_links.py opens one)
    assert (
        'Every rejected row with its reason</th><td><a href="https://HttpApi.execute-api.us-east-1.amazonaws.com'
        "/links/pos/rejects?key=pos/D-1/nov.csv&amp;expires=" in emails()[0].body
    )


# ------------------------------------------------------------------ exactly once
def test_a_crash_between_claim_and_send_is_sent_once_by_the_retry(alerts, post_events, crm_stream):
    # Given the claim a dead invocation left: pending, no message id, its lease run out
    from alerts.rules import alerts_for_change
    from alerts.wiring import rule_context

    from shared.store.common import format_time
    from shared.store.crm import AlertRecord, DynamoCrmStore

    post_events(opportunity("Formal Approval"), opportunity("Job Won"))
    event = crm_stream()
    from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

    change = DynamoDBRecord(event["Records"][-1]).dynamodb
    assert change is not None
    [owner_alert, _] = alerts_for_change(change.new_image, change.old_image, rule_context())
    past = format_time(datetime.now(UTC) - timedelta(minutes=5))
    store = DynamoCrmStore()
    assert store.claim_alert(AlertRecord(key=owner_alert.key, kind=owner_alert.kind, entity=owner_alert.entity,
                                         recipient="sam.carter@example.com", created_at=past, claim_token="dead",
                                         due_at=past, role="owner"))  # fmt: skip

    # When the stream retries the record, and once more
    alerts(event)
    alerts(event)

    # Then the owner's alert went out once (taken over), the manager's once
    assert sorted(to for to, _ in sent_to()) == ["maria.lopez@example.com", "sam.carter@example.com"]
    record = store.get_alert(owner_alert.key)
    assert record is not None and record.status == "sent" and record.message_id and record.attempts == 2


def test_a_failed_send_fails_the_record_and_its_retry_sends_once(alerts, aws, post_events, crm_stream):
    # Given SES refusing (the sending identity is gone) while the won deal arrives
    ses = boto3.client("ses", region_name="us-east-1")
    sender = ses.list_identities()["Identities"][0]
    ses.delete_identity(Identity=sender)
    # (two posts: one batch of events writes an opportunity once, at its newest stage, so one record)
    post_events(opportunity("Formal Approval"))
    post_events(opportunity("Job Won"))
    event = crm_stream()
    failed = alerts(event)
    assert len(failed["batchItemFailures"]) == 1 and emails() == []
    # When SES is back and Lambda retries the record (twice, say)
    ses.verify_email_identity(EmailAddress=sender)
    alerts(event)
    alerts(event)
    # Then each alert went out once
    assert sorted(to for to, _ in sent_to()) == ["maria.lopez@example.com", "sam.carter@example.com"]


def test_get_alerts_lists_what_was_sent(alerts, post_events, crm_stream, lambda_context):
    from reports_api.app import handler as reports

    post_events(opportunity("Formal Approval"), opportunity("Job Won"))
    alerts(crm_stream())
    answer = reports(http_event("GET", "/alerts?recipient=Sam.Carter@example.com&since=1h", authorized=True),
                     lambda_context)  # fmt: skip
    assert answer["statusCode"] == 200, answer
    body = json.loads(answer["body"])
    [alert] = body["alerts"]
    assert (alert["kind"], alert["recipient"], alert["status"]) == (
        "opportunity_won",
        "sam.carter@example.com",
        "sent",
    )
    assert alert["message_id"] and alert["entity"] == opportunity_key("opp-7")[0]
    everyone = json.loads(reports(http_event("GET", "/alerts", authorized=True), lambda_context)["body"])
    assert everyone["count"] == 2
    bad = reports(http_event("GET", "/alerts?since=yesterday-ish", authorized=True), lambda_context)
    assert bad["statusCode"] == 400


# ------------------------------------------------------------------ the sweep
SWEEP_KINDS = ("speed_to_lead", "opportunity_stale", "next_step_missing", "escalation_overdue",
               "sample_follow_up_due", "activity_overdue")  # fmt: skip


def test_the_sweep_on_demo_data_sends_each_kind_once_and_fired_twice_nothing_more(aws, alerts):
    # Given the demo data (one due item per sweep kind) and quiet hours off (so any hour will do)
    put_alerts_config(aws, quiet_hours={"enabled": False})

    # When the hourly schedule fires, and fires again
    first = alerts({"schedule": "alerts-sweep"})
    second = alerts({"schedule": "alerts-sweep"})

    # Then each kind went out once; the second run found the same and sent nothing
    assert {k: first.get(f"sent:{k}") for k in SWEEP_KINDS} == dict.fromkeys(SWEEP_KINDS, 1), first
    assert first["failed"] == 0 and second.get("sent", 0) == 0 and second["failed"] == 0, second
    assert first["items_read"] < 50  # index reads of what may be due, not the table
    subjects = sorted(subject for _, subject in sent_to())
    assert len(subjects) == 6
    assert ("jonas.weber@example.com", "Escalation past due: Connector cracks in cold test") in sent_to()


def _crm_reads(operation: str, params: Any) -> str:
    """GetItem / BatchGetItem named by the kinds of item they read (``GetItem:REP``)."""
    if operation not in ("dynamodb.GetItem", "dynamodb.BatchGetItem"):
        return operation
    body = json.loads((params or {}).get("body") or b"{}")
    keys = [body["Key"]] if "Key" in body else [k for t in body["RequestItems"].values() for k in t["Keys"]]
    return f"{operation.split('.')[1]}:{','.join(sorted({k['pk']['S'].split('#')[0] for k in keys}))}"


def test_the_sweep_names_reps_and_accounts_with_one_batch_read(aws, alerts):
    # Given the demo data and quiet hours off
    put_alerts_config(aws, quiet_hours={"enabled": False})

    # When the hourly schedule fires
    from tests.helpers import counting_aws_calls

    with counting_aws_calls(_crm_reads) as calls:
        result = alerts({"schedule": "alerts-sweep"})

    # Then the emails name the people and accounts they mention
    assert result["sent"] == 6 and result["failed"] == 0, result
    by_subject = {m.subject: m.body for m in emails()}
    assert "LM-7805-AQ at Acme Robotics, Inc." in " ".join(by_subject)
    stale = by_subject["Opportunity without recent activity: Northwind test stands"]
    assert "<td>Northwind Instruments LLC (A-NORTH)</td>" in stale and "<td>Ana Souza</td>" in stale
    overdue = by_subject["Escalation past due: Connector cracks in cold test"]
    assert "<th align='left'>Assignee</th><td>Jonas Weber</td>" in overdue
    # And reps and accounts were read together in one batch, not one read per alert
    assert calls["BatchGetItem:ACCOUNT,REP"] == 1, calls
    assert not [
        c for c in calls if c.startswith("GetItem:") or c in ("BatchGetItem:REP", "BatchGetItem:ACCOUNT")
    ]


def test_an_activity_logged_for_a_stale_deal_takes_it_off_the_stale_list(aws, alerts, post_events):
    # Given the demo's stale deal, then an activity logged for it
    put_alerts_config(aws, quiet_hours={"enabled": False})
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    post_events(("activity.logged", {"id": "ACT-NEW", "rep_id": "rep-ana", "type": "Call", "at": now,
                                     "opportunity_id": "OPP-DEMO-STALE"}))  # fmt: skip
    # When the sweep runs
    result = alerts({"schedule": "alerts-sweep"})
    # Then the deal is no longer stale
    assert not result.get("sent:opportunity_stale"), result
    from shared.store.crm import DynamoCrmStore

    opp = DynamoCrmStore().get_opportunity("OPP-DEMO-STALE")
    assert opp is not None and opp.last_activity_at is not None
    assert datetime.now(UTC) - opp.last_activity_at < timedelta(minutes=5)


# ------------------------------------------------------------------ the configuration's re-check
def _config_reads(operation: str, params: Any) -> str:
    if operation == "s3.GetObject" and "/config-good/" in str((params or {}).get("url_path", "")):
        return "config read"
    return operation


def test_stream_batches_recheck_the_documents_only_with_time_and_a_sweep_at_once(aws, alerts, post_events,
                                                                                  crm_stream):  # fmt: skip
    from tests.helpers import counting_aws_calls

    # Given a warm function: alerts.yaml and stages.yaml read by a first stream batch
    post_events(opportunity("Formal Approval"))
    alerts(crm_stream())

    # When more stream batches arrive (an import's changes come in hundreds of them)
    started = time.monotonic()
    post_events(opportunity("Job Won"))
    event = crm_stream()
    with counting_aws_calls(_config_reads) as calls:
        for _ in range(10):  # the same batch ten times: delivered again, it sends nothing again
            assert alerts(event) == {"batchItemFailures": []}
    elapsed = time.monotonic() - started

    # Then the documents were not fetched again for each batch (at most every 30 s: shared.config_store)
    assert calls["config read"] <= 2 * (elapsed // 30), calls
    assert any(subject.startswith("Opportunity won: Robot arms for Acme") for _, subject in sent_to())

    # And a sweep checks both documents at once: a changed alerts.yaml is in force for it
    put_alerts_config(aws, quiet_hours={"enabled": False})
    with counting_aws_calls(_config_reads) as calls:
        alerts({"schedule": "alerts-sweep"})
    assert calls["config read"] == 2, calls
