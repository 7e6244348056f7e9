"""End to end: a form post with opt-in reaches the fake MailChimp; an unsubscribe comes back."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests

pytestmark = pytest.mark.e2e


def _post_json(url: str, body: dict) -> tuple[int, dict]:
    answer = requests.post(url, json=body, timeout=10)
    return answer.status_code, answer.json() if answer.content else {}


def _lead(local_hub: dict, lead_id: str) -> dict[str, Any]:
    answer = requests.get(
        f"{local_hub['api_url']}/leads/{lead_id}",
        headers={"authorization": f"Bearer {local_hub['api_token']}"},
        timeout=10,
    )
    return answer.json() if answer.status_code == 200 else {}


def _member(local_hub: dict, email: str) -> dict[str, Any] | None:
    from mailchimp_sync.segments import subscriber_hash

    answer = requests.get(
        f"{local_hub['mailchimp_url']}/lists/{local_hub['mailchimp_list_id']}/members/{subscriber_hash(email)}",
        auth=("hub", "fake-key"),
        timeout=10,
    )
    return answer.json() if answer.status_code == 200 else None


def _tags(local_hub: dict, email: str) -> set[str]:
    member = _member(local_hub, email)
    return {t["name"] for t in member["tags"]} if member else set()


def test_the_local_hub_names_its_mailchimp(local_hub):
    assert local_hub["mailchimp_url"].startswith("http://127.0.0.1:")
    assert local_hub["mailchimp_url"].endswith("/3.0")
    assert local_hub["mailchimp_list_id"]
    check = requests.get(
        f"{local_hub['api_url']}/mailchimp/webhook/{local_hub['mailchimp_webhook_token']}", timeout=10
    )
    assert check.status_code == 200
    assert requests.get(f"{local_hub['api_url']}/mailchimp/webhook/wrong", timeout=10).status_code == 404


def test_an_opted_in_form_post_reaches_mailchimp_and_an_unsubscribe_comes_back(local_hub, wait_for):
    # Given an address nobody has used
    email = f"mc.{time.time_ns()}@example.com"
    started = time.monotonic()
    # When a form with opt-in is posted
    status, body = _post_json(
        f"{local_hub['api_url']}/leads",
        {
            "email": email,
            "first_name": "Grace",
            "last_name": "Hopper",
            "company": "Cobol Works",
            "employees": 120,
            "industry": "Automotive",
            "campaign": "spring-expo",
            "marketing_opt_in": True,
        },
    )
    assert status == 202, body
    lead_id = body["lead_id"]
    # Then within 5 seconds the member, its merge fields and tags are in the fake MailChimp
    member = wait_for(
        lambda: (m := _member(local_hub, email)) and _tags(local_hub, email) and m,
        timeout=5,
        what="the member and its tags",
    )
    assert time.monotonic() - started < 5
    assert member["status"] == "subscribed"
    assert member["merge_fields"]["FNAME"] == "Grace"
    assert member["merge_fields"]["COMPANY"] == "Cobol Works"
    assert "industry:automotive" in _tags(local_hub, email)
    assert "campaign:spring-expo" in _tags(local_hub, email)
    wait_for(lambda: _lead(local_hub, lead_id).get("mailchimp", {}).get("state") == "synced", timeout=5,
             what="the lead's sync state")  # fmt: skip

    # When the person unsubscribes in MailChimp and MailChimp calls the webhook
    requests.post(
        f"{local_hub['mailchimp_url'].removesuffix('/3.0')}/_fake/status",
        json={"email": email, "status": "unsubscribed"},
        timeout=10,
    )
    answer = requests.post(
        f"{local_hub['api_url']}/mailchimp/webhook/{local_hub['mailchimp_webhook_token']}",
        data={"type": "unsubscribe", "fired_at": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
              "data[email]": email, "data[reason]": "manual", "data[list_id]": local_hub["mailchimp_list_id"]},
        timeout=10,
    )  # fmt: skip
    assert answer.status_code == 200
    # Then GET /leads/{id} shows it, and a later post of the same person does not re-subscribe them
    lead = wait_for(lambda: _lead(local_hub, lead_id).get("marketing_status") == "unsubscribed" and _lead(local_hub, lead_id),
                    timeout=5, what="the unsubscribe on the lead")  # fmt: skip
    assert lead["marketing_opt_in"] is False
    status, _ = _post_json(f"{local_hub['api_url']}/leads", {"email": email, "company": "Cobol Works II"})
    assert status == 202
    time.sleep(1.5)
    assert _member(local_hub, email)["status"] == "unsubscribed"


def test_setup_and_backfill_commands_run_against_the_local_hub(local_hub):
    hub = Path(sys.executable).parent / "hub"
    home = local_hub["home"]
    for n in range(3):
        _post_json(f"{local_hub['api_url']}/leads", {"email": f"bf.{n}.{time.time_ns()}@example.com",
                                                     "marketing_opt_in": True})  # fmt: skip
    setup = subprocess.run([str(hub), "mailchimp", "--home", home, "setup"], capture_output=True, text=True,
                           timeout=60, cwd=home)  # fmt: skip
    assert setup.returncode == 0, setup.stderr
    assert "EMPBAND" in setup.stdout
    backfill = subprocess.run([str(hub), "mailchimp", "--home", home, "backfill", "--no-progress", "--poll", "0.1"],
                              capture_output=True, text=True, timeout=120, cwd=home)  # fmt: skip
    assert backfill.returncode == 0, backfill.stdout + backfill.stderr
    report = json.loads(backfill.stdout[backfill.stdout.index("{") : backfill.stdout.rindex("}") + 1])
    assert report["complete"]
    assert report["synced"] >= 3
