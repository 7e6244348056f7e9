"""End to end: the monthly schedule ticked in the local hub writes the board report, the board's address
gets one email naming the route on the local API, the page is fetched over HTTP with the api_token (a node's
name and its figures in it), and ``hub report plan --from-hub`` fetches the same files."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from hub.local.inspect import sent_emails
from tests.e2e.test_alerts_e2e import _hub
from tests.e2e.test_plan_e2e import _event, _post_events

pytestmark = pytest.mark.e2e


def _get(local_hub: dict[str, Any], path: str, *, token: bool = True) -> tuple[int, dict[str, str], bytes]:
    headers = {"authorization": f"Bearer {local_hub['api_token']}"} if token else {}
    request = urllib.request.Request(f"{local_hub['api_url']}{path}", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, {k.lower(): v for k, v in answer.headers.items()}, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, {k.lower(): v for k, v in error.headers.items()}, error.read()


def test_the_monthly_schedule_serves_the_board_report_and_tells_the_board_once(
    local_hub: dict[str, Any], wait_for: Any, tmp_path: Path
) -> None:
    run = time.time_ns()
    today = datetime.now(UTC).date()
    month = f"{today:%Y-%m}"
    # the export reports the month just closed: in January the year just ended (an order in its December)
    booked = today if today.month != 1 else today.replace(year=today.year - 1, month=12, day=15)
    year, quarter = booked.year, (booked.month - 1) // 3 + 1
    root, account = f"T-board-{run}", f"A-board-{run}"
    name = f"Boardroom {run} Holdings"
    # Given a territory with a plan and an account under it with an order, rolled up
    answer = _post_events(local_hub, [
        _event(local_hub, "territory.upserted", {"id": root, "name": name, "owner": "rep-vp"}, f"{run}-1"),
        _event(local_hub, "account.upserted", {"id": account, "name": "Board Account", "territory_id": root}, f"{run}-2"),
        _event(local_hub, "plan.upserted", {"node_type": "territory", "node_id": root, "year": year,
                                            "quarter": quarter, "amount": "98765.43"}, f"{run}-3"),
        _event(local_hub, "order.booked", {"id": f"O-{run}", "account_id": account, "amount": "12345.67",
                                           "currency": "USD", "booked_at": booked.isoformat() + "T09:00:00Z"},
               f"{run}-4"),
    ])  # fmt: skip
    assert answer["accepted"] == 4, answer

    def rolled_up() -> bool:
        status, _, body = _get(local_hub, f"/plan/{year}/nodes/{root}")
        return status == 200 and json.loads(body)["quarters"][str(quarter)]["actual"] == "12345.67"

    wait_for(rolled_up, timeout=20, what="the territory's rollup")

    # When the monthly schedule is ticked
    ticked = json.loads(_hub(local_hub, "tick", "plan-monthly-export"))
    assert f"reports/plan/{month}/plan-{year}.html" in json.dumps(ticked), ticked

    # Then the page is served with the token: the territory by name, its plan and actual as people read them
    status, headers, page = _get(local_hub, f"/plan/{year}/report")
    assert status == 200 and headers["content-type"] == "text/html; charset=utf-8", (status, page[:300])
    assert name.encode() in page and b"98,765.43" in page and b"12,345.67" in page
    assert _get(local_hub, f"/plan/{year}/report", token=False)[0] == 401

    # And the board's address got one email whose link is that route, signed, on the local API
    link = f"{local_hub['api_url']}/links/plan/{year}/report?month={month}&format=html&expires="

    def board_emails() -> list[dict[str, Any]]:
        return [
            m
            for m in sent_emails(local_hub["aws_endpoint_url"], to="board@example.com")
            if month in m["subject"]
        ]

    emails = wait_for(board_emails, timeout=20, what="the board's email")
    clicked = next(line for line in emails[0]["text"].splitlines() if line.startswith("Open the report: "))
    clicked = clicked.removeprefix("Open the report: ")
    assert clicked.startswith(link), clicked
    # a click (no token) opens the page
    assert _get(local_hub, clicked.removeprefix(local_hub["api_url"]), token=False)[:3:2] == (200, page)
    # a second tick (a retried schedule) tells nobody again
    _hub(local_hub, "tick", "plan-monthly-export")
    time.sleep(2)
    assert len(board_emails()) == 1

    # And hub report plan --from-hub writes the three files the API hands over
    out = tmp_path / "from-hub"
    _hub(local_hub, "report", "plan", "--year", str(year), "--from-hub", "--out", str(out))
    assert (out / f"plan-{year}.html").read_bytes() == _get(local_hub, f"/plan/{year}/report")[
        2
    ]  # the re-tick's
    assert (out / f"plan-{year}.xlsx").read_bytes().startswith(b"PK")
    assert name in (out / f"plan-{year}.csv").read_text(encoding="utf-8")
