"""The local hub's HTTP as raw clients meet it (issue 15): chunked signed bodies, bad lengths, raw bytes,
ids with reserved characters, a reused event id, and stopping within 5 s on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit

import pytest

from shared.signing import sign
from tests.e2e.conftest import _hub_command

pytestmark = pytest.mark.e2e


def raw_request(api_url: str, data: bytes, timeout: float = 20.0) -> tuple[int, bytes]:
    """Send raw HTTP/1.1 bytes; the status and the body of the answer."""
    split = urlsplit(api_url)
    with socket.create_connection((split.hostname, split.port), timeout=timeout) as conn:
        conn.sendall(data)
        received = b""
        while True:
            head, sep, body = received.partition(b"\r\n\r\n")
            if sep:
                length = next(
                    (
                        int(line.split(b":")[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length:")
                    ),
                    None,
                )
                if length is not None and len(body) >= length:
                    return int(head.split(b" ")[1]), body[:length]
            chunk = conn.recv(65536)
            if not chunk:
                return int(received.split(b" ")[1]), received.partition(b"\r\n\r\n")[2]
            received += chunk


def signed_headers(local_hub: dict[str, Any], body: bytes) -> bytes:
    signature = sign(body, local_hub["events_secret"], int(time.time()))
    return (f"X-Hub-Signature: {signature}\r\nX-Hub-Source: {local_hub['events_source']}\r\n").encode()


def event(
    local_hub: dict[str, Any], event_id: str, opportunity_id: str, stage: str = "Qualifying Needs"
) -> dict:
    return {
        "event_id": event_id,
        "type": "opportunity.upserted",
        "occurred_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "source": local_hub["events_source"],
        "data": {"id": opportunity_id, "account_id": "acc-http", "name": "Deal", "stage": stage},
    }


def chunked(body: bytes, size: int = 7) -> bytes:
    parts = [body[i : i + size] for i in range(0, len(body), size)]
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"


def test_a_signed_chunked_post_is_accepted(local_hub):
    body = json.dumps({"events": [event(local_hub, f"chunk-{time.time_ns()}", "opp-chunked")]}).encode()
    deadline = time.monotonic() + 90
    while True:  # a hub just started may not have accepted its configuration yet (5xx)
        request = (b"POST /events HTTP/1.1\r\nHost: hub\r\nContent-Type: application/json\r\n"
                   b"Transfer-Encoding: chunked\r\n" + signed_headers(local_hub, body) + b"\r\n" + chunked(body))  # fmt: skip
        status, answer = raw_request(local_hub["api_url"], request)
        if status < 500 or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert status == 200, answer
    assert json.loads(answer)["accepted"] == 1


@pytest.mark.parametrize("length", [b"abc", b"-1"])
def test_a_bad_content_length_is_answered_400_at_once(local_hub, length):
    started = time.monotonic()
    status, _ = raw_request(
        local_hub["api_url"],
        b"POST /leads HTTP/1.1\r\nHost: hub\r\nContent-Type: application/json\r\nContent-Length: "
        + length
        + b"\r\n\r\n{}",
    )
    assert status == 400
    assert time.monotonic() - started < 5


def test_invalid_utf8_reaches_the_signature_check_as_sent(local_hub):
    body = b'{"events": [{"event_id": "\xff\xfe"}]}'
    request = (b"POST /events HTTP/1.1\r\nHost: hub\r\nContent-Type: application/json\r\n"
               b"Content-Length: %d\r\n" % len(body) + signed_headers(local_hub, body) + b"\r\n" + body)  # fmt: skip
    status, answer = raw_request(local_hub["api_url"], request)
    # The signature over the very bytes holds (not 401); the body itself is then refused as not JSON text
    assert status not in (401, 500), answer
    assert 400 <= status < 500


def _post_events(local_hub: dict[str, Any], *events: dict) -> tuple[int, dict]:
    body = json.dumps({"events": list(events)}).encode()
    request = urllib.request.Request(f"{local_hub['api_url']}/events", data=body, method="POST", headers={
        "content-type": "application/json", "X-Hub-Signature": sign(body, local_hub["events_secret"], int(time.time())),
        "X-Hub-Source": local_hub["events_source"]})  # fmt: skip
    deadline = time.monotonic() + 90
    while True:  # a hub just started may not have accepted its configuration yet (5xx)
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return answer.status, json.loads(answer.read())
        except urllib.error.HTTPError as error:
            if error.code < 500 or time.monotonic() > deadline:
                return error.code, json.loads(error.read())
        time.sleep(1)


def _get(local_hub: dict[str, Any], path: str) -> tuple[int, dict]:
    request = urllib.request.Request(
        f"{local_hub['api_url']}{path}", headers={"authorization": f"Bearer {local_hub['api_token']}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def test_ids_with_reserved_characters_round_trip(local_hub):
    ids = ["OPP/SLASH", "opp@e2e", "opp:e2e:1"]
    status, _ = _post_events(
        local_hub, *(event(local_hub, f"rt-{n}-{time.time_ns()}", i) for n, i in enumerate(ids))
    )
    assert status == 200
    for opportunity_id in ids:
        status, view = _get(local_hub, f"/opportunities/{quote(opportunity_id, safe='')}")
        assert (status, view.get("opportunity_id")) == (200, opportunity_id)


def test_a_reused_event_id_with_another_body_is_409_and_changes_nothing(local_hub):
    event_id = f"reuse-{time.time_ns()}"
    assert _post_events(local_hub, event(local_hub, event_id, "opp-reuse"))[0] == 200
    status, answer = _post_events(local_hub, event(local_hub, event_id, "opp-reuse", stage="Verbal Approval"))
    assert status == 409
    assert answer["results"][0]["status_code"] == 409
    assert _get(local_hub, "/opportunities/opp-reuse")[1]["stage"] == "Qualifying Needs"


def test_a_stale_local_json_is_replaced_and_sigterm_stops_within_5_seconds(tmp_path):
    # Given a local.json left by a hub that was killed (its process is gone)
    state = tmp_path / ".hub" / "local.json"
    state.parent.mkdir(parents=True)
    dead = subprocess.Popen(["true"])
    dead.wait()
    state.write_text(json.dumps({"pid": dead.pid, "api_url": "http://127.0.0.1:9"}))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_", "HUB_"))}
    process = subprocess.Popen([*_hub_command(), "local", "--home", str(tmp_path), "--port", "0", "--aws-port", "0"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=tmp_path, env=env)  # fmt: skip
    try:
        deadline = time.monotonic() + 240  # a busy machine starts a hub slowly
        while time.monotonic() < deadline and process.poll() is None:
            try:
                if json.loads(state.read_text() or "{}").get("pid") == process.pid:
                    break
            except (OSError, ValueError):
                pass  # not written yet (the stale one is gone first)
            time.sleep(0.2)
        # Then the hub started and wrote its own
        assert json.loads(state.read_text())["pid"] == process.pid
        # When it gets SIGTERM
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
        # Then it is gone within 5 s, and so is local.json
        assert time.monotonic() - started < 5, output.decode(errors="replace")[-2000:]
        assert not state.exists()
    finally:
        if process.poll() is None:
            process.kill()
