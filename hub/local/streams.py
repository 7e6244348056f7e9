"""The stream pump: DynamoDB stream records to the mapped functions, as Lambda delivers them.

Records are read through the real DynamoDB Streams API of the embedded AWS, filtered by the
template's filter patterns (records that match no pattern are dropped, as Lambda drops them),
and delivered in batches shaped like Lambda's. A failed batch is retried from the first
failed record (``ReportBatchItemFailures``), bisected when the template says so, and after
the template's retry limit the failure goes to the dead-letter queue, shaped like Lambda's
on-failure record, so one poison record fails alone.
"""

from __future__ import annotations

import base64
import json
import marshal
import threading
import time
import traceback
from datetime import datetime
from typing import Any

from hub.local.filters import FilterPattern, matches_any
from hub.local.runtime import FunctionRuntime
from hub.local.template import StreamMapping


def lambda_record(
    record: dict[str, Any], stream_arn: str, region: str, *, json_values: bool = False
) -> dict[str, Any]:
    """A DynamoDB Streams API record as it appears in a Lambda event (JSON-safe), a copy of its own for each
    mapping it is delivered to. ``json_values``: the record holds JSON's values only (DynamoDB Local's answer
    read as JSON, ``StreamRecordsReader``), copied whole at C speed (``marshal``: a seventh of the walk below,
    which was a seventh of the hub's CPU during a 10,000-row import); otherwise botocore's datetimes and
    bytes are turned into their JSON values on the way."""
    if json_values:
        out: dict[str, Any] = marshal.loads(marshal.dumps(record))  # noqa: S302 - bytes it has just written
        out["eventSourceARN"] = stream_arn
        out["awsRegion"] = region  # DynamoDB Local's records say "ddblocal"
        out.setdefault("eventSource", "aws:dynamodb")
        return out

    def plain(value: Any) -> Any:
        if isinstance(value, datetime):
            return int(value.timestamp())
        if isinstance(value, bytes | bytearray):
            return base64.b64encode(value).decode()
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, list | set):
            return [plain(v) for v in value]
        return value

    out = plain(record)
    out["eventSourceARN"] = stream_arn
    out["awsRegion"] = region  # DynamoDB Local's records say "ddblocal"
    out.setdefault("eventSource", "aws:dynamodb")
    return out  # type: ignore[no-any-return]


class ShardReader:
    """Reads a table's stream once for every mapping on it (Lambda's pollers read a shard for each mapping, but
    every read of DynamoDB Local's stream costs the engine and the hub the same CPU: three mappings on the CRM
    table read and parsed each record three times). Each mapping takes what was read since it last took, in
    order, so its filters, batch size, batching window, retries and dead letters stay its own; whichever mapping
    finds nothing left to take reads the next records for all (a mapping busy delivering holds up no other).

    A mapping that falls more than ``MAX_PENDING_RECORDS`` behind (MailChimp backing off during an import) goes on
    with a reader of its own from where this one is (an iterator may be used again), keeping what it has yet to
    take: the hub never holds more than that for it, and the others never wait for it."""

    MAX_PENDING_RECORDS = 2000

    def __init__(self, stream_arn: str, streams: Any) -> None:
        self.stream_arn = stream_arn
        self.streams = streams
        self.iterators: dict[str, str | None] = {}
        self.pending: dict[int, list[tuple[str, list[dict[str, Any]], bool]]] = {}
        self.pumps: dict[int, MappingPump] = {}
        self.started: set[int] = set()
        self.lock = threading.Lock()

    def join(self, pump: MappingPump) -> None:
        with self.lock:
            self.pending[id(pump)] = []
            self.pumps[id(pump)] = pump
            pump.reader = self

    def start_position(self, kind: str, pump: MappingPump) -> None:
        """Open every shard at TRIM_HORIZON or LATEST: once for the mappings that share this reader (again when
        a mapping starts again, as a pump polled by hand may)."""
        with self.lock:
            if self.iterators and id(pump) not in self.started:
                self.started.add(id(pump))
                return
            self.started = {id(pump)}
            self.iterators = {}
            self._open_shards(kind)

    def open_new_shards(self) -> None:
        """Shards that appeared since (a closed shard's children, as the engine rolls them over): from their start."""
        self._open_shards("TRIM_HORIZON")

    def _open_shards(self, kind: str) -> None:
        """An iterator of type ``kind`` for each of the stream's shards that has none yet."""
        for shard in self.streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]["Shards"]:
            if shard["ShardId"] not in self.iterators:
                self.iterators[shard["ShardId"]] = self.streams.get_shard_iterator(
                    StreamArn=self.stream_arn, ShardId=shard["ShardId"], ShardIteratorType=kind
                )["ShardIterator"]

    def take(self, pump: MappingPump) -> list[tuple[str, list[dict[str, Any]], bool]]:
        """What ``pump`` has not taken yet, per shard read: (shard id, records, whether the shard closed)."""
        with self.lock:
            mine = self.pending[id(pump)]
            if not mine:
                for read in self._read():
                    for queue in self.pending.values():
                        queue.append(read)
                self._detach_laggards()
            self.pending[id(pump)] = []
            return mine

    def _detach_laggards(self) -> None:
        for key, queue in list(self.pending.items()):
            if (
                len(self.pending) > 1
                and sum(len(records) for _, records, _ in queue) > self.MAX_PENDING_RECORDS
            ):
                own = ShardReader(self.stream_arn, self.streams)
                own.iterators = dict(self.iterators)
                own.pending[key], own.pumps[key], own.started = queue, self.pumps[key], {key}
                self.pumps.pop(key).reader = own
                del self.pending[key]
                self.started.discard(key)

    def _read(self) -> list[tuple[str, list[dict[str, Any]], bool]]:
        reads = []
        for shard_id, iterator in list(self.iterators.items()):
            if iterator is None:
                continue
            try:
                answer = self.streams.get_records(ShardIterator=iterator, Limit=1000)
            except self.streams.exceptions.TrimmedDataAccessException:
                # DynamoDB Local: an iterator taken while its shard was empty points before the shard's
                # first record once one comes (its sequence numbers are global). Nothing was read from
                # the shard then, so reading it from its start delivers each record once.
                iterator = self.streams.get_shard_iterator(
                    StreamArn=self.stream_arn, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON"
                )["ShardIterator"]
                answer = self.streams.get_records(ShardIterator=iterator, Limit=1000)
            self.iterators[shard_id] = answer.get("NextShardIterator")
            closed = self.iterators[shard_id] is None
            if closed:  # the shard closed: its children carry on
                self.open_new_shards()
            records = answer.get("Records", [])
            if records or closed:
                reads.append((shard_id, records, closed))
        return reads


def share_readers(pumps: list[MappingPump]) -> None:
    """One `ShardReader` for the mappings on the same stream from the same starting position (before
    ``start_position``)."""
    readers: dict[tuple[str, str], ShardReader] = {}
    for pump in pumps:
        key = (pump.stream_arn, pump.mapping.starting_position)
        if key not in readers:
            readers[key] = ShardReader(pump.stream_arn, pump.streams)
        readers[key].join(pump)


class MappingPump:
    """One event source mapping: one table's stream to one function."""

    def __init__(self, mapping: StreamMapping, stream_arn: str, streams: Any, sqs: Any, dlq_url: str | None,
                 runtime: FunctionRuntime, region: str, retry_delay: float = 0.05,
                 gather: bool = False) -> None:  # fmt: skip
        self.mapping = mapping
        self.stream_arn = stream_arn
        self.streams = streams
        self.sqs = sqs
        self.dlq_url = dlq_url
        self.runtime = runtime
        self.region = region
        self.retry_delay = retry_delay
        # The running hub gathers for the batching window; a pump polled by hand (tests) delivers each poll.
        self.batching_window = mapping.batching_window if gather else 0.0
        self.patterns = [FilterPattern.load(p) for p in mapping.filters]
        # The stream's records hold JSON's values only (``StreamRecordsReader.json_values``): copied as they are.
        self.json_values = bool(getattr(streams, "json_values", False))
        # What reads the stream: its own unless `ShardReader.join` made it share one with the other mappings.
        self.reader: ShardReader | None = None
        # Records read and wanted, gathered per shard until a batch is full or the mapping's batching window
        # (MaximumBatchingWindowInSeconds) has passed since the first of them, as Lambda gathers a batch.
        self.gathered: dict[str, list[dict[str, Any]]] = {}
        self.gathered_since: dict[str, float] = {}
        self.delivered = 0
        self.dead_lettered = 0

    def start_position(self, *, latest: bool = False) -> None:
        """Open every shard at the mapping's starting position (at the end with `latest`: after a replay)."""
        kind = "TRIM_HORIZON" if self.mapping.starting_position == "TRIM_HORIZON" and not latest else "LATEST"
        if self.reader is None:
            self.reader = ShardReader(self.stream_arn, self.streams)
            self.reader.join(self)
        self.reader.start_position(kind, self)

    def matches(self, record: dict[str, Any]) -> bool:
        """Whether Lambda would deliver ``record`` (a Streams API record, before ``lambda_record``: the
        filter reads the same fields, so only the records delivered are converted)."""
        if not self.patterns:
            return True
        created = record.get("dynamodb", {}).get("ApproximateCreationDateTime")
        shaped = {
            **record,
            "dynamodb": {**record.get("dynamodb", {}), "ApproximateCreationDateTime": int(created.timestamp())}
            if isinstance(created, datetime) else record.get("dynamodb", {}),
            "eventSourceARN": self.stream_arn, "awsRegion": self.region,
            "eventSource": record.get("eventSource", "aws:dynamodb"),
        }  # fmt: skip
        return matches_any(self.patterns, shaped)

    def poll(self) -> int:
        """Take what is new on every shard (read now unless another mapping on the stream already read it) and
        deliver it; returns how many records were taken."""
        if self.reader is None:
            return 0
        read = 0
        for shard_id, records, closed in self.reader.take(self):
            read += len(records)
            wanted = [
                lambda_record(r, self.stream_arn, self.region, json_values=self.json_values)
                for r in records
                if self.matches(r)
            ]
            if wanted:
                self.gathered.setdefault(shard_id, []).extend(wanted)
                self.gathered_since.setdefault(shard_id, time.monotonic())
            self._deliver_gathered(shard_id, closed=closed)
        for shard_id in list(self.gathered):  # a batching window that ran out with nothing new read
            self._deliver_gathered(shard_id)
        return read

    def _deliver_gathered(self, shard_id: str, *, closed: bool = False, now: bool = False) -> None:
        gathered = self.gathered.get(shard_id)
        if not gathered:
            return
        waited = time.monotonic() - self.gathered_since[shard_id]
        if not (now or closed or len(gathered) >= self.mapping.batch_size or waited >= self.batching_window):
            return
        del self.gathered[shard_id], self.gathered_since[shard_id]
        for start in range(0, len(gathered), self.mapping.batch_size):
            self.deliver(gathered[start : start + self.mapping.batch_size], shard_id)

    @property
    def holding(self) -> bool:
        """Records gathered and not yet delivered (its poller keeps its pace for the batching window)."""
        return bool(self.gathered)

    def flush(self) -> None:
        """Deliver what was gathered now (the hub is stopping: nothing read is left undelivered)."""
        for shard_id in list(self.gathered):
            self._deliver_gathered(shard_id, now=True)

    def deliver(self, batch: list[dict[str, Any]], shard_id: str) -> None:
        """Deliver one batch until every record succeeded or was dead-lettered."""
        attempts = 0
        while batch:
            failed_at = self._invoke(batch)
            if failed_at is None:
                self.delivered += len(batch)
                return
            self.delivered += failed_at
            batch = batch[failed_at:]
            if self.mapping.bisect and len(batch) > 1:
                half = len(batch) // 2
                self.deliver(batch[:half], shard_id)
                self.deliver(batch[half:], shard_id)
                return
            attempts += 1
            if self.mapping.max_retries >= 0 and attempts > self.mapping.max_retries:
                self.dead_letter(batch, shard_id, attempts)
                return
            time.sleep(self.retry_delay * attempts)

    def _invoke(self, batch: list[dict[str, Any]]) -> int | None:
        """Index of the first failed record, or None when the whole batch succeeded."""
        try:
            result = self.runtime.invoke(self.mapping.function, {"Records": batch})
        except Exception:
            traceback.print_exc()
            return 0
        if not self.mapping.report_failures or not isinstance(result, dict):
            return None
        failures = {f.get("itemIdentifier") for f in result.get("batchItemFailures") or []}
        if not failures:
            return None
        for index, record in enumerate(batch):
            if record["dynamodb"].get("SequenceNumber") in failures or "" in failures or None in failures:
                return index
        return 0

    def dead_letter(self, batch: list[dict[str, Any]], shard_id: str, attempts: int) -> None:
        """Lambda's on-failure record for a stream batch that exhausted its retries."""
        self.dead_lettered += len(batch)
        if not self.dlq_url:
            return
        sequence = [r["dynamodb"].get("SequenceNumber") for r in batch]
        message = {
            "requestContext": {
                "functionArn": f"arn:aws:lambda:{self.region}:123456789012:function:{self.mapping.function}",
                "condition": "RetryAttemptsExhausted",
                "approximateInvokeCount": attempts,
            },
            "responseContext": {"statusCode": 200, "functionError": "Unhandled"},
            "version": "1.0",
            "timestamp": datetime.now().astimezone().isoformat(),
            "DDBStreamBatchInfo": {
                "shardId": shard_id,
                "startSequenceNumber": sequence[0],
                "endSequenceNumber": sequence[-1],
                "batchSize": len(batch),
                "streamArn": self.stream_arn,
            },
            # Not in Lambda's record: the keys of what failed, so a local user need not
            # re-read the stream to see which items they were.
            "local": {"keys": [r["dynamodb"].get("Keys") for r in batch]},
        }
        self.sqs.send_message(QueueUrl=self.dlq_url, MessageBody=json.dumps(message))
