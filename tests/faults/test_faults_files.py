"""Faults around files: S3 events delivered twice or out of order, a Lambda killed in the middle of a POS
file or a trade-show import and delivered again. Each outcome is the run without the fault."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.faults.conftest import until_done
from tests.handlers.test_pos_handler import actual, csv_body, get
from tests.helpers import s3_event

ROWS = [["10/01/2026", f"F-{n}", "1", f"P{n % 3}", "2", "1.50", "3.00", ["Acme Corporation", "Globex"][n % 2]]
        for n in range(12)]  # fmt: skip
CLEAN = {"rows_total": 12, "accepted": 12, "rejected": 0, "amount_accepted": {"USD": "36.00"}}
ACME, GLOBEX = Decimal("18.00"), Decimal("18.00")  # the run without a fault: 6 lines each


def ingest(
    hub: dict[str, Any], key: str, body: bytes, context: Any, *, deliveries: int = 1
) -> dict[str, Any]:
    from pos_ingest.app import handler

    put = hub["s3"].put_object(Bucket=hub["bucket"], Key=key, Body=body)
    event = s3_event(hub["bucket"], key, etag=put["ETag"], size=len(body))
    return [handler(event, context) for _ in range(deliveries)][-1]


def run_of(key: str) -> dict[str, Any]:
    record = get(f"/pos/runs?key={key}")["body"]
    return {name: record[name] for name in CLEAN} | {"status": record["status"]}


def test_the_same_s3_event_twice_counts_once(hub, lambda_context):
    ingest(hub, "pos/northwind/twice.csv", csv_body(ROWS), lambda_context, deliveries=2)
    assert run_of("pos/northwind/twice.csv") == CLEAN | {"status": "done"}
    assert (actual(hub, "acct-acme", "2026#Q4#USD"), actual(hub, "acct-globex", "2026#Q4#USD")) == (
        ACME,
        GLOBEX,
    )


def test_two_events_for_one_key_out_of_order_leave_the_newer_file(hub, lambda_context):
    from pos_ingest.app import handler

    key = "pos/northwind/restated.csv"
    old_body = csv_body(ROWS[:4])
    old = hub["s3"].put_object(Bucket=hub["bucket"], Key=key, Body=old_body)
    new = hub["s3"].put_object(Bucket=hub["bucket"], Key=key, Body=csv_body(ROWS))
    # The newer object's event first, then the older one's (S3 does not promise order)
    handler(s3_event(hub["bucket"], key, etag=new["ETag"], size=1), lambda_context)
    handler(s3_event(hub["bucket"], key, etag=old["ETag"], size=len(old_body)), lambda_context)
    assert run_of(key) == CLEAN | {"status": "done"}
    assert (actual(hub, "acct-acme", "2026#Q4#USD"), actual(hub, "acct-globex", "2026#Q4#USD")) == (
        ACME,
        GLOBEX,
    )


@pytest.mark.parametrize("kill_at", [1, 2, 3])  # each of the file's three writes
def test_a_lambda_killed_mid_pos_file_and_delivered_again_counts_exactly(
    hub, lambda_context, faults, kill_at
):
    from pos_ingest.app import handler

    key = f"pos/northwind/killed-{kill_at}.csv"
    body = csv_body(ROWS)
    put = hub["s3"].put_object(Bucket=hub["bucket"], Key=key, Body=body)
    event = s3_event(hub["bucket"], key, etag=put["ETag"], size=len(body))
    faults.kill_at_write = faults.writes + kill_at
    answers = until_done(
        lambda: handler(event, lambda_context), done=lambda a: a["files"][0]["status"] == "done"
    )
    assert answers[0] == "killed" and faults.killed == 1
    assert run_of(key) == CLEAN | {"status": "done"}
    assert (actual(hub, "acct-acme", "2026#Q4#USD"), actual(hub, "acct-globex", "2026#Q4#USD")) == (
        ACME,
        GLOBEX,
    )


def test_dynamodb_throttling_on_pos_writes_changes_no_total(hub, lambda_context, faults):
    from pos_ingest.app import handler

    key = "pos/northwind/throttled.csv"
    body = csv_body(ROWS)
    put = hub["s3"].put_object(Bucket=hub["bucket"], Key=key, Body=body)
    event = s3_event(hub["bucket"], key, etag=put["ETag"], size=len(body))
    faults.throttle_every, faults.throttle_burst = 3, 6  # bursts longer than the SDK's retries
    until_done(lambda: handler(event, lambda_context), done=lambda a: a["files"][0]["status"] == "done")
    faults.clear()
    assert faults.throttled > 0
    assert run_of(key) == CLEAN | {"status": "done"}
    assert (actual(hub, "acct-acme", "2026#Q4#USD"), actual(hub, "acct-globex", "2026#Q4#USD")) == (
        ACME,
        GLOBEX,
    )


def test_a_pos_file_failing_on_every_try_ends_failed_with_the_reason_and_an_email(hub, monkeypatch):
    """Through the local hub's own S3 delivery (Lambda's two retries, then the on-failure record) and
    its queue mapping of the on-failure queue: the run ends failed, the channel manager hears, the record
    is kept in the dead-letter queue, and nothing of the file counts."""
    from hub.local.queues import QueueMappingPump, S3NotificationPump
    from hub.local.runtime import FunctionRuntime
    from tests.handlers.test_pos_handler import sent_emails

    template = hub["aws"]
    sqs = boto3.client("sqs", region_name="us-east-1")
    runtime = FunctionRuntime(template.functions())
    triggers = template.s3_triggers()
    dead_letters = {t.dead_letter: template.physical[t.dead_letter]["Ref"] for t in triggers if t.dead_letter}
    notify = sqs.create_queue(QueueName="s3-notifications")["QueueUrl"]
    s3_pump = S3NotificationPump(hub["s3"], sqs, notify, triggers, runtime, dead_letters=dead_letters,
                                 sleep=lambda _s: None)  # fmt: skip
    (failures,) = [m for m in template.queue_mappings() if m.queue == "PosIngestFailureQueue"]
    failure_pump = QueueMappingPump(failures, template.physical[failures.queue]["Ref"],
                                    template.physical[failures.queue]["Arn"], sqs, runtime)  # fmt: skip
    # Given S3 failing every read of the file (the function fails on every try, as a crash would)
    key = "pos/northwind/every-try.csv"
    original = __import__("botocore.client", fromlist=["BaseClient"]).BaseClient._make_api_call
    tries = {"n": 0}

    def unavailable(self, operation, params):
        if operation == "GetObject" and params.get("Key") == key:
            tries["n"] += 1
            raise ClientError({"Error": {"Code": "SlowDown", "Message": "Please reduce your request rate"}},
                              operation)  # fmt: skip
        return original(self, operation, params)

    monkeypatch.setattr("botocore.client.BaseClient._make_api_call", unavailable)
    # When the file is uploaded and S3's event reaches the function
    put = hub["s3"].put_object(Bucket=hub["bucket"], Key=key, Body=csv_body(ROWS))
    sqs.send_message(QueueUrl=notify, MessageBody=json.dumps(s3_event(hub["bucket"], key, etag=put["ETag"])))
    s3_pump.poll()
    # Then it was tried three times, and Lambda's on-failure record went to the failure queue
    assert s3_pump.dead_lettered == [("PosIngestFunction", key)] and tries["n"] >= 3
    record = get(f"/pos/runs?key={key}")["body"]
    assert record["status"] == "running"
    # When pos_ingest reads the failure queue
    assert failure_pump.poll() == 1
    # Then the run is failed with the reason, the channel manager has an email, nothing counts
    record = get(f"/pos/runs?key={key}")["body"]
    assert record["status"] == "failed", record
    assert "SlowDown" in record["error"] and "3 tries" in record["error"]
    emails = sent_emails(hub)
    assert len(emails) == 1 and "every-try.csv" in str(emails[0].subject) + str(emails[0].body)
    assert actual(hub, "acct-acme", "2026#Q4#USD") is None
    # And the record is kept in the dead-letter queue (its alarm), and a second read changes nothing
    kept = sqs.receive_message(QueueUrl=template.physical["PosIngestDeadLetterQueue"]["Ref"])["Messages"]
    assert json.loads(kept[0]["Body"])["requestContext"]["condition"] == "RetriesExhausted"
    assert failure_pump.poll() == 0


# ------------------------------------------------------------------ trade-show imports

TRADE_SHOW = "E-mail,First Name,Company Name,Country\n" + "".join(
    f"visitor{n}@example.com,V{n},Company {n},US\n" for n in range(8)
)


def leads_state() -> dict[str, Any]:
    """Every lead and how many submissions it has (what an import produces)."""
    from shared.store import crm

    store = crm.DynamoCrmStore()
    found = {}
    for n in range(8):
        lead_id = store.lead_id_for_email(f"visitor{n}@example.com")
        lead = store.get_lead(lead_id)
        found[f"visitor{n}"] = (
            None if lead is None else (lead.first_name, len(store.lead_submissions(lead_id)))
        )
    return found


CLEAN_LEADS = {f"visitor{n}": (f"V{n}", 1) for n in range(8)}


@pytest.fixture
def imports(aws, demo_data, monkeypatch):
    from leads_webhook.wiring import deployed_services

    deployed_services.cache_clear()
    yield aws.bucket_name()
    deployed_services.cache_clear()


def import_event(bucket: str, key: str) -> dict[str, Any]:
    boto3.client("s3").put_object(Bucket=bucket, Key=key, Body=TRADE_SHOW.encode())
    return s3_event(bucket, key)


def test_the_same_trade_show_event_twice_imports_once(imports, lambda_context):
    from leads_webhook.app import handler

    event = import_event(imports, "imports/leads/twice.csv")
    handler(event, lambda_context)
    handler(event, lambda_context)
    assert leads_state() == CLEAN_LEADS


@pytest.mark.parametrize("kill_at", [1, 3, 5, 8])
def test_a_lambda_killed_mid_import_and_delivered_again_imports_each_row_once(
    imports, lambda_context, faults, kill_at
):
    from leads_webhook.app import handler

    event = import_event(imports, f"imports/leads/killed-{kill_at}.csv")
    faults.kill_at_write = faults.writes + kill_at
    results_key = f"imports/leads/killed-{kill_at}.results.csv"

    def imported(_answer: Any) -> bool:
        try:
            boto3.client("s3").head_object(Bucket=imports, Key=results_key)
        except Exception:
            return False
        return True

    answers = until_done(lambda: handler(event, lambda_context), done=imported)
    assert answers[0] == "killed"
    assert leads_state() == CLEAN_LEADS
