"""The local hub's tables on DynamoDB Local: one endpoint, streams read by the pump, kept across restarts,
never journalled; without Java or the package, moto's DynamoDB and one line saying so."""

from __future__ import annotations

import contextlib
import http.server
import json
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from hub.local import dynamodb_local
from hub.local.embedded_aws import EmbeddedAws
from hub.local.journal import Journal
from hub.local.resources import create_tables
from hub.local.server import LocalHub
from hub.local.streams import MappingPump
from hub.local.template import HubTemplate, StreamMapping


class Recorder:
    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    def invoke(self, logical_id: str, event: dict[str, Any]) -> Any:
        self.records.extend(event["Records"])
        return {"batchItemFailures": []}


def _client(service: str, url: str) -> Any:
    return boto3.client(
        service, endpoint_url=url, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x",
        config=Config(retries={"max_attempts": 1}),
    )  # fmt: skip


class Hub:
    """The embedded AWS in front of a DynamoDB Local keeping its tables in ``data``."""

    def __init__(self, data: Path) -> None:
        self.engine = dynamodb_local.DynamoDBLocalProcess(data / "dynamodb")
        self.kept = self.engine.kept_tables
        self.engine.launch()
        self.journal = Journal(data / "aws-journal.jsonl")
        self.aws = EmbeddedAws(0, journal=self.journal, dynamodb_port=self.engine.port)
        self.aws.start()
        self.engine.wait_ready()
        self.journal.start()

    def stop(self) -> None:
        self.journal.stop()
        self.aws.stop()
        self.engine.stop()


@pytest.fixture
def started(tmp_path: Path) -> Iterator[list[Hub]]:
    if (reason := dynamodb_local.unavailable()) is not None:
        pytest.skip(reason)
    hubs: list[Hub] = []
    yield hubs
    for hub in hubs:
        hub.stop()


def _hub_with_tables(tmp_path: Path, started: list[Hub]) -> tuple[Hub, HubTemplate]:
    """A hub on DynamoDB Local with the template's tables made (stopped by ``started``)."""
    hub = Hub(tmp_path)
    started.append(hub)
    template = HubTemplate()
    create_tables(template, _client("dynamodb", hub.aws.url))
    return hub, template


@pytest.mark.ddblocal
def test_tables_are_dynamodb_locals_streamed_kept_and_not_journalled(
    tmp_path: Path, started: list[Hub]
) -> None:
    # Given the embedded AWS in front of DynamoDB Local, with the template's tables
    hub = Hub(tmp_path)
    started.append(hub)
    assert not hub.kept
    template = HubTemplate()
    ddb = _client("dynamodb", hub.aws.url)
    create_tables(template, ddb)
    table = template.table_name("CrmTable")
    stream_arn = template.physical["CrmTable"]["StreamArn"]
    assert ":ddblocal:" in stream_arn  # DynamoDB Local's own stream, read through the hub's endpoint
    mapping = StreamMapping(
        function="AlertsFunction", table="CrmTable", batch_size=10, max_retries=0, bisect=False,
        report_failures=True, dead_letter=None, filters=[], starting_position="TRIM_HORIZON",
    )  # fmt: skip
    runtime = Recorder()
    pump = MappingPump(mapping, stream_arn, _client("dynamodbstreams", hub.aws.url), None, None, runtime,
                       "us-east-1", retry_delay=0)  # fmt: skip
    pump.start_position()
    other = template.table_name("PosTable")  # another table's writes take stream sequence numbers first
    ddb.put_item(TableName=other, Item={"pk": {"S": "P#1"}, "sk": {"S": "x"}})

    # When items are written through the hub's one endpoint, and S3 is used beside them
    for n in range(3):
        ddb.put_item(TableName=table, Item={"pk": {"S": f"LEAD#{n}"}, "sk": {"S": "LEAD"}})
    s3 = _client("s3", hub.aws.url)
    s3.create_bucket(Bucket="hub-test-bucket")
    s3.put_object(Bucket="hub-test-bucket", Key="k", Body=b"x")
    pump.poll()

    # Then the pump delivers each record once, and the journal keeps the S3 write only
    assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in runtime.records] == ["LEAD#0", "LEAD#1", "LEAD#2"]
    assert runtime.records[0]["eventSourceARN"] == stream_arn
    hub.journal.stop()
    lines = [json.loads(line) for line in hub.journal.path.read_text().splitlines()]
    assert len(lines) == 1 and "X-Amz-Target" not in lines[0]["headers"]

    # And a hub started again on the same data finds the table and its items
    hub.stop()
    started.remove(hub)
    again = Hub(tmp_path)
    started.append(again)
    assert again.kept
    template2 = HubTemplate()
    ddb2 = _client("dynamodb", again.aws.url)
    create_tables(template2, ddb2)  # the tables exist: kept, not created again
    assert ddb2.scan(TableName=table, Select="COUNT")["Count"] == 3


@pytest.mark.ddblocal
def test_journal_of_a_moto_hub_is_replayed_once_then_left_out(tmp_path: Path, started: list[Hub]) -> None:
    # Given a journal written by a hub on moto's DynamoDB (a DynamoDB write and an S3 write)
    moto_journal = Journal(tmp_path / "aws-journal.jsonl")
    moto_aws = EmbeddedAws(0, journal=moto_journal)
    moto_aws.start()
    template = HubTemplate()
    create_tables(template, _client("dynamodb", moto_aws.url))
    _client("s3", moto_aws.url).create_bucket(Bucket="hub-test-bucket")
    moto_journal.start()
    table = template.table_name("CrmTable")
    _client("dynamodb", moto_aws.url).put_item(
        TableName=table, Item={"pk": {"S": "LEAD#1"}, "sk": {"S": "L"}}
    )
    _client("s3", moto_aws.url).put_object(Bucket="hub-test-bucket", Key="k", Body=b"x")
    moto_journal.stop()
    moto_aws.stop()

    # When a hub on DynamoDB Local replays it into fresh tables, then drops its DynamoDB lines
    hub = Hub(tmp_path)
    started.append(hub)
    hub.journal.stop()
    create_tables(HubTemplate(), _client("dynamodb", hub.aws.url))
    _client("s3", hub.aws.url).create_bucket(Bucket="hub-test-bucket")
    assert hub.journal.replay(hub.aws.inner, dynamodb=not hub.kept) == 2
    assert hub.journal.drop_dynamodb() == 1

    # Then the item is in DynamoDB Local and the journal keeps only the S3 write
    assert _client("dynamodb", hub.aws.url).scan(TableName=table, Select="COUNT")["Count"] == 1
    assert len(hub.journal.path.read_text().splitlines()) == 1


@pytest.mark.parametrize("reason_env", [{"HUB_DYNAMODB": "moto"}, {"PATH": "/nonexistent"}])
def test_without_the_engine_the_hub_keeps_motos_dynamodb_and_says_so(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    reason_env: dict[str, str],
) -> None:
    # Given no Java on PATH (or moto chosen on purpose)
    for key, value in reason_env.items():
        monkeypatch.setenv(key, value)
    hub = LocalHub(home=tmp_path)
    # When the hub picks its DynamoDB
    engine = hub._start_dynamodb_local()
    # Then it is moto's, and one line says so and why
    assert engine is None
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and out[0].startswith("DynamoDB: moto's")


class _Engine(http.server.BaseHTTPRequestHandler):
    """Stands in for DynamoDB Local at the HTTP level: records each request's target (and whether it carried a
    credential) and answers with ``answers[operation]`` (status, body), 200 ``{}`` otherwise."""

    protocol_version = "HTTP/1.1"
    seen: list[tuple[str, bool]]
    answers: dict[str, tuple[int, bytes]]

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        operation = self.headers["X-Amz-Target"].rsplit(".", 1)[-1]
        self.seen.append((operation, "Credential=" in self.headers.get("Authorization", "")))
        status, body = self.answers.get(operation, (200, b"{}"))
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.0")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def fake_engine() -> Iterator[tuple[int, list[tuple[str, bool]], dict[str, tuple[int, bytes]]]]:
    seen: list[tuple[str, bool]] = []
    answers: dict[str, tuple[int, bytes]] = {}
    handler = type("Engine", (_Engine,), {"seen": seen, "answers": answers})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1], seen, answers
    server.shutdown()
    server.server_close()


CANCELLED = (400, b'{"__type":"com.amazonaws.dynamodb.v20120810#TransactionCanceledException",'
                  b'"Message":"Transaction cancelled","CancellationReasons":[{"Code":"ConditionalCheckFailed"}]}')  # fmt: skip


def _transaction(ddb: Any) -> None:
    put = {"TableName": "t", "Item": {"pk": {"S": "a"}}, "ConditionExpression": "attribute_not_exists(pk)"}
    ddb.transact_write_items(TransactItems=[{"Put": put}])


def test_in_process_clients_wait_for_the_engines_commit_after_each_transaction_they_had_applied(fake_engine):
    port, seen, answers = fake_engine
    # Given the barrier installed, as the hub does before its functions make their clients
    uninstall = dynamodb_local.CommitBarrier(dynamodb_local.EngineConnections(port)).install()
    try:
        ddb = _client("dynamodb", f"http://127.0.0.1:{port}")
        # When a client made after it sends a transaction, a put, and a transaction the engine refuses
        _transaction(ddb)
        ddb.put_item(TableName="t", Item={"pk": {"S": "b"}})
        answers["TransactWriteItems"] = CANCELLED
        with pytest.raises(ddb.exceptions.TransactionCanceledException):
            _transaction(ddb)
    finally:
        uninstall()
    # Then the applied transaction was answered only after the barrier (a ListTables with a credential the
    # engine accepts) had come back; the put and the refused transaction wrote nothing to wait for
    assert seen == [("TransactWriteItems", True), ("ListTables", True), ("PutItem", True),
                    ("TransactWriteItems", True)]  # fmt: skip

    # And once taken out, a client made afterwards sends no barrier
    seen.clear()
    answers.clear()
    _transaction(_client("dynamodb", f"http://127.0.0.1:{port}"))
    assert seen == [("TransactWriteItems", True)]


def test_a_transaction_whose_barrier_the_engine_refuses_is_not_reported_done(fake_engine):
    port, seen, answers = fake_engine
    answers["ListTables"] = (400, b'{"__type":"com.amazonaws.dynamodb.v20120810#MissingAuthenticationToken"}')
    uninstall = dynamodb_local.CommitBarrier(dynamodb_local.EngineConnections(port)).install()
    try:
        ddb = _client("dynamodb", f"http://127.0.0.1:{port}")
        # When the engine refuses the barrier, so the COMMIT may not have run yet
        with pytest.raises(RuntimeError, match="refused the commit barrier"):
            _transaction(ddb)
    finally:
        uninstall()
    # Then the caller heard an error, not success (it retries; the writes are idempotent)
    assert [operation for operation, _ in seen] == ["TransactWriteItems", "ListTables"]


@pytest.mark.ddblocal
def test_stream_records_are_indexed_by_shard_and_still_read_once(tmp_path: Path, started: list[Hub]) -> None:
    # Given the hub's engine with the template's tables, and a stream read from its start
    hub, template = _hub_with_tables(tmp_path, started)
    ddb = _client("dynamodb", hub.aws.url)
    mapping = StreamMapping(
        function="PlanRollupFunction", table="PlanTable", batch_size=10, max_retries=0, bisect=False,
        report_failures=True, dead_letter=None, filters=[], starting_position="TRIM_HORIZON",
    )  # fmt: skip
    runtime = Recorder()
    pump = MappingPump(mapping, template.physical["PlanTable"]["StreamArn"],
                       _client("dynamodbstreams", hub.aws.url), None, None, runtime, "us-east-1",
                       retry_delay=0)  # fmt: skip
    pump.start_position()
    # When the engine's stream records are indexed (twice: a hub started again on its kept tables)
    assert hub.engine.index_stream_records() and hub.engine.index_stream_records()
    # and other tables' records come between a stream's own
    for n in range(3):
        ddb.put_item(
            TableName=template.table_name("CrmTable"), Item={"pk": {"S": f"LEAD#{n}"}, "sk": {"S": "L"}}
        )
        ddb.put_item(
            TableName=template.table_name("PlanTable"), Item={"pk": {"S": f"P#{n}"}, "sk": {"S": "x"}}
        )
    pump.poll()
    pump.poll()
    # Then the index is in the engine's file and the stream's records are delivered once each, in order
    with contextlib.closing(sqlite3.connect(hub.engine.db_path)) as db:
        indexes = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE tbl_name = 'us'")}
    assert dynamodb_local.STREAM_RECORDS_INDEX in indexes
    assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in runtime.records] == ["P#0", "P#1", "P#2"]


@pytest.mark.ddblocal
def test_the_engines_file_in_wal_mode_keeps_every_answered_write_when_the_engine_is_killed(
    tmp_path: Path, started: list[Hub]
) -> None:
    # Given the hub's engine with the template's tables, its file put in write-ahead-log mode
    hub, template = _hub_with_tables(tmp_path, started)
    assert hub.engine.write_ahead_log()
    ddb = _client("dynamodb", hub.aws.url)
    table = template.table_name("CrmTable")
    # When transactions and single writes are answered through the hub's endpoint
    for n in range(3):
        ddb.transact_write_items(TransactItems=[
            {"Put": {"TableName": table, "Item": {"pk": {"S": f"LEAD#{n}"}, "sk": {"S": s}},
                     "ConditionExpression": "attribute_not_exists(pk)"}} for s in ("LEAD", "SUBMISSION#1")
        ])  # fmt: skip
        ddb.put_item(TableName=table, Item={"pk": {"S": f"EMAIL#{n}"}, "sk": {"S": "SUPPRESSION"}})
    # Then the engine wrote them to the log (its connection took the mode up), not through a rollback journal
    wal = hub.engine.db_path.with_name(hub.engine.db_path.name + "-wal")
    assert wal.is_file() and wal.stat().st_size > 0
    # And when the engine is killed at once (no shutdown, no checkpoint) and started again on its file
    assert hub.engine.process is not None
    hub.engine.process.kill()
    hub.engine.process.wait(timeout=10)
    hub.stop()
    started.remove(hub)
    again = Hub(tmp_path)
    started.append(again)
    # every write it answered is there, and the file is still in WAL mode
    ddb2 = _client("dynamodb", again.aws.url)
    assert ddb2.scan(TableName=table, Select="COUNT")["Count"] == 9
    with contextlib.closing(sqlite3.connect(again.engine.db_path)) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


@pytest.mark.ddblocal
def test_stream_records_read_as_the_engines_json_make_the_same_lambda_records_as_botocores(
    tmp_path: Path, started: list[Hub]
) -> None:
    from botocore.exceptions import ClientError

    from hub.local.streams import lambda_record

    # Given the engine with the template's tables, and a lead written, changed and removed (a binary, a
    # number, a list and a map in it)
    hub, template = _hub_with_tables(tmp_path, started)
    arn = template.physical["CrmTable"]["StreamArn"]
    botocores = _client("dynamodbstreams", hub.engine.endpoint)
    raw = dynamodb_local.StreamRecordsReader(botocores, dynamodb_local.EngineConnections(hub.engine.port))
    ddb, table = _client("dynamodb", hub.engine.endpoint), template.table_name("CrmTable")
    item = {"pk": {"S": "LEAD#1"}, "sk": {"S": "LEAD"}, "blob": {"B": b"\x00\xff"}, "n": {"N": "1.50"},
            "tags": {"L": [{"S": "a"}, {"M": {}}]}, "m": {"M": {"x": {"BOOL": True}, "none": {"M": {}}}},
            "empty": {"M": {}}, "nothing": {"L": []}}  # fmt: skip
    ddb.put_item(TableName=table, Item=item)
    ddb.put_item(TableName=table, Item={**item, "n": {"N": "2"}})
    ddb.delete_item(TableName=table, Key={"pk": item["pk"], "sk": item["sk"]})
    shard = botocores.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]

    def read(reader: Any) -> list[dict[str, Any]]:
        iterator = botocores.get_shard_iterator(
            StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
        )
        answer = reader.get_records(ShardIterator=iterator["ShardIterator"], Limit=1000)
        assert answer["NextShardIterator"]
        json_values = getattr(
            reader, "json_values", False
        )  # the pump's choice: the engine's JSON copied whole
        return [lambda_record(r, arn, "us-east-1", json_values=json_values) for r in answer["Records"]]

    # When the stream is read as the engine's JSON and through botocore
    # Then the pump makes the same Lambda records of both, but for empty maps, which the engine's JSON and
    # botocore's parse of it give untyped (``{}``) and the reader types as DynamoDB does
    records = read(raw)
    assert [r["eventName"] for r in records] == ["INSERT", "MODIFY", "REMOVE"]
    parsed = read(botocores)
    assert parsed[1]["dynamodb"]["OldImage"]["empty"] == {}
    for record in parsed:
        for image in ("NewImage", "OldImage"):
            dynamodb_local.typed_empty_maps(record["dynamodb"].get(image, {}))
    assert records == parsed
    assert records[0]["dynamodb"]["NewImage"]["blob"] == {"B": "AP8="}
    # empty maps keep their type at any depth, as DynamoDB's stream gives them (the engine's JSON drops it)
    image = records[1]["dynamodb"]["OldImage"]
    assert (image["empty"], image["nothing"]) == ({"M": {}}, {"L": []})
    assert image["tags"]["L"][1] == {"M": {}} and image["m"]["M"]["none"] == {"M": {}}
    # each mapping gets a copy of its own of a record read once: one function changing its event changes no other's
    iterator = botocores.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    once = raw.get_records(ShardIterator=iterator["ShardIterator"], Limit=1000)["Records"][0]
    first, second = (lambda_record(once, arn, "us-east-1", json_values=True) for _ in range(2))
    first["dynamodb"]["NewImage"]["m"]["M"]["x"]["BOOL"] = False
    assert (
        second["dynamodb"]["NewImage"]["m"]["M"]["x"]
        == once["dynamodb"]["NewImage"]["m"]["M"]["x"]
        == {"BOOL": True}
    )
    # And an error answer raises what botocore raises
    with pytest.raises(ClientError) as refused:
        raw.get_records(ShardIterator="not-an-iterator")
    with pytest.raises(ClientError) as botocore_refused:
        botocores.get_records(ShardIterator="not-an-iterator")
    assert type(refused.value) is type(botocore_refused.value)
    assert refused.value.response["Error"]["Code"] == botocore_refused.value.response["Error"]["Code"]
