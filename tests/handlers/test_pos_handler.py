"""POS ingestion under moto: S3 events in, run records, rejects, ledger, actuals, inventory, alerts
(the run record on the POS table's stream, delivered to the alerts function as the template maps it),
continuation through the queue, storage retries, and the read routes."""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import boto3
import pytest

from tests.helpers import http_event, s3_event

HEADER = ["Invoice Date", "Invoice #", "Line", "MPN", "Ship Qty", "Unit Resale", "Ext Resale", "End Customer"]


def csv_body(rows: list[list[str]], header: list[str] = HEADER) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows([header, *rows])
    return out.getvalue().encode()


@pytest.fixture
def hub(aws: Any) -> Iterator[dict[str, Any]]:
    yield from pos_world(aws)


def pos_world(aws: Any) -> Iterator[dict[str, Any]]:
    """Two accounts, the POS function's caches cleared, and the POS table's stream opened to alerts."""
    from pos_ingest import wiring

    s3 = boto3.client("s3", region_name="us-east-1")
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    from datetime import UTC, datetime

    from shared.store import crm
    from shared.store.common import Version

    accounts = crm.DynamoCrmStore()
    for account_id, name, aliases in [
        ("acct-acme", "Acme Corporation", ("Acme Widgets",)),
        ("acct-globex", "Globex", ()),
    ]:
        account = crm.Account(account_id=account_id, name=name, aliases=aliases)
        accounts.upsert_account(account, Version(datetime.now(UTC), "setup"))
    wiring.forget_accounts()
    wiring.store.cache_clear()
    yield {
        "s3": s3,
        "dynamodb": dynamodb,
        "bucket": aws.bucket_name(),
        "aws": aws,
        "alerts": alerts_pump(aws),
    }
    wiring.forget_accounts()
    wiring.store.cache_clear()


class AlertsRuntime:
    """The alerts function, invoked the way the stream pump invokes functions."""

    def invoke(self, logical_id: str, event: dict[str, Any]) -> Any:
        from alerts.app import handler

        from hub.local.runtime import LocalContext

        return handler(event, LocalContext(logical_id, timeout_seconds=60))


def alerts_pump(aws: Any) -> Any:
    """The template's mapping of the POS table's stream to the alerts function, opened now."""
    from hub.local.streams import MappingPump

    mapping = next(
        m for m in aws.stream_mappings() if m.table == "PosTable" and m.function == "AlertsFunction"
    )
    pump = MappingPump(
        mapping, aws.physical["PosTable"]["StreamArn"], boto3.client("dynamodbstreams", region_name="us-east-1"),
        boto3.client("sqs", region_name="us-east-1"), aws.physical["StreamDeadLetterQueue"]["Ref"],
        AlertsRuntime(), "us-east-1", retry_delay=0,
    )  # fmt: skip
    pump.start_position()
    return pump


def put_and_ingest(hub: dict[str, Any], key: str, body: bytes, context: Any) -> dict[str, Any]:
    from pos_ingest.app import handler

    answer = hub["s3"].put_object(Bucket=hub["bucket"], Key=key, Body=body)
    return handler(s3_event(hub["bucket"], key, etag=answer["ETag"], size=len(body)), context)


def actual(hub: dict[str, Any], account: str, sk: str) -> Decimal | None:
    """An account-quarter's actuals (``2026#Q4#USD``) or one breakdown of them (``...#PART#<part>``),
    read through the plan store."""
    from shared.store.plan import DynamoPlanStore

    year, quarter, currency, *breakdown = sk.split("#", 3)
    store = DynamoPlanStore()
    if not breakdown:
        found = [a.amount for a in store.actuals_of_account(account, int(year), int(quarter[1:]))
                 if a.currency == currency]  # fmt: skip
    else:
        dimension, value = breakdown[0].split("#", 1)
        found = [b.amount for b in store.actual_breakdown(account, int(year), int(quarter[1:]), currency)
                 if (b.dimension, b.value) == ({"DIST": "distributor", "PART": "part"}[dimension], value)]  # fmt: skip
    return found[0] if found else None


def sent_emails(hub: dict[str, Any]) -> list[Any]:
    """What SES sent, once the POS table's stream has reached the alerts function."""
    from moto.backends import get_backend

    hub["alerts"].poll()
    return list(get_backend("ses")["123456789012"]["us-east-1"].sent_messages)


def get(path: str) -> dict[str, Any]:
    from reports_api.app import handler

    from hub.local.runtime import LocalContext

    answer = handler(http_event("GET", path, authorized=True), LocalContext("reports", 30))
    return {"status": answer["statusCode"], "body": json.loads(answer["body"])}


def test_a_file_is_counted_once_rejects_are_written_and_the_channel_manager_told(
    hub: dict, lambda_context: Any
) -> None:
    # Given a sell-through file with a bad row and an unknown end customer
    body = csv_body([
        ["10/01/2026", "N-1", "1", "LM358", "100", "0.12", "12.00", "Acme Widgets LLC"],
        ["10/02/2026", "N-1", "2", "NE555", "10", "0.50", "5.00", "ACME CORPORATION"],
        ["10/03/2026", "N-2", "1", "NE555", "=1+1", "0.50", "5.00", "Globex"],
        ["11/05/2026", "N-3", "1", "NE555", "-2", "0.50", "-1.00", "Initech GmbH"],
    ])  # fmt: skip
    key = "pos/northwind/2026 Q4 week 1.csv"
    # When the S3 event arrives, and arrives again
    first = put_and_ingest(hub, key, body, lambda_context)
    from pos_ingest.app import handler

    head = hub["s3"].head_object(Bucket=hub["bucket"], Key=key)
    again = handler(s3_event(hub["bucket"], key, etag=head["ETag"]), lambda_context)
    # Then the run record counts every row, once
    assert first["files"][0]["status"] == "done" and again["files"][0]["status"] == "duplicate"
    run = get(f"/pos/runs?key={key.replace(' ', '%20')}")
    assert run["status"] == 200
    record = run["body"]
    assert (record["rows_total"], record["accepted"], record["rejected"]) == (4, 3, 1)
    assert record["amount_accepted"] == {"USD": "16.00"} and record["status"] == "done"
    assert record["distributor"] == "northwind" and record["finished_at"]
    # the rejects file holds the original row, neutralised, with its reason
    rejects = hub["s3"].get_object(Bucket=hub["bucket"], Key=f"rejects/{key}.csv")["Body"].read().decode()
    table = list(csv.reader(io.StringIO(rejects)))
    assert table[0] == [*HEADER, "reject_row", "reject_reason"]
    assert table[1][4] == "'=1+1" and table[1][-2] == "4" and "not a number" in table[1][-1]
    # actuals where the plan rollup reads them, with breakdowns
    assert actual(hub, "acct-acme", "2026#Q4#USD") == Decimal("17.00")
    assert actual(hub, "acct-acme", "2026#Q4#USD#DIST#northwind") == Decimal("17.00")
    assert actual(hub, "acct-acme", "2026#Q4#USD#PART#NE555") == Decimal("5.00")
    # the channel manager is told once
    emails = sent_emails(hub)
    assert len(emails) == 1 and "1 of 4 rows rejected" in emails[0].subject
    # the unknown customer is listed, unmatched, never applied
    unmatched = get("/pos/unmatched")["body"]["unmatched"]
    assert [(u["normalised_name"], u["amounts"], u["lines"]) for u in unmatched] == [
        ("initech", {"USD": "-1.00"}, 1)
    ]


def test_an_account_created_after_a_file_was_read_matches_the_next_file_at_once(
    hub: dict, lambda_context: Any
) -> None:
    from datetime import UTC, datetime

    from shared.store import crm
    from shared.store.common import Version

    # Given a file read by this (warm) function, which loaded the accounts then
    put_and_ingest(hub, "pos/northwind/first.csv", csv_body([
        ["10/01/2026", "F-1", "1", "LM358", "100", "0.12", "12.00", "Globex"],
    ]), lambda_context)  # fmt: skip
    # When an account is created a moment later, and its distributor's file arrives
    crm.DynamoCrmStore().upsert_account(
        crm.Account(account_id="acct-initech", name="Initech GmbH"), Version(datetime.now(UTC), "later")
    )
    answer = put_and_ingest(hub, "pos/northwind/second.csv", csv_body([
        ["10/02/2026", "S-1", "1", "NE555", "10", "0.50", "5.00", "Initech GmbH"],
    ]), lambda_context)  # fmt: skip
    # Then its sell-through counts for the new account, not as an unmatched customer (a matcher cached for
    # five minutes counted it unmatched until the file was restated)
    assert answer["files"][0]["status"] == "done"
    assert actual(hub, "acct-initech", "2026#Q4#USD") == Decimal("5.00")
    assert get("/pos/unmatched")["body"]["unmatched"] == []


def test_a_restatement_replaces_lines_and_totals_move_by_the_difference(
    hub: dict, lambda_context: Any
) -> None:
    put_and_ingest(hub, "pos/northwind/a.csv", csv_body([
        ["10/01/2026", "N-1", "1", "LM358", "100", "0.12", "12.00", "Acme Corporation"],
        ["10/01/2026", "N-1", "2", "LM358", "10", "0.12", "1.20", "Acme Corporation"],
    ]), lambda_context)  # fmt: skip
    assert actual(hub, "acct-acme", "2026#Q4#USD") == Decimal("13.20")
    # a corrected file: line 2 was really 20 pieces, and went to Globex
    put_and_ingest(hub, "pos/northwind/a-corrected.csv", csv_body([
        ["10/01/2026", "N-1", "2", "LM358", "20", "0.12", "2.40", "Globex"],
    ]), lambda_context)  # fmt: skip
    assert actual(hub, "acct-acme", "2026#Q4#USD") == Decimal("12.00")
    assert actual(hub, "acct-globex", "2026#Q4#USD") == Decimal("2.40")
    assert actual(hub, "acct-acme", "2026#Q4#USD#PART#LM358") == Decimal("12.00")
    # the same corrected object again changes nothing
    put_and_ingest(hub, "pos/northwind/a-corrected.csv", csv_body([
        ["10/01/2026", "N-1", "2", "LM358", "20", "0.12", "2.40", "Globex"],
    ]), lambda_context)  # fmt: skip
    assert actual(hub, "acct-globex", "2026#Q4#USD") == Decimal("2.40")


def drain_continuations(hub: dict, context: Any) -> int:
    from pos_ingest.app import handler

    sqs = boto3.client("sqs", region_name="us-east-1")
    url = hub["aws"].physical["PosContinuationQueue"]["Ref"]
    handled = 0
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1).get("Messages", [])
        if not messages:
            return handled
        message = messages[0]
        event = {"Records": [{"messageId": message["MessageId"], "receiptHandle": message["ReceiptHandle"],
                              "body": message["Body"], "attributes": {}, "messageAttributes": {},
                              "md5OfBody": message["MD5OfBody"], "eventSource": "aws:sqs",
                              "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:q", "awsRegion": "us-east-1"}]}  # fmt: skip
        assert handler(event, context) == {"batchItemFailures": []}
        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        handled += 1


def test_a_forced_checkpoint_continues_through_the_queue_with_the_same_totals(
    hub: dict, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pos_ingest import core, wiring

    rows = [["10/01/2026", f"N-{n // 2}", str(n % 2 + 1), f"P{n % 3}", "3", "1.10", "3.30",
             ["Acme Corporation", "Globex", "Hooli"][n % 3]] for n in range(40)]  # fmt: skip
    rows[25] = list(rows[3])  # the same line twice, in different invocations
    rows[31][6] = "9.99"  # a mismatch
    # Given a tiny time budget: one batch of 4 rows per invocation
    monkeypatch.setattr(core, "BATCH_SIZE", 4)
    monkeypatch.setattr(wiring, "time_budget", lambda remaining: lambda rows_done: True)
    first = put_and_ingest(hub, "pos/northwind/big.csv", csv_body(rows), lambda_context)
    assert first["files"][0]["status"] == "continuing"
    slices = 1 + drain_continuations(hub, lambda_context)
    # Then it took many invocations and counted exactly what one pass counts
    assert slices == 11
    record = get("/pos/runs?key=pos/northwind/big.csv")["body"]
    assert (record["status"], record["rows_total"], record["accepted"], record["rejected"]) == (
        "done",
        40,
        38,
        2,
    )
    assert record["amount_accepted"] == {"USD": str(Decimal("3.30") * 38)}
    assert actual(hub, "acct-acme", "2026#Q4#USD") == Decimal("3.30") * 14
    assert actual(hub, "acct-globex", "2026#Q4#USD") == Decimal("3.30") * 11  # two of 13 rejected
    rejects = hub["s3"].get_object(Bucket=hub["bucket"], Key=record["rejects_key"])["Body"].read().decode()
    reasons = [row[-1] for row in csv.reader(io.StringIO(rejects))][1:]
    assert len(reasons) == 2 and any("repeated within the file" in r for r in reasons)
    leftovers = hub["s3"].list_objects_v2(Bucket=hub["bucket"], Prefix="rejects/").get("Contents", [])
    assert [o["Key"] for o in leftovers] == [record["rejects_key"]]  # the slices' parts are gone
    assert len(sent_emails(hub)) == 1


def test_inventory_keeps_the_latest_snapshot_per_part(hub: dict, lambda_context: Any) -> None:
    header = ["Snapshot Date", "MPN", "QOH", "On Order"]
    put_and_ingest(hub, "inventory/northwind/w46.csv", csv_body(
        [["11/13/2026", "LM358", "1500", "200"], ["11/13/2026", "NE555", "40", "0"]], header), lambda_context)  # fmt: skip
    # an older snapshot arriving late never overwrites a newer one
    put_and_ingest(hub, "inventory/northwind/w45.csv", csv_body(
        [["11/06/2026", "LM358", "900", "0"], ["11/06/2026", "BC847", "10", ""]], header), lambda_context)  # fmt: skip
    parts = get("/pos/inventory?distributor=northwind")["body"]["parts"]
    assert [(p["part_number"], p["as_of_date"], p["on_hand"]) for p in parts] == [
        ("BC847", "2026-11-06", "10"), ("LM358", "2026-11-13", "1500"), ("NE555", "2026-11-13", "40")]  # fmt: skip


def test_a_file_that_cannot_be_read_fails_with_the_reason(hub: dict, lambda_context: Any) -> None:
    answer = put_and_ingest(hub, "pos/northwind/junk.csv", b"hello\nworld\n", lambda_context)
    assert answer["files"][0]["status"] == "failed"
    record = get("/pos/runs?key=pos/northwind/junk.csv")["body"]
    assert "no header row found" in record["error"]
    assert get("/pos/runs?key=pos/nothing.csv")["status"] == 404


def test_a_larger_file_goes_through_the_column_wise_path_with_exact_totals(
    hub: dict, lambda_context: Any
) -> None:
    rows = [["10/01/2026", f"L-{n // 4}", str(n % 4 + 1), f"P{n % 7}", "2", "0.25", "0.50",
             ["Acme Corporation", "Globex"][n % 2]] for n in range(60)]  # fmt: skip
    rows[40] = list(rows[10])  # a repeat, caught in the core or by the ledger
    put_and_ingest(hub, "pos/northwind/large.csv", csv_body(rows), lambda_context)
    record = get("/pos/runs?key=pos/northwind/large.csv")["body"]
    assert (record["rows_total"], record["accepted"], record["rejected"]) == (60, 59, 1)
    assert actual(hub, "acct-acme", "2026#Q4#USD") == Decimal("0.50") * 29  # row 40 (Acme) repeats row 10
    assert actual(hub, "acct-globex", "2026#Q4#USD") == Decimal("0.50") * 30


def test_a_restatement_too_big_for_one_transaction_is_split_but_stays_exact(
    hub: dict, lambda_context: Any
) -> None:
    # 40 lines with 40 parts, restated onto 40 other parts: lines plus breakdown updates exceed 100 items
    first = [
        ["10/01/2026", "B-1", str(n), f"OLD{n}", "1", "1.00", "1.00", "Acme Corporation"] for n in range(40)
    ]
    put_and_ingest(hub, "pos/northwind/parts.csv", csv_body(first), lambda_context)
    second = [
        ["10/01/2026", "B-1", str(n), f"NEW{n}", "2", "1.00", "2.00", "Acme Corporation"] for n in range(40)
    ]
    put_and_ingest(hub, "pos/northwind/parts-restated.csv", csv_body(second), lambda_context)
    assert actual(hub, "acct-acme", "2026#Q4#USD") == Decimal("80.00")
    assert actual(hub, "acct-acme", "2026#Q4#USD#PART#OLD7") == Decimal("0.00")
    assert actual(hub, "acct-acme", "2026#Q4#USD#PART#NEW7") == Decimal("2.00")


def test_a_workbook_from_s3_is_spooled_and_read(hub: dict, lambda_context: Any) -> None:
    from datetime import datetime

    from tests.unit.pos.pos_files import xlsx_bytes

    body = xlsx_bytes([
        ["Northwind POS, October"],
        HEADER,
        [datetime(2026, 10, 1), "X-1", 1, "LM358", 10, 0.12, 1.2, "Acme Corporation"],
        [datetime(2026, 10, 2), "X-2", 1, "LM358", 5, 0.12, 0.6, "Globex"],
        ["Total", None, None, None, None, None, 1.8, None],
    ])  # fmt: skip
    put_and_ingest(hub, "pos/northwind/october.xlsx", body, lambda_context)
    record = get("/pos/runs?key=pos/northwind/october.xlsx")["body"]
    assert (record["rows_total"], record["accepted"], record["footer"]) == (3, 2, 1)
    assert record["amount_accepted"] == {"USD": "1.80"}


# ---------------------------------------------------------------- storage retries (UnprocessedKeys)
def starve_batch_gets(calls: int | None) -> tuple[dict[str, int], Callable[[], None]]:
    """DynamoDB answering BatchGetItem with every key unprocessed, the first ``calls`` times (None: always),
    through botocore's event hooks on the functions' DynamoDB client."""
    from shared.aws import client

    seen = {"calls": 0, "starved": 0}
    requested: dict[str, Any] = {}

    def remember(params: dict[str, Any], **_: Any) -> None:
        requested["items"] = params["RequestItems"]

    def starve(parsed: dict[str, Any], **_: Any) -> None:
        seen["calls"] += 1
        if calls is None or seen["starved"] < calls:
            seen["starved"] += 1
            parsed["Responses"] = {table: [] for table in requested["items"]}
            parsed["UnprocessedKeys"] = requested["items"]

    events = client("dynamodb").meta.events
    events.register("provide-client-params.dynamodb.BatchGetItem", remember)
    events.register("after-call.dynamodb.BatchGetItem", starve)
    return seen, lambda: events.unregister("after-call.dynamodb.BatchGetItem", starve)


def test_unprocessed_keys_are_retried_with_backoff_until_the_file_is_counted(
    hub: dict, lambda_context: Any
) -> None:
    # Given DynamoDB leaving every ledger key unprocessed nine times in a row
    seen, _stop = starve_batch_gets(9)
    # When a file arrives
    started = time.monotonic()
    answer = put_and_ingest(hub, "pos/northwind/busy.csv", csv_body([
        ["10/01/2026", "U-1", "1", "LM358", "100", "0.12", "12.00", "Acme Corporation"],
    ]), lambda_context)  # fmt: skip
    # Then it was read again after backing off, and counted once (the distributor's slice starved nine
    # times, then the distributor's slot on the account total read once)
    assert answer["files"][0]["status"] == "done"
    assert seen["calls"] == 11 and seen["starved"] == 9
    assert time.monotonic() - started < 20
    assert actual(hub, "acct-acme", "2026#Q4#USD") == Decimal("12.00")


def test_unprocessed_keys_are_retried_only_while_the_invocation_has_time(hub: dict) -> None:
    from pos_ingest.app import handler

    from hub.local.runtime import LocalContext
    from shared.store.errors import Throttled

    # Given DynamoDB never processing the ledger's keys, and an invocation with 12 seconds left (the store keeps 5 s in reserve)
    seen, stop = starve_batch_gets(None)
    body = csv_body([["10/01/2026", "U-2", "1", "LM358", "100", "0.12", "12.00", "Acme Corporation"]])
    put = hub["s3"].put_object(Bucket=hub["bucket"], Key="pos/northwind/stuck.csv", Body=body)
    event = s3_event(hub["bucket"], "pos/northwind/stuck.csv", etag=put["ETag"], size=len(body))
    context = LocalContext("pos", timeout_seconds=12)
    # When the file arrives
    with pytest.raises(Throttled):
        handler(event, context)
    # Then the invocation gave up with time to spare (kept for the rest of its work), after backing off
    assert context.get_remaining_time_in_millis() > 3_000
    assert seen["starved"] > 3
    # And a retry of the same event, once DynamoDB answers again, counts the file once
    stop()
    answer = handler(event, LocalContext("pos", timeout_seconds=30))
    assert answer["files"][0]["status"] == "done"
    assert actual(hub, "acct-acme", "2026#Q4#USD") == Decimal("12.00")


def test_a_busy_table_answers_503_with_retry_after(hub: dict) -> None:
    from botocore.exceptions import ClientError
    from reports_api.app import handler

    from hub.local.runtime import LocalContext
    from shared.aws import client

    # Given the POS table refusing reads (throttled beyond the client's own retries)
    def throttled(**_: Any) -> None:
        raise ClientError(
            {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "busy"}}, "Query"
        )

    client("dynamodb").meta.events.register("before-call.dynamodb.Query", throttled)
    # When a read route is asked
    answer = handler(http_event("GET", "/pos/unmatched", authorized=True), LocalContext("reports", 30))
    # Then it answers 503 with when to try again
    assert answer["statusCode"] == 503 and answer["headers"]["Retry-After"] == "2"
