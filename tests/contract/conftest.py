"""The store contract suite: the same tests against every backend a store runs on.

``store_backend`` is parametrised over

- ``memory``: the stores' in-memory implementations (what unit tests hand to logic);
- ``moto``: the DynamoDB implementations under moto's ``mock_aws`` (the embedded default);
- ``ddblocal``: the DynamoDB implementations against DynamoDB Local, AWS's own engine, started
  once per session on a free loopback port (``tests/ddb_local``) and stopped at the end.

All three must behave alike where the contract says so: conditional writes, transactions under
contention, item size limits, reserved words and pagination. The engines and their tables come from
the ``tests.ddb_local.plugin`` fixtures (``moto_tables``, ``ddblocal_tables``); the ``ddblocal``
cases carry the ``ddblocal`` mark (``make test-fast`` leaves them out), and on a machine without
Java or npm they are left out with one line at the end saying what is missing and how to get it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from hub.local.template import HubTemplate
from tests import ddb_local
from tests.ddb_local.plugin import BACKENDS, DYNAMO_BACKENDS


@dataclass
class StoreBackend:
    """One backend of the contract suite: ``store("crm")`` gives that table's store on it."""

    name: str
    template: HubTemplate | None = None
    client: Callable[[], Any] | None = None

    @property
    def is_dynamo(self) -> bool:
        return self.name != "memory"

    def store(self, table: str, kind: str = "", **kwargs: Any) -> Any:
        """The store of ``shared.store.<table>`` for this backend (in-memory or DynamoDB).

        ``kind`` names the store where a table's module has more than one (``plan``: ``Plan`` and
        ``Rollup``); by default the one named after the table.
        """
        module = importlib.import_module(f"shared.store.{table}")
        prefix = "Dynamo" if self.is_dynamo else "InMemory"
        name = f"{prefix}{kind or table.capitalize()}Store"
        cls = getattr(module, name, None)
        if not isinstance(cls, type):
            raise LookupError(f"shared.store.{table} has no {name}")
        return cls(**kwargs)

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

        template = request.getfixturevalue("moto_tables")
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
