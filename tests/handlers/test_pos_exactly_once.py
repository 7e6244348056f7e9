"""Exactly once at the file level, never half a result (issue 13): each run's contribution is computed
in one pass and committed with its run record; restatements replace a version's whole contribution;
overlapping files find each other's lines; unreadable files and stray keys get a run record that says
why; and no amount shows in the actuals while a run is not done."""

from __future__ import annotations

import csv
import importlib.util
import io
import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.handlers.test_pos_handler import actual, csv_body, get, pos_world, put_and_ingest, sent_emails
from tests.helpers import s3_event

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def hub(aws: Any) -> Iterator[dict[str, Any]]:
    yield from pos_world(aws)


@pytest.fixture
def lambda_context() -> Any:
    """A context with the POS function's 15 minutes: on a busy machine a 30-second one would end its
    slices early, and these tests are about what is counted, not when a slice stops."""
    from hub.local.runtime import LocalContext

    return LocalContext(function_name="pos-ingest", timeout_seconds=900)


def line(invoice: str, number: int, qty: int, price: str, customer: str = "Acme Corporation",
         part: str = "LM358", day: str = "10/01/2026") -> list[str]:  # fmt: skip
    amount = (Decimal(price) * qty).quantize(Decimal("0.01"))
    return [day, invoice, str(number), part, str(qty), price, str(amount), customer]


def run_of(key: str) -> dict[str, Any]:
    return get(f"/pos/runs?key={key}")["body"]


def continuation_messages(hub: dict) -> Iterator[dict[str, Any]]:
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = hub["aws"].physical["PosContinuationQueue"]["Ref"]
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1).get("Messages", [])
        if not messages:
            return
        message = messages[0]
        yield {"Records": [{"messageId": message["MessageId"], "receiptHandle": message["ReceiptHandle"],
                            "body": message["Body"], "attributes": {}, "messageAttributes": {},
                            "md5OfBody": message["MD5OfBody"], "eventSource": "aws:sqs",
                            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:q", "awsRegion": "us-east-1"}]}  # fmt: skip
        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def test_redelivery_counts_once_and_a_restatement_that_drops_lines_takes_them_back(
    hub: dict, lambda_context: Any
) -> None:
    from pos_ingest.app import handler

    key = "pos/northwind/week-47.csv"
    # Given a file with invoice K-1 (three lines) and K-2, delivered twice
    first = csv_body([line("K-1", 1, 10, "1.25"), line("K-1", 2, 3, "2.10"), line("K-1", 3, 7, "0.33"),
                      line("K-2", 1, 1, "100.00", "Globex")])  # fmt: skip
    answer = put_and_ingest(hub, key, first, lambda_context)
    head = hub["s3"].head_object(Bucket=hub["bucket"], Key=key)
    again = handler(s3_event(hub["bucket"], key, etag=head["ETag"]), lambda_context)
    assert answer["files"][0]["status"] == "done" and again["files"][0]["status"] == "duplicate"
    assert actual(hub, "acct-acme", "2026#Q4#USD") == Decimal("12.50") + Decimal("6.30") + Decimal("2.31")
    # When the distributor sends the file again (a new version of the key): K-1 with one of its three
    # lines, changed, and K-2 no more
    put_and_ingest(hub, key, csv_body([line("K-1", 2, 4, "2.10")]), lambda_context)
    # Then the dropped lines stop counting and the changed one counts as restated, to the cent
    assert actual(hub, "acct-acme", "2026#Q4#USD") == Decimal("8.40")
    assert actual(hub, "acct-globex", "2026#Q4#USD") == Decimal("0.00")
    assert actual(hub, "acct-acme", "2026#Q4#USD#DIST#northwind") == Decimal("8.40")
    assert actual(hub, "acct-acme", "2026#Q4#USD#PART#LM358") == Decimal("8.40")
    runs = get(f"/pos/runs?key={key}")
    assert runs["status"] == 200


def test_overlapping_files_find_the_lines_sent_again(hub: dict, lambda_context: Any) -> None:
    # Given a file with lines 1-6 of an invoice
    put_and_ingest(hub, "pos/northwind/a.csv", csv_body([line("OV-1", n, n, "1.00") for n in range(1, 7)]),
                   lambda_context)  # fmt: skip
    assert actual(hub, "acct-acme", "2026#Q4#USD") == Decimal("21.00")
    # When a later file (another key) sends lines 4-9, lines 4-6 now at double the quantity
    put_and_ingest(hub, "pos/northwind/b.csv",
                   csv_body([line("OV-1", n, 2 * n if n <= 6 else n, "1.00") for n in range(4, 10)]),
                   lambda_context)  # fmt: skip
    # Then each line counts once, as the later file says
    assert actual(hub, "acct-acme", "2026#Q4#USD") == Decimal(1 + 2 + 3 + 8 + 10 + 12 + 7 + 8 + 9)
    # And the first file sent again as a new version (lines 1-6 as before) restates 4-6 back
    put_and_ingest(hub, "pos/northwind/a.csv",
                   csv_body([line("OV-1", n, n, "1.00") for n in range(1, 7)] + [line("OV-2", 1, 1, "0.01")]),
                   lambda_context)  # fmt: skip
    assert actual(hub, "acct-acme", "2026#Q4#USD") == Decimal(21 + 7 + 8 + 9) + Decimal("0.01")


def test_forced_checkpoints_and_a_crash_between_chunks_leave_nothing_half_counted(
    hub: dict, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pos_ingest import core, wiring
    from pos_ingest.app import handler

    from shared.store.errors import Throttled
    from shared.store.pos import DynamoPosStore

    rows = [line(f"C-{n // 3}", n % 3 + 1, n % 5 + 1, "1.10", ["Acme Corporation", "Globex"][n % 2])
            for n in range(30)]  # fmt: skip
    rows[20] = list(rows[2])  # the same line twice, read in different invocations
    # Given one batch of 4 rows per invocation
    monkeypatch.setattr(core, "BATCH_SIZE", 4)
    monkeypatch.setattr(wiring, "time_budget", lambda remaining: lambda rows_done: True)
    # and an invocation that dies after reading its rows, before its checkpoint is saved
    save = DynamoPosStore.save_run
    crashes = {"left": 1, "calls": 0}

    def crash_once(self: Any, run: Any, *, expected_slice: int) -> bool:
        crashes["calls"] += 1
        if crashes["calls"] == 3 and crashes["left"]:
            crashes["left"] -= 1
            raise Throttled("killed between chunks")
        return save(self, run, expected_slice=expected_slice)

    monkeypatch.setattr(DynamoPosStore, "save_run", crash_once)
    key = "pos/northwind/slices.csv"
    assert put_and_ingest(hub, key, csv_body(rows), lambda_context)["files"][0]["status"] == "continuing"
    statuses = []
    for event in continuation_messages(hub):
        try:
            failed = bool(handler(event, lambda_context)["batchItemFailures"])
        except Exception:  # every record of the batch failed: the batch fails
            failed = True
        record = run_of(key)
        statuses.append(record["status"])
        if record["status"] != "done":  # never a partial amount while the run is not done
            assert actual(hub, "acct-acme", "2026#Q4#USD") is None
            assert actual(hub, "acct-globex", "2026#Q4#USD") is None
        if failed:  # the failed message comes back, as SQS would bring it
            wiring.continue_later(_ref(hub, key), record["slice"])
    assert crashes["left"] == 0 and statuses[-1] == "done", statuses
    record = run_of(key)
    assert (record["rows_total"], record["accepted"], record["rejected"]) == (30, 29, 1)
    acme = sum(
        (Decimal(r[6]) for i, r in enumerate(rows) if r[7] == "Acme Corporation" and i != 20), Decimal(0)
    )
    globex = sum((Decimal(r[6]) for r in rows if r[7] == "Globex"), Decimal(0))
    assert actual(hub, "acct-acme", "2026#Q4#USD") == acme
    assert actual(hub, "acct-globex", "2026#Q4#USD") == globex
    assert record["amount_accepted"] == {"USD": str(acme + globex)}
    rejects = hub["s3"].get_object(Bucket=hub["bucket"], Key=record["rejects_key"])["Body"].read().decode()
    assert "repeated within the file" in list(csv.reader(io.StringIO(rejects)))[1][-1]
    work = hub["s3"].list_objects_v2(Bucket=hub["bucket"], Prefix="pos-work/").get("Contents", [])
    assert work == []  # staged lines are gone once committed


def _ref(hub: dict, key: str) -> Any:
    from pos_ingest.service import ObjectRef

    head = hub["s3"].head_object(Bucket=hub["bucket"], Key=key)
    return ObjectRef(hub["bucket"], key, None, head["ETag"].strip('"'))  # as the S3 event named it


def failing_transactions(monkeypatch: pytest.MonkeyPatch, fails: Any) -> dict[str, Any]:
    """DynamoDB answering InternalServerError to the n-th TransactWriteItems when ``fails(n)`` (the AWS
    edge, not our code); ``calls["on"] = False`` ends it."""
    from botocore.exceptions import ClientError

    original = __import__("botocore.client", fromlist=["BaseClient"]).BaseClient._make_api_call
    calls = {"n": 0, "on": True}

    def failing(self: Any, operation: str, params: dict[str, Any]) -> Any:
        if operation == "TransactWriteItems" and calls["on"]:
            calls["n"] += 1
            if fails(calls["n"]):
                raise ClientError({"Error": {"Code": "InternalServerError", "Message": "gone"}}, operation)
        return original(self, operation, params)

    monkeypatch.setattr("botocore.client.BaseClient._make_api_call", failing)
    return calls


def twelve_lines(prefix: str) -> list[list[str]]:
    """Twelve lines over two accounts and two unmatched customers, three months of Q3, a part each."""
    customers = ["Acme Corporation", "Globex", "Initech", "Hooli"]
    return [line(f"{prefix}-{n}", 1, 1, "2.50", customers[n % 4], part=f"P{n}", day=f"{n % 3 + 7}/15/2026")
            for n in range(12)]  # fmt: skip


def test_a_commit_cut_short_between_its_transactions_resumes_exactly_once(
    hub: dict, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pos_ingest.app import handler

    from shared.store import pos

    # Given commits of at most 3 writes per transaction, and DynamoDB failing the second transaction once
    monkeypatch.setattr(pos, "COMMIT_CHUNK", 3)
    failing_transactions(monkeypatch, lambda n: n == 2)
    rows = twelve_lines("T")
    key = "pos/northwind/commit.csv"
    body = csv_body(rows)
    put = hub["s3"].put_object(Bucket=hub["bucket"], Key=key, Body=body)
    event = s3_event(hub["bucket"], key, etag=put["ETag"], size=len(body))
    # When the invocation fails mid-commit and S3 retries it
    with pytest.raises(Exception):  # noqa: B017 - whatever the platform raised
        handler(event, lambda_context)
    assert run_of(key)["status"] == "applying"
    answer = handler(event, lambda_context)
    # Then the run finishes where it stopped, every amount counted once
    assert answer["files"][0]["status"] == "done"
    assert actual(hub, "acct-acme", "2026#Q3#USD") == Decimal("2.50") * 3  # rows 0, 4, 8 (July-Sept)
    assert actual(hub, "acct-acme", "2026#Q3#USD#DIST#northwind") == Decimal("2.50") * 3
    assert actual(hub, "acct-acme", "2026#Q3#USD#PART#P4") == Decimal("2.50")
    assert actual(hub, "acct-globex", "2026#Q3#USD") == Decimal("2.50") * 3
    unmatched = {u["normalised_name"]: u for u in get("/pos/unmatched")["body"]["unmatched"]}
    assert unmatched["initech"]["amounts"] == {"USD": "7.50"} and unmatched["initech"]["lines"] == 3


def test_a_corrupt_workbook_fails_with_the_reason_and_the_channel_manager_hears(
    hub: dict, lambda_context: Any
) -> None:
    answer = put_and_ingest(
        hub, "pos/northwind/october.xlsx", b"PK\x03\x04 not really a workbook", lambda_context
    )
    assert answer["files"][0]["status"] == "failed"
    record = run_of("pos/northwind/october.xlsx")
    assert record["status"] == "failed" and "workbook" in record["error"]
    assert record["accepted"] == 0
    assert len(sent_emails(hub)) == 1


def test_a_latin1_byte_in_a_utf8_file_is_read_not_failed(hub: dict, lambda_context: Any) -> None:
    # The reader reads a byte that is not UTF-8 as cp1252 (the distributors' other encoding): a whole file
    # is not lost for one accented name. What cannot be read at all fails (the corrupt workbook above).
    body = csv_body([line("E-1", 1, 1, "1.00", "Société Générale")]).replace(b"\xc3\xa9", b"\xe9")
    answer = put_and_ingest(hub, "pos/northwind/latin1.csv", body, lambda_context)
    record = run_of("pos/northwind/latin1.csv")
    assert answer["files"][0]["status"] == "done" and record["accepted"] == 1
    unmatched = get("/pos/unmatched")["body"]["unmatched"]
    assert [u["end_customer"] for u in unmatched] == ["Société Générale"]


def test_a_key_outside_a_distributor_folder_is_refused_with_the_reason(
    hub: dict, lambda_context: Any
) -> None:
    answer = put_and_ingest(hub, "pos/file.csv", csv_body([line("R-1", 1, 1, "1.00")]), lambda_context)
    assert answer["files"][0]["status"] == "refused"
    record = run_of("pos/file.csv")
    assert record["status"] == "refused" and "pos/<distributor>/" in record["error"]
    assert actual(hub, "acct-acme", "2026#Q4#USD") is None


def _bench() -> Any:
    spec = importlib.util.spec_from_file_location("bench_pos", ROOT / "bench" / "pos.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.ddblocal
def test_dynamodb_writes_for_a_100000_line_file_grow_with_account_quarters_not_lines(
    aws: Any, ddblocal_tables: Any, lambda_context: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """On DynamoDB Local (AWS's engine; moto copies every table on each transaction), S3 in moto."""
    from datetime import UTC, datetime

    from pos_ingest import wiring

    from shared.store.common import Version
    from shared.store.crm import Account, DynamoCrmStore
    from shared.store.plan import DynamoPlanStore

    # Given the bench's 100,000-line file (800 end customers, half of them accounts, 3,000 parts, 13 months)
    path = tmp_path / "pos.csv"
    _bench().generate(path, 100_000)
    crm = DynamoCrmStore()
    for i in range(0, 800, 2):
        crm.upsert_account(
            Account(account_id=f"acct-{i}", name=f"Customer {i}"), Version(datetime.now(UTC), "b")
        )
    wiring.forget_accounts()
    wiring.store.cache_clear()
    writes = {"items": 0, "calls": 0, "on": 1}
    original = __import__("botocore.client", fromlist=["BaseClient"]).BaseClient._make_api_call

    def counting(self: Any, operation: str, params: dict[str, Any]) -> Any:
        if writes["on"] and self.meta.service_model.service_name == "dynamodb":
            if operation == "TransactWriteItems":
                writes["items"] += len(params["TransactItems"])
                writes["calls"] += 1
            elif operation == "BatchWriteItem":
                writes["items"] += sum(len(v) for v in params["RequestItems"].values())
                writes["calls"] += 1
            elif operation in ("PutItem", "UpdateItem", "DeleteItem"):
                writes["items"] += 1
                writes["calls"] += 1
        return original(self, operation, params)

    monkeypatch.setattr("botocore.client.BaseClient._make_api_call", counting)
    # When it is uploaded
    s3 = boto3.client("s3", region_name="us-east-1")
    world = {"s3": s3, "bucket": aws.bucket_name()}
    answer = put_and_ingest(world, "pos/bench/100k.csv", path.read_bytes(), lambda_context)
    writes["on"] = 0
    # Then it is counted, and the writes follow the account-quarters, not the lines
    assert answer["files"][0]["status"] == "done"
    record = run_of("pos/bench/100k.csv")
    assert record["accepted"] + record["rejected"] == 100_000
    plan = DynamoPlanStore()
    cells = [
        a for i in range(0, 800, 2) for y in (2025, 2026) for a in plan.actuals_of_account(f"acct-{i}", y)
    ]
    unmatched = len(get("/pos/unmatched")["body"]["unmatched"])
    total = sum((a.amount for a in cells), Decimal(0))
    matched = sum((Decimal(v) for v in record["amount_accepted"].values()), Decimal(0))
    print(f"\n100,000 lines: {writes['items']} DynamoDB item writes in {writes['calls']} calls "
          f"({writes['items'] / 100:.1f} per 1,000 lines); {len(cells)} account-quarters, {unmatched} unmatched")  # fmt: skip
    # one total and one distributor slice per account-quarter, one per unmatched customer, the run record
    # (created, finished), the ledger head (locked, moved), the commit marker, and per further chunk a
    # run-record step, a check of the ledger head (its transaction's ConditionCheck) and the page item
    # listing the account-quarters it moved
    assert writes["items"] <= 2 * len(cells) + unmatched + 3 * ((2 * len(cells) + unmatched) // 97 + 1) + 6
    assert total <= matched  # the matched share of what the run accepted, to the cent (the rest unmatched)
    unmatched_total = sum(
        (Decimal(a) for u in get("/pos/unmatched")["body"]["unmatched"] for a in u["amounts"].values()),
        Decimal(0),
    )
    assert total + unmatched_total == matched


def _visible(hub: dict) -> dict[str, Any]:
    """Everything a reader sees of POS amounts: the account totals and distributor slices (the plan
    store), what the rollup reads, and the unmatched customers (GET /pos/unmatched)."""
    from shared.store.plan import DynamoPlanStore, DynamoRollupStore

    plan, rollup = DynamoPlanStore(), DynamoRollupStore()
    seen: dict[str, Any] = {}
    for account in ("acct-acme", "acct-globex"):
        for a in plan.actuals_of_account(account, 2026):
            seen[f"{account} {a.quarter} total"] = a.amount
            for b in plan.actual_breakdown(account, 2026, a.quarter, a.currency):
                seen[f"{account} {a.quarter} {b.dimension} {b.value}"] = b.amount
        for quarter in (3, 4):
            for figure in rollup.pos_of(account, (2026, quarter)):
                seen[f"{account} {quarter} rollup {figure.distributor}"] = figure.amount
    for year_actual in plan.actuals_of_year(2026):
        seen[f"{year_actual.account_id} {year_actual.quarter} year"] = year_actual.amount
    for u in get("/pos/unmatched")["body"]["unmatched"]:
        seen[f"unmatched {u['normalised_name']}"] = (u["amounts"], u["lines"], u["distributors"])
    return seen


def test_a_commit_in_many_transactions_is_never_half_visible_cut_short_restated_or_overlapped(
    hub: dict, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chunks forced small: each file's commit takes several transactions. Between any two of them
    every reader sees what it saw before the file, or the whole file, never part of it."""
    from botocore.exceptions import ClientError
    from pos_ingest.app import handler

    from shared.store import pos

    monkeypatch.setattr(pos, "COMMIT_CHUNK", 3)
    original = __import__("botocore.client", fromlist=["BaseClient"]).BaseClient._make_api_call
    watch: dict[str, Any] = {"key": None, "before": None, "polls": 0, "fail_at": None, "tx": 0, "busy": False}

    def polled(self: Any, operation: str, params: dict[str, Any]) -> Any:
        if operation != "TransactWriteItems" or watch["busy"] or watch["key"] is None:
            return original(self, operation, params)
        watch["tx"] += 1
        if watch["tx"] == watch["fail_at"]:
            raise ClientError({"Error": {"Code": "InternalServerError", "Message": "killed"}}, operation)
        answer = original(self, operation, params)
        watch["busy"] = True
        try:  # a reader between two transactions of the commit
            if run_of(watch["key"])["status"] != "done":
                assert _visible(hub) == watch["before"]
                watch["polls"] += 1
        finally:
            watch["busy"] = False
        return answer

    monkeypatch.setattr("botocore.client.BaseClient._make_api_call", polled)
    customers = ["Acme Corporation", "Globex", "Initech", "Hooli"]

    def file_rows(price: str, count: int) -> list[list[str]]:
        return [line(f"H-{n}", 1, 1, price, customers[n % 4], part=f"P{n % 5}", day=f"{n % 5 + 7}/15/2026")
                for n in range(count)]  # fmt: skip

    def expected(rows: list[list[str]], customer: str, months: tuple[int, ...]) -> Decimal:
        return sum((Decimal(r[6]) for r in rows if r[7] == customer and int(r[0].split("/")[0]) in months),
                   Decimal("0.00"))  # fmt: skip

    def ingest(key: str, rows: list[list[str]], fail_at: int | None = None) -> dict[str, Any]:
        body = csv_body(rows)
        put = hub["s3"].put_object(Bucket=hub["bucket"], Key=key, Body=body)
        event = s3_event(hub["bucket"], key, etag=put["ETag"], size=len(body))
        watch.update(key=key, before=_visible(hub), tx=0, fail_at=fail_at)
        if fail_at is not None:  # the invocation dies between two chunks; S3 retries it
            with pytest.raises(Exception):  # noqa: B017 - whatever the platform raised
                handler(event, lambda_context)
            assert run_of(key)["status"] == "applying"
            assert _visible(hub) == watch["before"]
            watch["fail_at"] = None
        answer = handler(event, lambda_context)
        watch["key"] = None
        return answer

    # Given a file of 24 lines over 4 customers (2 unmatched), 6 months and 5 parts
    key = "pos/northwind/chunks.csv"
    first = file_rows("2.50", 24)
    assert ingest(key, first)["files"][0]["status"] == "done"
    after_first = _visible(hub)
    # Then it was committed in several transactions, a reader looked between them, and all of it counts
    assert watch["polls"] >= 3
    q3, q4 = (7, 8, 9), (10, 11, 12)
    assert after_first["acct-acme 3 total"] == expected(first, "Acme Corporation", q3) == Decimal("10.00")
    assert after_first["acct-acme 4 total"] == expected(first, "Acme Corporation", q4) == Decimal("5.00")
    assert after_first["acct-acme 3 rollup northwind"] == Decimal("10.00")
    assert after_first["unmatched initech"] == ({"USD": "15.00"}, 6, ["northwind"])
    # When a new version drops half the lines and changes the price, and dies after its second chunk
    watch["polls"] = 0
    second = file_rows("4.00", 12)
    assert ingest(key, second, fail_at=2)["files"][0]["status"] == "done"
    # Then readers saw the first version whole until the second was done, then the second whole
    assert watch["polls"] >= 2
    final = _visible(hub)
    acme_q3 = expected(second, "Acme Corporation", q3)
    assert final["acct-acme 3 total"] == acme_q3 == Decimal("4.00")
    assert final["acct-acme 4 total"] == expected(second, "Acme Corporation", q4) == Decimal("8.00")
    assert final["acct-acme 3 distributor northwind"] == acme_q3
    assert final["acct-acme 3 rollup northwind"] == acme_q3
    assert final["acct-globex 3 year"] == expected(second, "Globex", q3)
    assert final["unmatched initech"] == ({"USD": "12.00"}, 3, ["northwind"])
    # And a third file of another distributor, in one transaction, adds to what the chunked ones staged
    watch["polls"] = 0
    put_and_ingest(hub, "pos/contoso/one.csv", csv_body([line("Z-1", 1, 1, "0.01", day="07/15/2026")]),
                   lambda_context)  # fmt: skip
    assert _visible(hub)["acct-acme 3 total"] == acme_q3 + Decimal("0.01")
    # And a file under another key sending half of those lines again, repriced (overlap), counts each
    # line once, as the later file says, and is never seen half committed either
    watch["polls"] = 0
    third = file_rows("5.00", 6)
    assert ingest("pos/northwind/overlap.csv", third)["files"][0]["status"] == "done"
    assert watch["polls"] >= 1
    counted = third + [r for r in second if int(r[1].removeprefix("H-")) >= 6]
    final = _visible(hub)
    assert final["acct-acme 3 total"] == expected(counted, "Acme Corporation", q3) + Decimal("0.01")
    assert final["acct-acme 4 total"] == expected(counted, "Acme Corporation", q4)
    assert final["acct-globex 3 year"] == expected(counted, "Globex", q3)
    initech = expected(counted, "Initech", q3 + q4)
    assert final["unmatched initech"] == ({"USD": str(initech)}, 3, ["northwind"])


def failure_queue_event(hub: dict, body: dict[str, Any]) -> dict[str, Any]:
    """An SQS batch from the POS on-failure queue, as its mapping delivers it."""
    name = hub["aws"].physical["PosIngestFailureQueue"]["QueueName"]
    return {"Records": [{"messageId": "m-1", "receiptHandle": "r-1", "body": json.dumps(body), "attributes": {},
                         "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
                         "eventSourceARN": f"arn:aws:sqs:us-east-1:123456789012:{name}", "awsRegion": "us-east-1"}]}  # fmt: skip


def test_a_commit_dying_on_every_try_ends_failed_releases_the_ledger_and_counts_nothing(
    hub: dict, lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pos_ingest.app import handler

    from shared.store import pos

    # Given commits of 3 writes a transaction, and DynamoDB failing every transaction after the first
    monkeypatch.setattr(pos, "COMMIT_CHUNK", 3)
    calls = failing_transactions(monkeypatch, lambda n: n >= 2)
    rows = twelve_lines("D")
    key = "pos/northwind/dying.csv"
    body = csv_body(rows)
    put = hub["s3"].put_object(Bucket=hub["bucket"], Key=key, Body=body)
    event = s3_event(hub["bucket"], key, etag=put["ETag"], size=len(body))
    # When the invocation fails three times (S3's event and Lambda's two retries)
    for _try in range(3):
        with pytest.raises(Exception):  # noqa: B017 - whatever the platform raised
            handler(event, lambda_context)
    assert run_of(key)["status"] == "applying"
    # and Lambda's on-failure record reaches pos_ingest through the failure queue
    record = {"version": "1.0", "requestContext": {"condition": "RetriesExhausted", "approximateInvokeCount": 3},
              "requestPayload": event, "responseContext": {"functionError": "Unhandled"},
              "responsePayload": {"errorType": "Sandbox.Timedout", "errorMessage": "Task timed out after 900.00 seconds"}}  # fmt: skip
    calls["on"] = False  # (DynamoDB is back by then)
    answer = handler(failure_queue_event(hub, record), lambda_context)
    # Then the run is failed with the reason, the channel manager hears, and nothing of it counts
    assert answer["batchItemFailures"] == []
    run = run_of(key)
    assert run["status"] == "failed" and "Task timed out after 900.00 seconds (3 tries)" in run["error"]
    assert len(sent_emails(hub)) == 1
    assert _visible(hub) == {}
    # And the record is kept in the dead-letter queue, and arriving again changes nothing
    sqs = boto3.client("sqs", region_name="us-east-1")
    kept = sqs.receive_message(QueueUrl=hub["aws"].physical["PosIngestDeadLetterQueue"]["Ref"])["Messages"]
    assert json.loads(kept[0]["Body"])["responsePayload"]["errorType"] == "Sandbox.Timedout"
    handler(failure_queue_event(hub, record), lambda_context)
    assert run_of(key)["error"] == run["error"] and len(sent_emails(hub)) == 1
    # And the ledger is free: the same lines in another file count at once, exactly
    put_and_ingest(hub, "pos/northwind/after.csv", body, lambda_context)
    assert _visible(hub)["acct-acme 3 total"] == Decimal("7.50")
    assert _visible(hub)["unmatched initech"] == ({"USD": "7.50"}, 3, ["northwind"])
