"""The local hub's stream pump: real stream records, Lambda-shaped batches, filters, retries, DLQ."""

from __future__ import annotations

import json
from typing import Any

import boto3

from hub.local.streams import MappingPump
from hub.local.template import StreamMapping


class RecordingRuntime:
    """A function runtime that records each batch and fails the records of a poison email."""

    def __init__(self, poison: str | None = None, crash: bool = False) -> None:
        self.batches: list[list[dict[str, Any]]] = []
        self.poison = poison
        self.crash = crash

    def invoke(self, logical_id: str, event: dict[str, Any]) -> Any:
        self.batches.append(event["Records"])
        if self.crash:
            raise RuntimeError("the function crashed")
        failed = [
            {"itemIdentifier": r["dynamodb"]["SequenceNumber"]}
            for r in event["Records"]
            if r["dynamodb"]["NewImage"].get("email", {}).get("S") == self.poison
        ]
        return {"batchItemFailures": failed}


def _pump(aws, runtime: RecordingRuntime, max_retries: int = 2, batch_size: int = 10,
          window: float = 0.0) -> MappingPump:  # fmt: skip
    mapping = StreamMapping(
        function="AlertsFunction", table="CrmTable", batch_size=batch_size, max_retries=max_retries, bisect=True,
        report_failures=True, dead_letter="StreamDeadLetterQueue",
        filters=[{"eventName": ["INSERT", "MODIFY"], "dynamodb": {"NewImage": {"entity": {"S": ["LEAD"]}}}}],
        starting_position="TRIM_HORIZON", batching_window=window,
    )  # fmt: skip
    pump = MappingPump(
        mapping, aws.physical["CrmTable"]["StreamArn"], boto3.client("dynamodbstreams"), boto3.client("sqs"),
        aws.physical["StreamDeadLetterQueue"]["Ref"], runtime, "us-east-1", retry_delay=0, gather=window > 0,
    )  # fmt: skip
    pump.start_position()
    return pump


def _put(aws, n: int, entity: str = "LEAD", email: str | None = None) -> None:
    table = boto3.resource("dynamodb").Table(aws.table_name("CrmTable"))
    table.put_item(
        Item={"pk": f"{entity}#{n}", "sk": entity, "entity": entity, "email": email or f"p{n}@example.com"}
    )


def _dead_letters(aws) -> list[dict[str, Any]]:
    answer = boto3.client("sqs").receive_message(
        QueueUrl=aws.physical["StreamDeadLetterQueue"]["Ref"], MaxNumberOfMessages=10
    )
    return [json.loads(m["Body"]) for m in answer.get("Messages", [])]


def test_batches_are_lambda_shaped_and_filtered(aws):
    # Given leads and a rep written to the CRM table
    runtime = RecordingRuntime()
    pump = _pump(aws, runtime)
    for n in range(3):
        _put(aws, n)
    _put(aws, 99, entity="REP")

    # When the pump polls
    pump.poll()

    # Then one batch of the three leads arrived, shaped like Lambda's, and the rep was filtered out
    assert len(runtime.batches) == 1
    records = runtime.batches[0]
    assert [r["dynamodb"]["NewImage"]["pk"]["S"] for r in records] == ["LEAD#0", "LEAD#1", "LEAD#2"]
    first = records[0]
    assert first["eventSource"] == "aws:dynamodb" and first["eventName"] == "INSERT"
    assert first["eventSourceARN"] == aws.physical["CrmTable"]["StreamArn"]
    assert isinstance(first["dynamodb"]["ApproximateCreationDateTime"], int)
    json.dumps(records)  # what Lambda sends is JSON


def test_a_poison_record_is_retried_then_dead_lettered_alone(aws):
    # Given five leads, the third of which the function always fails
    runtime = RecordingRuntime(poison="p2@example.com")
    pump = _pump(aws, runtime, max_retries=2)
    for n in range(5):
        _put(aws, n)

    # When the pump polls
    pump.poll()

    # Then every good record was delivered, the poison one went to the DLQ alone after its retries
    delivered_ok = {r["dynamodb"]["NewImage"]["email"]["S"] for batch in runtime.batches for r in batch} - {
        "p2@example.com"
    }
    assert delivered_ok == {"p0@example.com", "p1@example.com", "p3@example.com", "p4@example.com"}
    dead = _dead_letters(aws)
    assert len(dead) == 1
    assert dead[0]["DDBStreamBatchInfo"]["batchSize"] == 1
    assert dead[0]["local"]["keys"] == [{"pk": {"S": "LEAD#2"}, "sk": {"S": "LEAD"}}]
    poison_attempts = sum(
        1 for batch in runtime.batches if batch[0]["dynamodb"]["NewImage"]["email"]["S"] == "p2@example.com"
    )
    assert poison_attempts == 3  # the first try and two retries
    assert pump.dead_lettered == 1


def test_a_crashing_function_dead_letters_every_record_after_bisecting(aws):
    runtime = RecordingRuntime(crash=True)
    pump = _pump(aws, runtime, max_retries=0)
    for n in range(2):
        _put(aws, n)
    pump.poll()
    assert len(_dead_letters(aws)) == 2


def test_records_are_gathered_for_the_batching_window_and_a_full_batch_goes_at_once(aws):
    # Given a mapping that gathers for up to 60 s (MaximumBatchingWindowInSeconds), batches of 10
    runtime = RecordingRuntime()
    pump = _pump(aws, runtime, batch_size=10, window=60)
    for n in range(3):
        _put(aws, n)
    # When three leads are read: nothing is delivered yet
    pump.poll()
    assert runtime.batches == []
    # And when ten more come, the first full batch goes at once, in stream order
    for n in range(3, 13):
        _put(aws, n)
    pump.poll()
    assert [len(b) for b in runtime.batches] == [10, 3]
    assert [r["dynamodb"]["NewImage"]["pk"]["S"] for r in runtime.batches[0][:4]] == [
        "LEAD#0", "LEAD#1", "LEAD#2", "LEAD#3"]  # fmt: skip
    # And what is gathered when the hub stops is delivered, not dropped
    _put(aws, 20)
    pump.poll()
    pump.flush()
    assert [len(b) for b in runtime.batches] == [10, 3, 1] and pump.delivered == 14
