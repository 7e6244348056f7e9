"""The fake answers like MailChimp, and can be driven from another process."""

from __future__ import annotations

import json
import subprocess
import sys

import requests


def test_errors_are_problem_json_like_mailchimp(fake):
    answer = requests.get(f"{fake.url}/lists/{fake.list_id}/members/{'0' * 32}", auth=("u", "k"), timeout=5)
    assert answer.status_code == 404
    assert answer.headers["Content-Type"].startswith("application/problem+json")
    body = answer.json()
    assert set(body) == {"type", "title", "status", "detail", "instance"}
    assert body["title"] == "Resource Not Found"
    assert body["type"] == "https://mailchimp.com/developer/marketing/docs/errors/"


def test_a_request_without_a_key_is_refused(fake):
    answer = requests.get(f"{fake.url}/ping", timeout=5)
    assert answer.status_code == 401
    assert answer.json()["title"] == "API Key Missing"


def test_faults_and_stats_over_http(fake):
    requests.post(
        f"{fake.root_url}/_fake/faults", json={"path": "/ping", "status": 503, "times": 1}, timeout=5
    )
    first = requests.get(f"{fake.url}/ping", auth=("u", "k"), timeout=5)
    second = requests.get(f"{fake.url}/ping", auth=("u", "k"), timeout=5)
    stats = requests.get(f"{fake.root_url}/_fake/stats", timeout=5).json()
    assert (first.status_code, second.status_code) == (503, 200)
    assert stats["calls"] == 2
    assert stats["peak_concurrency"] == 1


def test_batches_apply_their_operations(fake, gateway):
    operation = {
        "method": "PUT",
        "path": f"/lists/{fake.list_id}/members/{'x' * 32}",
        "operation_id": "bad-hash",
        "body": json.dumps({"email_address": "b@example.com", "status_if_new": "subscribed"}),
    }
    started = gateway.start_batch([operation])
    assert started["status"] in {"pending", "started", "finished"}


def test_the_command_line_starts_a_server_and_prints_its_url():
    process = subprocess.Popen(
        [sys.executable, "-m", "hub.fake_mailchimp", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = json.loads(process.stdout.readline())
        assert line["url"].endswith("/3.0")
        assert requests.get(f"{line['url']}/ping", auth=("u", "k"), timeout=5).json() == {
            "health_status": "Everything's Chimpy!"
        }
    finally:
        process.terminate()
        process.wait(timeout=10)
