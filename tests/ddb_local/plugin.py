"""pytest plugin (registered by ``tests/conftest.py``): DynamoDB Local and moto as store backends.

- ``dynamodb_local`` (session): the engine, started on a free loopback port, stopped at the end;
  ``ddblocal_tables``: the template's tables in it, emptied for each test, with every DynamoDB
  client of the process pointed there (``AWS_ENDPOINT_URL_DYNAMODB``, botocore's service endpoint
  setting; table names stay the template's) and pointed back afterwards;
- ``moto_tables``: the template's tables only, in moto's ``mock_aws``, with moto's requests applied
  one at a time (DynamoDB applies each request atomically; moto's in-process backends do not lock);
- ``BACKENDS`` / ``DYNAMO_BACKENDS``: fixture params for a store test; the ``ddblocal`` case carries
  the ``ddblocal`` mark (``make test-fast`` leaves it out).

Without Java or the installed package, the ``ddblocal`` cases are left out at collection and one
line at the end of the run says what is missing and how to get it. pynamodb's per-model connections
and ``shared.aws``'s clients are dropped whenever the backend changes, so no client built for one
backend talks to another.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from tests import ddb_local

BACKENDS = ["memory", "moto", pytest.param("ddblocal", marks=pytest.mark.ddblocal)]
DYNAMO_BACKENDS = ["moto", pytest.param("ddblocal", marks=pytest.mark.ddblocal)]

_ENGINE_KEY = pytest.StashKey[ddb_local.DynamoDBLocal]()
_LEFT_OUT_KEY = pytest.StashKey[str]()


def forget_connections() -> None:
    """Drop every cached DynamoDB client: pynamodb's per-model connections and ``shared.aws``'s."""
    from pynamodb.models import Model

    from shared.aws import reset_clients

    pending: list[type[Any]] = list(Model.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        cls._connection = None
    reset_clients()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Without Java or DynamoDB Local, leave the tier out and say why once, at the end."""
    tier = [item for item in items if item.get_closest_marker("ddblocal")]
    if not tier:
        return
    reason = ddb_local.unavailable()
    if reason is None:
        return
    config.stash[_LEFT_OUT_KEY] = f"{reason} ({len(tier)} tests not run)"
    config.hook.pytest_deselected(items=tier)
    items[:] = [item for item in items if not item.get_closest_marker("ddblocal")]


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    left_out = config.stash.get(_LEFT_OUT_KEY, None)
    if left_out is not None:
        terminalreporter.write_line(left_out, yellow=True)
    engine = config.stash.get(_ENGINE_KEY, None)
    if engine is not None and engine.process is not None:
        terminalreporter.write_line(
            f"DynamoDB Local answered {engine.started_in_seconds:.1f} s after launch ({engine.endpoint})"
        )


@pytest.fixture(scope="session")
def dynamodb_local(request: pytest.FixtureRequest) -> Iterator[ddb_local.DynamoDBLocal]:
    """DynamoDB Local for the session: started on a free loopback port, stopped at the end."""
    reason = ddb_local.unavailable()
    if reason is not None:  # collection normally leaves these tests out already
        pytest.skip(reason)
    engine = ddb_local.start()
    request.config.stash[_ENGINE_KEY] = engine
    try:
        yield engine
    finally:
        engine.stop()


@pytest.fixture(scope="session")
def ddblocal_template(dynamodb_local: ddb_local.DynamoDBLocal) -> Any:
    """The template's tables, created once per session in DynamoDB Local."""
    from hub.local.resources import create_tables
    from tests.template import template as read_template

    ddb = dynamodb_local.client()
    for name in ddb.list_tables()["TableNames"]:  # an engine reused through DDB_LOCAL_ENDPOINT
        ddb.delete_table(TableName=name)
    template = read_template()
    # TTL off: DynamoDB Local deletes expired items within seconds (DynamoDB within days), and the
    # tests write items dated in the past (a rate window of 2026-11-22 would vanish mid-test).
    create_tables(template, ddb, ttl=False)
    return template


def _empty_tables(ddb: Any, template: Any) -> None:
    """Delete every item (cheaper than dropping and creating the tables for each test)."""
    for args in template.table_definitions().values():
        table = args["TableName"]
        keys = [k["AttributeName"] for k in args["KeySchema"]]
        names = {f"#k{i}": key for i, key in enumerate(keys)}
        for page in ddb.get_paginator("scan").paginate(
            TableName=table, ProjectionExpression=", ".join(names), ExpressionAttributeNames=names
        ):
            for item in page["Items"]:
                ddb.delete_item(TableName=table, Key={k: item[k] for k in keys})


@pytest.fixture
def ddblocal_tables(
    dynamodb_local: ddb_local.DynamoDBLocal, ddblocal_template: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Any]:
    """The template's tables, empty, in DynamoDB Local, and every DynamoDB client pointed there."""
    _empty_tables(dynamodb_local.client(), ddblocal_template)
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", dynamodb_local.endpoint)
    forget_connections()
    yield ddblocal_template
    monkeypatch.delenv("AWS_ENDPOINT_URL_DYNAMODB")
    forget_connections()


def _moto_one_request_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """DynamoDB applies each request atomically; moto's in-process backends do not lock, so racing
    threads could corrupt its tables ("dictionary changed size during iteration") or both pass one
    condition. Apply moto's requests one at a time, as the local hub's embedded AWS does
    (``hub/local/embedded_aws.py``): the emulator made atomic, the stores untouched."""
    from moto.core.botocore_stubber import BotocoreStubber

    lock = threading.Lock()
    process_request = BotocoreStubber.process_request

    def one_at_a_time(self: BotocoreStubber, aws_request: Any) -> Any:
        with lock:
            return process_request(self, aws_request)

    monkeypatch.setattr(BotocoreStubber, "process_request", one_at_a_time)
    _moto_copies_each_table_once_a_transaction(monkeypatch)


class _OneCopyOfEachTable:
    """``copy`` as moto's DynamoDB backend module sees it while a TransactWriteItems runs.

    moto keeps a table's state to roll a failed transaction back with, but deep-copies the table once
    for each of the transaction's items (up to 100), all before the first item is applied: identical
    copies, of which it keeps the last. Here the first copy of a table serves the others: the same
    rollback state, at one copy a table (a transaction of 100 items over a table of a few thousand items
    took seconds). Every other deep copy (an item's, for its condition) is moto's own."""

    def __init__(self) -> None:
        self.copies: dict[int, Any] | None = None

    def deepcopy(self, value: Any, memo: dict[int, Any] | None = None) -> Any:
        from moto.dynamodb.models.table import Table

        if self.copies is None or not isinstance(value, Table):
            return copy.deepcopy(value, memo)
        if id(value) not in self.copies:
            self.copies[id(value)] = copy.deepcopy(value)
        return self.copies[id(value)]


def _moto_copies_each_table_once_a_transaction(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto's TransactWriteItems with one rollback copy of each table, not one for each item (above)."""
    from moto.dynamodb import models

    if getattr(models, "copy", None) is not copy:  # moto no longer copies that way: nothing to change
        return
    shim = _OneCopyOfEachTable()
    transact_write_items = models.DynamoDBBackend.transact_write_items

    def with_one_copy_a_table(self: Any, transact_items: list[dict[str, Any]]) -> None:
        shim.copies = {}
        try:
            transact_write_items(self, transact_items)
        finally:
            shim.copies = None

    monkeypatch.setattr(models, "copy", shim)
    monkeypatch.setattr(models.DynamoDBBackend, "transact_write_items", with_one_copy_a_table)


@pytest.fixture
def moto_tables(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The template's tables (only those: the stores need no bucket or queue) in moto's ``mock_aws``."""
    import boto3
    from moto import mock_aws

    from hub.local.resources import create_tables
    from tests.template import template as read_template

    _moto_one_request_at_a_time(monkeypatch)
    with mock_aws():
        forget_connections()
        template = read_template()
        create_tables(template, boto3.client("dynamodb", region_name="us-east-1"))
        yield template
    forget_connections()
