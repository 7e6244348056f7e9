"""``hub tick NAME``: an unknown schedule or a failed run is said in one line, never a traceback."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from hub.cli import main

SCHEDULES = ["alerts-sweep", "plan-monthly-export", "plan-nightly"]


class _Hub(BaseHTTPRequestHandler):
    """Stands in for the local API's control route: one schedule runs, any other answers an HTTP error."""

    paths: list[str] = []

    def do_POST(self) -> None:
        self.paths.append(self.path)
        status, body = (
            (200, {"sent": 0}) if self.path.endswith("/alerts-sweep") else (500, {"message": "boom"})
        )
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def hub_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    server = HTTPServer(("127.0.0.1", 0), _Hub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    (tmp_path / ".hub").mkdir()
    info = {"api_url": f"http://127.0.0.1:{server.server_port}", "api_token": "t", "schedules": SCHEDULES,
            "pid": os.getpid()}  # fmt: skip
    (tmp_path / ".hub" / "local.json").write_text(json.dumps(info), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    _Hub.paths = []
    yield tmp_path
    server.shutdown()
    server.server_close()


def test_an_unknown_schedule_is_named_with_the_hubs_schedules_and_not_sent(
    hub_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["tick", "alerts-sweeps"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == (
        "no schedule 'alerts-sweeps' in the local hub; its schedules: alerts-sweep, plan-monthly-export, plan-nightly"
    )
    assert _Hub.paths == []


def test_a_run_the_hub_answers_with_an_error_is_one_line_with_its_message(
    hub_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["tick", "plan-nightly"]) == 1
    assert capsys.readouterr().err.strip() == 'schedule plan-nightly: 500 {"message": "boom"}'
    assert main(["tick", "alerts-sweep"]) == 0
    assert json.loads(capsys.readouterr().out) == {"sent": 0}
    assert _Hub.paths == ["/_hub/tick/plan-nightly", "/_hub/tick/alerts-sweep"]
