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
    assert pump.holding  # its poller keeps the base pace until the window ends
    # And when ten more come, the first full batch goes at once, in stream order
    for n in range(3, 13):
        _put(aws, n)
    pump.poll()
    assert [len(b) for b in runtime.batches] == [10, 3]
    assert not pump.holding
    assert [r["dynamodb"]["NewImage"]["pk"]["S"] for r in runtime.batches[0][:4]] == [
        "LEAD#0", "LEAD#1", "LEAD#2", "LEAD#3"]  # fmt: skip
    # And what is gathered when the hub stops is delivered, not dropped
    _put(aws, 20)
    pump.poll()
    pump.flush()
    assert [len(b) for b in runtime.batches] == [10, 3, 1] and pump.delivered == 14


def test_an_idle_poller_waits_longer_each_time_up_to_its_longest_and_at_its_pace_again_once_busy():
    from hub.local.queues import next_wait

    # Given a stream's poller: every 0.25 s, at most a second apart when idle
    pace = {"interval": 0.25, "longest": 1.0}
    waits, wait = [], 0.25
    # When its polls find nothing four times, then something
    for busy in (False, False, False, False, True):
        wait = next_wait(wait, busy=busy, **pace)
        waits.append(wait)
    # Then it waits twice as long each time up to a second, and its base interval once busy
    assert waits == [0.5, 1.0, 1.0, 1.0, 0.25]
    # And a poller without a longest wait (the drop folder, the scheduler) keeps its interval
    assert next_wait(0.25, interval=0.25, longest=0.25, busy=False) == 0.25


# ------------------------------------------------------------------ one reader for the mappings on a stream
def _shared(aws, runtimes: list[RecordingRuntime]) -> list[MappingPump]:
    from hub.local.streams import share_readers

    pumps = [_pump(aws, runtime) for runtime in runtimes]
    share_readers(pumps)
    for pump in pumps:
        pump.start_position()
    return pumps


def _emails(runtime: RecordingRuntime) -> list[str]:
    return [r["dynamodb"]["NewImage"]["email"]["S"] for batch in runtime.batches for r in batch]


def test_mappings_on_one_stream_read_it_once_and_each_gets_every_record(aws):
    # Given two mappings on the CRM table's stream sharing a reader (its reads counted)
    first, second = RecordingRuntime(), RecordingRuntime()
    pumps = _shared(aws, [first, second])
    reader = pumps[0].reader
    assert reader is not None and pumps[1].reader is reader
    reads: list[int] = []
    get_records = reader.streams.get_records

    def counted(**kwargs: Any) -> Any:
        answer = get_records(**kwargs)
        reads.append(len(answer.get("Records", [])))
        return answer

    reader.streams = type("Counted", (), {"get_records": staticmethod(counted),
                                          "exceptions": reader.streams.exceptions})()  # fmt: skip
    for n in range(5):
        _put(aws, n)

    # When both poll, then poll again with nothing new
    assert [pump.poll() for pump in pumps] == [5, 5]
    assert [pump.poll() for pump in pumps] == [0, 0]

    # Then the five records were read from the stream once for both, and each got every lead once, in order
    assert sum(reads) == 5
    assert _emails(first) == _emails(second) == [f"p{n}@example.com" for n in range(5)]


def test_a_mapping_that_falls_far_behind_reads_on_its_own_and_misses_nothing(aws, monkeypatch):
    from hub.local.streams import ShardReader

    monkeypatch.setattr(ShardReader, "MAX_PENDING_RECORDS", 3)
    # Given two mappings sharing a reader, the second not polling (its function busy) while leads keep coming
    busy, quick = RecordingRuntime(), RecordingRuntime()
    slow_pump, quick_pump = _shared(aws, [busy, quick])
    for n in range(8):
        _put(aws, n)
        quick_pump.poll()

    # Then the slow one was left to a reader of its own (the hub keeps no more than 3 records for it)
    assert slow_pump.reader is not quick_pump.reader
    assert len(_emails(quick)) == 8

    # When more leads come and both poll
    for n in range(8, 11):
        _put(aws, n)
    while slow_pump.poll() or quick_pump.poll():
        pass

    # Then each got every lead exactly once, in order
    expected = [f"p{n}@example.com" for n in range(11)]
    assert _emails(busy) == expected
    assert _emails(quick) == expected
