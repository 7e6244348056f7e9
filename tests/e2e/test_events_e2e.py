"""End to end: a signed batch posted with curl to the local hub, then a stage change in the opportunity's history."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from shared.signing import sign

pytestmark = pytest.mark.e2e


def _curl_signed(local_hub: dict, body: bytes, tmp_path: Path) -> tuple[int, dict]:
    """POST a body as the README shows: the body in a file, its signature in a header, with curl."""
    path = tmp_path / f"batch-{time.time_ns()}.json"
    path.write_bytes(body)
    signature = sign(body, local_hub["events_secret"], int(time.time()))
    if shutil.which("curl") is None:  # the same request without curl
        request = urllib.request.Request(f"{local_hub['api_url']}/events", data=body, method="POST", headers={
            "content-type": "application/json", "X-Hub-Signature": signature,
            "X-Hub-Source": local_hub["events_source"]})  # fmt: skip
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    out = subprocess.run(
        ["curl", "-sS", "-w", "\n%{http_code}", "-X", "POST", f"{local_hub['api_url']}/events",
         "-H", "content-type: application/json", "-H", f"X-Hub-Signature: {signature}",
         "-H", f"X-Hub-Source: {local_hub['events_source']}", "--data-binary", f"@{path}"],
        capture_output=True, check=True, timeout=30,
    )  # fmt: skip
    text, _, code = out.stdout.decode().rpartition("\n")
    return int(code), json.loads(text)


def _event(local_hub: dict, type_: str, data: dict, event_id: str, ago_s: int) -> dict:
    when = (datetime.now(UTC) - timedelta(seconds=ago_s)).isoformat().replace("+00:00", "Z")
    return {
        "event_id": event_id,
        "type": type_,
        "occurred_at": when,
        "source": local_hub["events_source"],
        "data": data,
    }


def test_a_signed_batch_then_a_stage_change_shows_in_the_stage_history(local_hub, tmp_path):
    run = time.time_ns()
    opp = {"id": f"opp-{run}", "account_id": f"acc-{run}", "name": "E2E deal", "owner": "rep-sam"}
    # Given a signed batch creating a territory, an account and an opportunity
    batch = {"events": [
        _event(local_hub, "territory.upserted", {"id": f"T-{run}", "name": "E2E", "parent_id": "T-AMER"}, f"{run}-1", 60),
        _event(local_hub, "account.upserted", {"id": f"acc-{run}", "name": "E2E Inc", "territory_id": f"T-{run}"},
               f"{run}-2", 60),
        _event(local_hub, "opportunity.upserted", {**opp, "stage": "Qualifying Needs"}, f"{run}-3", 60),
    ]}  # fmt: skip
    status, answer = _curl_signed(local_hub, json.dumps(batch).encode(), tmp_path)
    assert status == 200, answer
    assert answer["accepted"] == 3
    # When the opportunity moves on
    change = {
        "events": [
            _event(local_hub, "opportunity.upserted", {**opp, "stage": "Sales Presentation"}, f"{run}-4", 0)
        ]
    }
    status, answer = _curl_signed(local_hub, json.dumps(change).encode(), tmp_path)
    assert status == 200 and answer["results"][0]["outcome"] == "applied", answer
    # Then the opportunity's read route shows the change in its stage history
    request = urllib.request.Request(f"{local_hub['api_url']}/opportunities/{opp['id']}",
                                     headers={"authorization": f"Bearer {local_hub['api_token']}"})  # fmt: skip
    with urllib.request.urlopen(request, timeout=10) as response:
        view = json.loads(response.read())
    assert view["stage"] == "Sales Presentation"
    assert [(c["from_stage"], c["to_stage"]) for c in view["stage_history"]] == [
        (None, "Qualifying Needs"),
        ("Qualifying Needs", "Sales Presentation"),
    ]


def test_an_unsigned_post_is_401(local_hub):
    request = urllib.request.Request(f"{local_hub['api_url']}/events", data=b'{"events": []}', method="POST",
                                     headers={"content-type": "application/json"})  # fmt: skip
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(request, timeout=10)
    assert error.value.code == 401
