"""Path parameters decoded as API Gateway decodes them: ids with reserved characters round-trip (issue 15)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import boto3
import pytest

from shared.signing import sign
from tests.helpers import http_event

SOURCE = "crm-paths"
SECRET = "whsec_paths_secret"
IDS = ["OPP/SLASH", "opp@example", "opp:2026:1", "a/b@c:d+e=f"]


@pytest.fixture
def post_events(aws: Any, lambda_context: Any):
    from crm_events import app

    app.events_context.cache_clear()
    boto3.client("ssm", region_name="us-east-1").put_parameter(
        Name=f"/crm-hub/sources/{SOURCE}", Value=json.dumps([SECRET]), Type="SecureString", Overwrite=True
    )

    def post(*events: dict[str, Any]) -> int:
        raw = json.dumps({"events": list(events)}).encode()
        headers = {"X-Hub-Signature": sign(raw, SECRET, int(time.time())), "X-Hub-Source": SOURCE}
        return int(app.handler(http_event("POST", "/events", raw, headers), lambda_context)["statusCode"])

    yield post
    app.events_context.cache_clear()


def opportunity(opportunity_id: str, n: int) -> dict[str, Any]:
    return {
        "event_id": f"e-{n}",
        "type": "opportunity.upserted",
        "occurred_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "source": SOURCE,
        "data": {"id": opportunity_id, "account_id": "acc-1", "name": "Deal", "stage": "Qualifying Needs"},
    }


def test_ids_with_reserved_characters_round_trip_through_the_reports_api(post_events, lambda_context):
    from reports_api.app import handler

    assert post_events(*(opportunity(i, n) for n, i in enumerate(IDS))) == 200
    for opportunity_id in IDS:
        # When read back with the id percent-encoded in the path, as a client must send it
        event = http_event("GET", f"/opportunities/{quote(opportunity_id, safe='')}", authorized=True)
        # Then API Gateway's decoded parameter reaches the function, which finds the opportunity
        assert event["pathParameters"] == {"opportunity_id": opportunity_id}
        result = handler(event, lambda_context)
        assert result["statusCode"] == 200, (opportunity_id, result["body"])
        assert json.loads(result["body"])["opportunity_id"] == opportunity_id


def test_percent_encoded_safe_characters_are_decoded_too(post_events, lambda_context):
    from reports_api.app import handler

    post_events(opportunity("opp@example", 1))
    result = handler(http_event("GET", "/opportunities/opp%40example", authorized=True), lambda_context)
    assert result["statusCode"] == 200
    missing = handler(http_event("GET", "/opportunities/OPP%2FNOPE", authorized=True), lambda_context)
    assert missing["statusCode"] == 404
