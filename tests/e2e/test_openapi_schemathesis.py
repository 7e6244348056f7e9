"""Property-based tests of the running local hub from docs/openapi.json (schemathesis).

Every operation of the document gets a bounded number of generated requests (``SCHEMATHESIS_EXAMPLES``,
default 25 each) against a local hub of its own (so its leads do not spend the shared hub's per-client
rate limit); every answer must not be a 5xx, must have a declared status code and content type, and must
match its declared schema. The read routes get the hub's bearer token. The counts are printed at the end
(``-s``) and written to ``$SCHEMATHESIS_REPORT`` when set.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from hub.openapi import OPENAPI_PATH
from tests.e2e.conftest import running_hub

pytestmark = pytest.mark.e2e

EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "25"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
TALLY: Counter[str] = Counter()


@pytest.fixture(scope="module")
def contract_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with running_hub(tmp_path_factory.mktemp("contract-hub")) as info:
        yield info
    report = {
        "examples": TALLY["examples"],
        "answers_5xx": TALLY["5xx"],
        "by_operation": {k.removeprefix("op:"): v for k, v in sorted(TALLY.items()) if k.startswith("op:")},
        "by_status": {
            k.removeprefix("status:"): v for k, v in sorted(TALLY.items()) if k.startswith("status:")
        },
    }
    print(f"\nschemathesis: {json.dumps(report)}")
    if os.environ.get("SCHEMATHESIS_REPORT"):
        with open(os.environ["SCHEMATHESIS_REPORT"], "w", encoding="utf-8") as out:
            json.dump(report, out, indent=2)


@pytest.fixture(scope="module")
def api_schema(contract_hub: dict[str, Any]) -> Any:
    schema = schemathesis.openapi.from_path(OPENAPI_PATH)
    schema.config.update(base_url=contract_hub["api_url"])
    return schema


def _operations() -> list[tuple[str, str]]:
    document = json.loads(OPENAPI_PATH.read_text(encoding="utf-8"))
    return [
        (method.upper(), path) for path, ops in sorted(document["paths"].items()) for method in sorted(ops)
    ]


@pytest.mark.parametrize(("method", "path"), _operations(), ids=[f"{m} {p}" for m, p in _operations()])
def test_every_answer_is_declared_and_none_is_a_5xx(
    method: str, path: str, api_schema: Any, contract_hub: dict[str, Any]
) -> None:
    operation = api_schema[path][method]
    headers = {}
    if operation.definition.raw.get("security"):
        headers["authorization"] = f"Bearer {contract_hub['api_token']}"
    cases = st.one_of(
        operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
        operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
    )

    @given(case=cases)
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
        database=None,
        phases=[Phase.explicit, Phase.generate],
    )
    def check(case: Any) -> None:
        response = case.call(headers=headers, timeout=30)
        TALLY["examples"] += 1
        TALLY[f"op:{method} {path}"] += 1
        TALLY[f"status:{response.status_code}"] += 1
        if response.status_code >= 500:
            TALLY["5xx"] += 1
        case.validate_response(response, checks=CHECKS, headers=headers)

    check()
