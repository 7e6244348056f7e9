# ruff: noqa: F811 - the leads_hub and events_api fixtures are imported from their tests
"""One rep registry: a rep.upserted event (POST /events) changes where the next lead is routed."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from tests.handlers.test_events_handler import ev, events_api  # noqa: F401 - the fixture
from tests.handlers.test_leads_webhook import lead_item, leads_hub, post  # noqa: F401 - the fixture


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"out_of_office": [{"start": "{today}", "end": "{tomorrow}"}]}, "out_of_office"),
        ({"capacity": 0}, "at_capacity"),
    ],
)
def test_rep_upserted_availability_and_capacity_steer_routing(
    leads_hub, events_api, lambda_context, change, why
):
    # Given Jonas (who takes the EMEA rule) is reported out of office today, or with no room for a lead
    today = datetime.now(UTC).date()
    data = json.loads(
        json.dumps({"id": "rep-jonas", "name": "Jonas Weber", "email": "jonas.weber@example.com", **change})
        .replace("{today}", today.isoformat())
        .replace("{tomorrow}", (today + timedelta(days=1)).isoformat())
    )
    status, _ = events_api(json.dumps(ev("rep.upserted", data, "evt-jonas-1")))
    assert status == 200
    # When a German lead arrives
    _, body, _ = post(lambda_context, {"email": "kunde@example.de", "country": "DE"})
    # Then the rule's rep is skipped for the reason his CRM record gives, and the fallback takes the lead
    item = lead_item(leads_hub, body["lead_id"])
    assert item["owner"] == "rep-queue"
    assert item["assignment"]["skipped"] == [{"rep": "rep-jonas", "why": why, "rule": "emea"}]
    assert item["assignment"]["owner_email"] == "inside.sales@example.com"
