"""Test fixtures shared by every tier.

The environment is set here, before any hub module is imported: fake credentials, the
region, and every function's environment variables as the template resolves them (pynamodb
fixes table names at class definition). The ``aws`` fixture starts moto's ``mock_aws`` and
creates the template's tables, bucket, queues and sending identity in it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

# Property tests assert properties, not speed: on a loaded 2-core machine a slow draw or example (a GC
# pause, another tier's engine) failed Hypothesis' timing checks (too_slow: "only generated 2 valid
# inputs after 1.33 seconds"), so no test relies on them.
settings.register_profile("hub", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("hub")

ROOT = Path(__file__).resolve().parents[1]
# DynamoDB Local and moto as store backends (fixtures, and the one line when Java or npm is missing).
pytest_plugins = ["tests.ddb_local.plugin"]

os.environ.pop("AWS_ENDPOINT_URL", None)
os.environ.pop("AWS_PROFILE", None)
TEST_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_SERVICE_NAME": "tests",
    "POWERTOOLS_METRICS_NAMESPACE": "CrmHubTests",
    "POWERTOOLS_DEV": "false",
    "HUB_CONFIG_DIR": str(ROOT / "config"),
}

from hub.local.resources import hub_environment  # noqa: E402
from hub.local.template import HubTemplate  # noqa: E402
from tests import template as read_once  # noqa: E402

# Every function's environment as the template resolves it, then what tests run with on top.
os.environ.update(hub_environment(read_once.template()))
os.environ.update(TEST_ENVIRONMENT)


@pytest.fixture(scope="session", autouse=True)
def botocore_models_read_once() -> Iterator[None]:
    """botocore's JSON data files (service models, endpoints) parsed once for the test process.

    Each botocore session reads and parses them again, and moto's ``mock_aws`` starts each test with a
    new default session (as ``shared.aws.client`` does a session a service after ``reset_clients``):
    about a fifth of a handler test's time went to ``json.loads`` of the same files. Within one session
    botocore already hands every client the one parsed copy; here sessions share it too. Nothing else of
    botocore changes."""
    from botocore.loaders import JSONFileLoader

    parsed: dict[str, Any] = {}
    load_file = JSONFileLoader.load_file

    def load_once(self: JSONFileLoader, file_path: str) -> Any:
        if file_path not in parsed:
            data = load_file(self, file_path)
            if data is None:  # not there: asked again, as botocore would
                return None
            parsed[file_path] = data
        return parsed[file_path]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(JSONFileLoader, "load_file", load_once)
        yield


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[HubTemplate]:
    """moto's in-process AWS with the template's resources created in it, one request at a time (the
    functions' worker threads, a trade-show import's, would race its unlocked backends)."""
    import boto3
    from aws_lambda_powertools.utilities.parameters import clear_caches
    from moto import mock_aws

    from hub.local.resources import create_resources
    from shared.aws import reset_clients
    from shared.config_store import clear_cache
    from shared.idempotency import persistence_layer
    from tests.ddb_local.plugin import _moto_one_request_at_a_time

    _moto_one_request_at_a_time(monkeypatch)
    with mock_aws():
        reset_clients()
        persistence_layer.cache_clear()
        clear_cache()
        clear_caches()  # powertools' parameters and secrets (the link key): each test's AWS is new
        template = read_once.template()
        create_resources(template, lambda service: boto3.client(service, region_name="us-east-1"))
        yield template
    reset_clients()
    persistence_layer.cache_clear()


@pytest.fixture
def lambda_context() -> Any:
    from hub.local.runtime import LocalContext

    return LocalContext(function_name="test-function", timeout_seconds=30)


@pytest.fixture
def demo_data(aws: HubTemplate) -> dict[str, int]:
    """The demo territories, reps and accounts the local hub loads (the alert sweeps' demo: ``alert_demo``)."""
    from hub.local.demo import load_demo

    return load_demo(alert_demo=False)


@pytest.fixture
def alert_demo_data(aws: HubTemplate) -> dict[str, int]:
    """The whole demo set the local hub loads, with what the alert sweeps find on a fresh hub."""
    from hub.local.demo import load_demo

    return load_demo()


def http_event(method: str, path: str, body: bytes | str = b"", headers: dict[str, str] | None = None,
               source_ip: str = "203.0.113.7", authorized: bool = False) -> dict[str, Any]:  # fmt: skip
    """An API Gateway HTTP API v2 event for the route the template maps ``method path`` to."""
    from hub.local.api import build_event

    raw = body.encode() if isinstance(body, str) else body
    all_headers = {"content-type": "application/json", **{k.lower(): v for k, v in (headers or {}).items()}}
    all_headers["content-length"] = str(len(raw))
    split_path = path.split("?", 1)[0]
    for route in read_once.routes():
        params = route.matches(method, split_path)
        if params is not None:
            authorizer = {"jwt": {"claims": {"sub": "tester"}, "scopes": None}} if authorized else None
            return build_event(method, path, all_headers, raw, route, params, source_ip, authorizer)
    raise LookupError(f"the template routes no {method} {path}")
