# ruff: noqa: F811 - the leads_hub and calls fixtures are imported from the webhook and call-count tests
"""A trade-show list through the leads function under moto: AWS calls per 100 rows (counted with the same
botocore hook as the calls per lead), a list within the file's dedupe, and an invocation that runs out of
time continued by the retry with exactly one effect per row (issue 14)."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import boto3

from hub.local.runtime import LocalContext
from tests.handlers.test_aws_calls import calls  # noqa: F401 - the fixture
from tests.handlers.test_leads_webhook import leads_hub  # noqa: F401 - the fixture
from tests.helpers import s3_event

COUNTRIES = ["US", "DE", "JP", "FR", "BR"]


def _list(people: int, twice: range = range(0)) -> bytes:
    rows = [f"visitor{n}@example.com,V{n},Co {n % 7},{COUNTRIES[n % 5]},{(n * 37) % 3000}"
            for n in [*range(people), *twice]]  # fmt: skip
    return ("E-mail,First Name,Company Name,Country,Employees\n" + "\n".join(rows) + "\n").encode()


def _import(hub: Any, key: str, body: bytes, context: Any) -> dict[str, Any]:
    from leads_webhook.app import handler

    boto3.client("s3").put_object(Bucket=hub.bucket_name(), Key=key, Body=body)
    return handler(s3_event(hub.bucket_name(), key), context)  # type: ignore[no-any-return]


def _submissions(people: int) -> dict[str, int]:
    from shared.store import crm

    store = crm.DynamoCrmStore()
    return {f"visitor{n}": len(store.lead_submissions(store.lead_id_for_email(f"visitor{n}@example.com")))
            for n in range(people)}  # fmt: skip


def test_an_import_reads_in_batches_and_writes_new_leads_together(
    leads_hub: Any, calls: Counter[str], lambda_context: Any
) -> None:
    # Given a list of 100 new people (the configuration and rep records read once, as in a warm container)
    _import(leads_hub, "imports/leads/warm.csv", _list(1), lambda_context)
    body = _list(100).replace(b"visitor", b"guest")
    calls.clear()

    # When it is imported
    answer = _import(leads_hub, "imports/leads/count.csv", body, lambda_context)

    # Then per 100 rows: 3 BatchGetItems (a lead, an alias and a suppression for each address, 100 keys a
    # call), 1 TransactWriteItems (100 new leads, each with its first submission on it); no GetItem or
    # UpdateItem a row (the rotation's turns are claimed a block at a time)
    assert answer["imports"][0]["counts"] == {"created": 100}
    per_100 = dict(calls)
    assert per_100["dynamodb.BatchGetItem"] <= 3, json.dumps(calls)
    assert per_100["dynamodb.TransactWriteItems"] <= 1, json.dumps(calls)
    # the pool's turn read, one claim of 64 turns and the give-back: per import, not per row
    assert per_100.get("dynamodb.GetItem", 0) + per_100.get("dynamodb.UpdateItem", 0) <= 4, json.dumps(calls)
    # one digest record per rep the leads went to (PutItem), however many rows: per import, not per row
    digests = per_100.get("dynamodb.PutItem", 0)
    assert 1 <= digests <= 10, json.dumps(calls)
    dynamodb = sum(n for operation, n in calls.items() if operation.startswith("dynamodb."))
    assert dynamodb - digests <= 15, json.dumps(
        calls
    )  # with what an import reads once (open leads per rep): one lead at a time, 350


class _RunsOut(LocalContext):
    """A Lambda context whose remaining time drops to 2 s after ``checks`` looks (the import checks it before
    each chunk of 100 people)."""

    def __init__(self, checks: int) -> None:
        super().__init__(function_name="LeadsWebhookFunction", timeout_seconds=300)
        self.checks = checks

    def get_remaining_time_in_millis(self) -> int:
        self.checks -= 1
        return 300_000 if self.checks >= 0 else 2_000


def test_an_import_out_of_time_is_continued_by_the_retry_each_row_once(
    leads_hub: Any, lambda_context: Any
) -> None:
    from leads_webhook.imports import ImportOutOfTimeError, status_key

    bucket, key = leads_hub.bucket_name(), "imports/leads/long.csv"
    body = _list(120, twice=range(10))  # two chunks of people; ten people twice in the file
    # When the first invocation runs out of time after one chunk
    try:
        _import(leads_hub, key, body, _RunsOut(checks=1))
        raise AssertionError("the first invocation should have run out of time")
    except ImportOutOfTimeError as stopped:
        assert "110 of 130 rows done" in str(stopped)
    s3 = boto3.client("s3")
    status = json.loads(s3.get_object(Bucket=bucket, Key=status_key(key))["Body"].read())
    assert (status["state"], status["done"], status["rows"]) == ("continuing", 110, 130)
    half = _submissions(120)

    # And the retry (the same event again) continues
    from leads_webhook.app import handler

    answer = handler(s3_event(bucket, key), _RunsOut(checks=100))

    # Then every row has one effect: 120 leads, the ten repeated people with two submissions, nothing of
    # the first invocation's rows done again
    assert answer["imports"][0]["counts"] == {"created": 120, "merged": 10}
    assert _submissions(120) == {f"visitor{n}": 2 if n < 10 else 1 for n in range(120)}
    assert sum(half.values()) == 110
    results = s3.get_object(Bucket=bucket, Key="imports/leads/long.results.csv")["Body"].read().decode()
    assert results.count("\n") == 131 and "already imported" not in results
    status = json.loads(s3.get_object(Bucket=bucket, Key=status_key(key))["Body"].read())
    assert (status["state"], status["done"]) == ("done", 130)


def _items_written(operation: str, params: Any) -> int:
    """CRM table items a DynamoDB write request writes (a transaction's condition checks write none)."""
    if operation not in ("PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"):
        return 0
    request = json.loads((params or {}).get("body") or "{}")
    if operation == "TransactWriteItems":
        actions = [
            a for item in request["TransactItems"] for kind, a in item.items() if kind != "ConditionCheck"
        ]
        return sum(1 for a in actions if "CrmTable" in a["TableName"])
    if operation == "BatchWriteItem":
        return sum(len(writes) for table, writes in request["RequestItems"].items() if "CrmTable" in table)
    return 1 if "CrmTable" in request["TableName"] else 0


NEW_LEAD_ITEM_WRITES = 1  # the lead, its first submission kept on it (was 2: the submission was an item)


def test_a_new_lead_is_one_item_written_by_a_list_and_by_a_post(leads_hub: Any, lambda_context: Any) -> None:
    from tests.handlers.test_leads_webhook import post
    from tests.helpers import counting_aws_calls

    # Given warm services (the configuration and rep records read once)
    _import(leads_hub, "imports/leads/warm.csv", _list(1), lambda_context)
    written: Counter[str] = Counter()

    def count(operation: str, params: Any) -> str:
        service, name = operation.split(".", 1)
        if service == "dynamodb":
            written[name] += _items_written(name, params)
        return operation

    # When a list of 150 new people is imported, and 10 more people post the form
    with counting_aws_calls(count):
        answer = _import(
            leads_hub, "imports/leads/writes.csv", _list(150).replace(b"visitor", b"w"), lambda_context
        )
        digests = written["PutItem"]  # the import's one digest record per rep
        imported = sum(written.values())
        written.clear()
        for n in range(10):
            assert post(lambda_context, {"email": f"form{n}@example.com", "country": "US"})[0] == 202

    # Then each new lead is one item written to the CRM table (the engine's cost is per item written)
    assert answer["imports"][0]["counts"] == {"created": 150}
    assert 1 <= digests <= 10
    assert (imported - digests) / 150 <= NEW_LEAD_ITEM_WRITES, f"{imported} items, {digests} digests"
    assert sum(written.values()) / 10 <= NEW_LEAD_ITEM_WRITES, dict(written)
