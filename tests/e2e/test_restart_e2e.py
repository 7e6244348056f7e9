"""The local hub keeps its data: stopped (Ctrl-C) or killed, then started again on the same home.

What it kept lives in ``<home>/.hub/data`` (the embedded AWS's journal and the outbox, see
``hub.local.journal``); ``hub local --fresh`` starts empty.
"""

from __future__ import annotations

import json
import os
import signal
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from hub.local.inspect import emails_to
from shared.signing import sign
from tests.e2e.conftest import ROOT, running_hub

pytestmark = pytest.mark.e2e
JONAS = "jonas.weber@example.com"


def _call(
    hub: dict[str, Any], path: str, body: bytes | None = None, headers: dict | None = None
) -> tuple[int, Any]:
    request = urllib.request.Request(
        f"{hub['api_url']}{path}", data=body, method="POST" if body is not None else "GET",
        headers={"authorization": f"Bearer {hub['api_token']}", **(headers or {})},
    )  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=20) as answer:
            return answer.status, json.loads(answer.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def _post_lead(hub: dict[str, Any], email: str) -> str:
    body = json.dumps({"email": email, "first_name": "Kept", "country": "DE"}).encode()
    status, answer = _call(hub, "/leads", body, {"content-type": "application/json"})
    assert status == 202, answer
    return str(answer["lead_id"])


def _post_events(hub: dict[str, Any]) -> None:
    batch = json.loads((ROOT / "demo" / "events.json").read_text(encoding="utf-8"))
    for event in batch["events"]:
        event["source"] = hub["events_source"]
    body = json.dumps(batch).encode()
    signature = sign(body, hub["events_secret"], int(time.time()))
    status, answer = _call(
        hub, "/events", body, {"content-type": "application/json", "X-Hub-Signature": signature}
    )
    assert status == 200 and answer["accepted"] == len(batch["events"]), answer


def _drop_pos_file(hub: dict[str, Any], key: str) -> None:
    path = Path(hub["drop_dir"]) / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "invoice_date,invoice_number,part_number,quantity,unit_price,extended_amount,currency,end_customer\n"
        "2026-10-02,INV-1,BC847,10,1.25,12.50,USD,Acme Robotics\n",
        encoding="utf-8",
    )


def _run(hub: dict[str, Any], key: str) -> Any:
    status, answer = _call(hub, f"/pos/runs?key={urllib.parse.quote(key)}")
    return answer if status == 200 and answer.get("status") == "done" else None


@pytest.mark.timeout(1200)  # four starts of the hub, on a machine that may be busy
def test_leads_events_a_pos_run_and_the_outbox_survive_a_restart_and_a_kill(tmp_path, wait_for):
    home = tmp_path / "home"
    home.mkdir()
    email, killed_email = f"kept.{time.time_ns()}@example.com", f"killed.{time.time_ns()}@example.com"
    key = "pos/restart-dist/kept.csv"

    # Given a hub that received a lead, a batch of signed events and a POS file, and emailed the rep
    with running_hub(home) as hub:
        lead_id = _post_lead(hub, email)
        _post_events(hub)
        _drop_pos_file(hub, key)
        run = wait_for(lambda: _run(hub, key), timeout=60, what="the POS run")
        wait_for(lambda: [m for m in emails_to(hub["aws_endpoint_url"], JONAS) if email in m["body"]],
                 timeout=30, what="the rep's alert")  # fmt: skip
        _, lead = _call(hub, f"/leads/{lead_id}")
        _, opportunity = _call(hub, "/opportunities/OPP-SOLAR-1")
        assert opportunity["stage"] is not None
    # (stopped with Ctrl-C when the block ends)

    # When it starts again on the same home
    with running_hub(home) as hub:
        # Then the lead, the events' entities, the POS run and the email are all still there
        status, again = _call(hub, f"/leads/{lead_id}")
        assert status == 200
        assert (again["owner"], again["assignment"], again["submissions"]) == (
            lead["owner"], lead["assignment"], lead["submissions"],
        )  # fmt: skip
        status, opportunity_again = _call(hub, "/opportunities/OPP-SOLAR-1")
        assert (status, opportunity_again) == (200, opportunity)
        assert _run(hub, key) == run
        assert [m for m in emails_to(hub["aws_endpoint_url"], JONAS) if email in m["body"]]
        # and nothing was processed twice: still one alert for the lead, one submission
        time.sleep(2)
        assert len([m for m in emails_to(hub["aws_endpoint_url"], JONAS) if email in m["body"]]) == 1
        assert "Restored" in (home / "hub.log").read_text(errors="replace")

        # When a lead is accepted and the hub is then killed (no Ctrl-C, no clean stop)
        killed_id = _post_lead(hub, killed_email)
        os.killpg(hub["process"].pid, signal.SIGKILL)
        hub["process"].wait(timeout=10)

    # Then a new start still has it
    with running_hub(home) as hub:
        assert _call(hub, f"/leads/{killed_id}")[0] == 200
        assert _call(hub, f"/leads/{lead_id}")[0] == 200

    # And --fresh starts empty (the file taken out of the drop folder first: a fresh hub uploads what is there)
    (home / "drop" / key).unlink()
    with running_hub(home, "--fresh") as hub:
        assert _call(hub, f"/leads/{lead_id}")[0] == 404
        assert _run(hub, key) is None
        # (the demo data's own alerts may come in; the kept lead's alert does not)
        assert not [m for m in emails_to(hub["aws_endpoint_url"], JONAS) if email in m["body"]]
