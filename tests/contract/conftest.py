"""The store contract suite: the same tests against every backend a store runs on.

``store_backend`` is parametrised over

- ``memory``: the stores' in-memory implementations (what unit tests hand to logic);
- ``moto``: the DynamoDB implementations under moto's ``mock_aws`` (the embedded default);
- ``ddblocal``: the DynamoDB implementations against DynamoDB Local, AWS's own engine, started
  once per session on a free loopback port (``tests/ddb_local``) and stopped at the end.

All three must behave alike where the contract says so: conditional writes, transactions under
contention, item size limits, reserved words and pagination. The ``ddblocal`` cases carry the
``ddblocal`` mark (``make test-fast`` leaves them out); on a machine without Java or npm they are
left out (deselected) with one line at the end saying what is missing and how to get it.

The DynamoDB stores reach DynamoDB Local through ``AWS_ENDPOINT_URL_DYNAMODB`` (botocore's
service endpoint setting; table names stay the template's), with pynamodb's cached connections
and ``shared.aws``'s cached clients dropped before and after, so no client built for one backend
is used for another.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from hub.local.resources import create_tables
from hub.local.template import HubTemplate
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
def ddblocal_template(dynamodb_local: ddb_local.DynamoDBLocal) -> HubTemplate:
    """The template's tables, created once per session in DynamoDB Local."""
    ddb = dynamodb_local.client()
    for name in ddb.list_tables()["TableNames"]:  # an engine reused through DDB_LOCAL_ENDPOINT
        ddb.delete_table(TableName=name)
    template = HubTemplate()
    create_tables(template, ddb)
    return template


def _empty_tables(ddb: Any, template: HubTemplate) -> None:
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
    dynamodb_local: ddb_local.DynamoDBLocal, ddblocal_template: HubTemplate, monkeypatch: pytest.MonkeyPatch
) -> Iterator[HubTemplate]:
    """The template's tables, empty, in DynamoDB Local, and every DynamoDB client pointed there."""
    _empty_tables(dynamodb_local.client(), ddblocal_template)
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", dynamodb_local.endpoint)
    forget_connections()
    yield ddblocal_template
    monkeypatch.delenv("AWS_ENDPOINT_URL_DYNAMODB")
    forget_connections()


@dataclass
class StoreBackend:
    """One backend of the contract suite: ``store("crm")`` gives that table's store on it."""

    name: str
    template: HubTemplate | None = None
    client: Callable[[], Any] | None = None
    _stores: dict[str, Any] = field(default_factory=dict)

    @property
    def is_dynamo(self) -> bool:
        return self.name != "memory"

    def store(self, table: str, **kwargs: Any) -> Any:
        """The store of ``shared.store.<table>`` for this backend (in-memory or DynamoDB)."""
        module = importlib.import_module(f"shared.store.{table}")
        prefix = "Dynamo" if self.is_dynamo else "InMemory"
        found = [
            obj
            for name, obj in vars(module).items()
            if isinstance(obj, type)
            and name.startswith(prefix)
            and name.endswith("Store")
            and obj.__module__ == module.__name__
        ]
        if len(found) != 1:
            raise LookupError(f"shared.store.{table} has {len(found)} {prefix}*Store classes: {found}")
        return found[0](**kwargs)

    def dynamodb(self) -> Any:
        """A low-level client on this backend's DynamoDB (to look at what a store wrote)."""
        if self.client is None:
            raise LookupError("the in-memory backend has no DynamoDB")
        return self.client()


def _backend(request: pytest.FixtureRequest, name: str) -> StoreBackend:
    if name == "memory":
        return StoreBackend(name)
    if name == "moto":
        import boto3

        template = request.getfixturevalue("aws")
        forget_connections()
        request.addfinalizer(forget_connections)
        return StoreBackend(name, template, lambda: boto3.client("dynamodb", region_name="us-east-1"))
    engine: ddb_local.DynamoDBLocal = request.getfixturevalue("dynamodb_local")
    template = request.getfixturevalue("ddblocal_tables")
    return StoreBackend(name, template, engine.client)


@pytest.fixture(params=BACKENDS)
def store_backend(request: pytest.FixtureRequest) -> StoreBackend:
    """memory | moto | ddblocal: where the stores under test keep their items."""
    return _backend(request, request.param)


@pytest.fixture(params=DYNAMO_BACKENDS)
def dynamo_backend(request: pytest.FixtureRequest) -> StoreBackend:
    """moto | ddblocal: for what only a DynamoDB engine has (error translation, raw items)."""
    return _backend(request, request.param)
