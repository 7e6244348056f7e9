"""End to end: the local hub as a user runs it; a lead posted over HTTP reaches its owner's inbox."""

from __future__ import annotations

import json
import time
import urllib.request

import pytest

from hub.local.inspect import emails_to

pytestmark = pytest.mark.e2e


def _post(url: str, body: dict, headers: dict | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"content-type": "application/json", **(headers or {})})  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def test_local_hub_writes_its_endpoints(local_hub):
    for key in ("api_url", "aws_endpoint_url", "region", "bucket", "tables", "api_token", "drop_dir"):
        assert local_hub[key], key
    assert local_hub["api_url"].startswith("http://127.0.0.1:")
    assert set(local_hub["tables"]) >= {"CrmTable", "PosTable", "PlanTable", "IdempotencyTable"}


def test_a_posted_lead_emails_its_owner_within_5_seconds(local_hub, wait_for):
    # Given the running hub and an address nobody has used
    email = f"thin.path.{time.time_ns()}@example.com"

    # When a lead is posted over HTTP
    started = time.monotonic()
    status, body = _post(
        f"{local_hub['api_url']}/leads", {"email": email, "first_name": "Thin", "company": "Path Ltd"}
    )
    assert status == 202, body

    # Then the owner's alert, naming the lead, can be read back from the emulated SES within 5 s
    def alert():
        return [
            m
            for m in emails_to(local_hub["aws_endpoint_url"], _owner_email(local_hub, body["lead_id"]))
            if email in m["body"]
        ]

    found = wait_for(alert, timeout=5, what="the owner's email")
    elapsed = time.monotonic() - started
    assert elapsed < 5
    assert "Path Ltd" in found[0]["body"]


def _owner_email(local_hub: dict, lead_id: str) -> str:
    request = urllib.request.Request(f"{local_hub['api_url']}/leads/{lead_id}",
                                     headers={"authorization": f"Bearer {local_hub['api_token']}"})  # fmt: skip
    with urllib.request.urlopen(request, timeout=10) as answer:
        lead = json.loads(answer.read())
    reps = {"rep-demo": "demo.owner@example.com", "rep-maria": "maria.lopez@example.com", "rep-sam": "sam.carter@example.com",
            "rep-ana": "ana.souza@example.com", "rep-jonas": "jonas.weber@example.com", "rep-mei": "mei.chen@example.com",
            "rep-queue": "inside.sales@example.com"}  # fmt: skip
    return reps[lead["owner"]]


def test_read_routes_need_the_token(local_hub):
    request = urllib.request.Request(f"{local_hub['api_url']}/leads/nope")
    with pytest.raises(urllib.error.HTTPError) as denied:
        urllib.request.urlopen(request, timeout=10)
    assert denied.value.code == 401
