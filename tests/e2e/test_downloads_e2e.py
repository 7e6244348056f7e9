"""End to end: the rejects of a POS file dropped in the local hub are fetched over HTTP by the file's own
key, with the hub's api_token, as the channel manager's email says; a large one through its redirect; and
with ``hub pos rejects``."""

from __future__ import annotations

import csv
import io
import re
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import _hub_command

pytestmark = pytest.mark.e2e

HEADER = "Invoice Date,Invoice #,Line,MPN,Ship Qty,Unit Resale,Ext Resale,End Customer\r\n"


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _link_in(text: str, label: str) -> str:
    """The link an email's text part gives after ``label: ``."""
    found = re.search(rf"^{re.escape(label)}: (\S+)$", text, re.MULTILINE)
    assert found, text
    return found.group(1)


def _open(link: str) -> tuple[int, bytes]:
    """What a click on ``link`` gets (no token; redirects not followed)."""
    opener = urllib.request.build_opener(_NoRedirects)
    try:
        with opener.open(link, timeout=30) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def _get(
    local_hub: dict[str, Any], route: str, key: str, *, token: bool = True
) -> tuple[int, dict[str, str], bytes]:
    """``GET route?key=`` on the local hub's API: status, headers, body (redirects not followed)."""
    url = f"{local_hub['api_url']}{route}?{urllib.parse.urlencode({'key': key})}"
    headers = {"authorization": f"Bearer {local_hub['api_token']}"} if token else {}
    opener = urllib.request.build_opener(_NoRedirects)
    try:
        with opener.open(urllib.request.Request(url, headers=headers), timeout=30) as answer:
            return answer.status, {k.lower(): v for k, v in answer.headers.items()}, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, {k.lower(): v for k, v in error.headers.items()}, error.read()


def _drop_and_wait(local_hub: dict[str, Any], wait_for: Any, key: str, text: str) -> None:
    path = Path(local_hub["drop_dir"]) / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode())

    def done() -> bool:
        status, _, body = _get(local_hub, "/pos/runs", key)
        return status == 200 and b'"status":"done"' in body.replace(b" ", b"")

    wait_for(done, timeout=30, what=f"the run of {key}")


def test_a_dropped_files_rejects_are_fetched_by_its_key_as_its_email_says(local_hub, wait_for) -> None:
    # Given a sell-through file with two bad rows (rows 3 and 5), dropped in the drop folder
    key = f"pos/northwind-e2e/week {int(time.time())}.csv"
    _drop_and_wait(local_hub, wait_for, key, HEADER + (
        "10/01/2026,N-1,1,LM358,100,0.12,12.00,Acme Robotics\r\n"
        "10/02/2026,N-1,2,NE555,lots,0.50,5.00,Acme Robotics\r\n"
        "10/03/2026,N-2,1,NE555,10,0.50,5.00,Brenner Auto\r\n"
        "31/31/2026,N-3,1,NE555,10,0.50,5.00,Brenner Auto\r\n"
    ))  # fmt: skip
    # When its rejects are fetched over HTTP with the hub's api_token, by the file's own key
    status, headers, body = _get(local_hub, "/pos/rejects", key)
    # Then the CSV holds each bad row's number and reason
    assert status == 200 and headers["content-type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(body.decode())))
    assert [row["reject_row"] for row in table] == ["3", "5"]
    assert "not a number" in table[0]["reject_reason"] and table[0]["Ship Qty"] == "lots"
    assert "date" in table[1]["reject_reason"]
    # the route is behind the token
    assert _get(local_hub, "/pos/rejects", key, token=False)[0] == 401
    # and the channel manager's email names that route, on this API, rather than an S3 key
    from hub.local.inspect import sent_emails

    link = f"{local_hub['api_url']}/links/pos/rejects?key={urllib.parse.quote(key, safe='/')}&expires="
    emails = wait_for(
        lambda: [m for m in sent_emails(local_hub["aws_endpoint_url"], to="channel@example.com") if key in m["subject"]],
        timeout=15, what="the channel manager's email",
    )  # fmt: skip
    clicked = _link_in(emails[0]["text"], "Every rejected row with its reason")
    assert clicked.startswith(link), clicked
    # a click on it (no token: a mail client sends none) gets the same CSV; a changed one gets nothing
    assert _open(clicked) == (200, body)
    assert _open(clicked.replace("northwind-e2e/week", "northwind-e2e/weak"))[0] == 403
    # and `hub pos rejects` prints the same CSV
    cli = subprocess.run([*_hub_command(), "pos", "rejects", key], cwd=local_hub["home"], capture_output=True,
                         timeout=60)  # fmt: skip
    assert cli.returncode == 0 and cli.stdout == body


def test_refusals_say_why_over_http_and_in_the_cli(local_hub, wait_for) -> None:
    # A clean file has no rejects; an unknown key has no run; an internal key is not taken
    key = f"pos/northwind-e2e/clean {int(time.time())}.csv"
    _drop_and_wait(
        local_hub, wait_for, key, HEADER + "10/01/2026,N-1,1,LM358,100,0.12,12.00,Acme Robotics\r\n"
    )
    status, _, body = _get(local_hub, "/pos/rejects", key)
    assert status == 404 and b"has no rejected rows" in body
    assert _get(local_hub, "/pos/rejects", "pos/northwind-e2e/never.csv")[0] == 404
    assert _get(local_hub, "/pos/rejects", f"rejects/{key}.csv")[0] == 400
    assert _get(local_hub, "/leads/imports/results", "imports/leads/never-imported.csv")[0] == 404
    # the CLI says the API's sentence, exits 1, and shows no traceback
    cli = subprocess.run([*_hub_command(), "pos", "rejects", "pos/northwind-e2e/never.csv"],
                         cwd=local_hub["home"], capture_output=True, timeout=60)  # fmt: skip
    assert cli.returncode == 1 and cli.stdout == b""
    assert b"404: no run for pos/northwind-e2e/never.csv" in cli.stderr and b"Traceback" not in cli.stderr


def test_a_large_rejects_file_is_a_redirect_the_cli_follows(local_hub, wait_for, tmp_path) -> None:
    # Given a file of 12,000 rows, each refused (its rejects file is over a mebibyte)
    key = f"pos/northwind-e2e/big {int(time.time())}.csv"
    rows = "".join(f"10/01/2026,B-{n},1,LM358,many,0.12,12.00,Acme Robotics\r\n" for n in range(12_000))
    _drop_and_wait(local_hub, wait_for, key, HEADER + rows)
    # When its rejects are asked for
    status, headers, body = _get(local_hub, "/pos/rejects", key)
    # Then the answer is a redirect to a short-lived presigned GET of the embedded S3, which needs no token
    assert status == 302 and body == b""
    with urllib.request.urlopen(headers["location"], timeout=30) as answer:
        fetched = answer.read()
    assert len(fetched) > 1 << 20
    table = list(csv.reader(io.StringIO(fetched.decode())))
    assert len(table) == 12_001 and table[-1][-2] == "12001"
    # and `hub pos rejects --out` follows it to the same bytes
    out = tmp_path / "rejects.csv"
    cli = subprocess.run([*_hub_command(), "pos", "rejects", key, "--out", str(out)], cwd=local_hub["home"],
                         capture_output=True, timeout=60)  # fmt: skip
    assert cli.returncode == 0, cli.stderr
    assert out.read_bytes() == fetched


def test_a_trade_show_lists_results_are_fetched_by_its_key_as_the_reps_email_says(
    local_hub, wait_for
) -> None:
    from hub.local.inspect import sent_emails

    # Given a list with a good row and a bad one, dropped in the drop folder
    name = f"expo downloads {time.time_ns()}"
    key = f"imports/leads/{name}.csv"
    path = Path(local_hub["drop_dir"]) / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("E-mail,Company Name,Country\nexpo.dl@example.com,A Co,Japan\nnope,B Co,US\n")
    # When its results are fetched by the list's own key, once imported
    answer = wait_for(lambda: (a := _get(local_hub, "/leads/imports/results", key))[0] == 200 and a,
                      timeout=30, what="the import's results")  # fmt: skip
    # Then every row is there with its outcome
    rows = list(csv.DictReader(io.StringIO(answer[2].decode())))
    assert [(r["row"], r["outcome"]) for r in rows] == [("2", "created"), ("3", "rejected")]
    # and the rep's digest names that route on this API
    link = (
        f"{local_hub['api_url']}/links/leads/imports/results?key={urllib.parse.quote(key, safe='/')}&expires="
    )
    told = wait_for(
        lambda: [m for m in sent_emails(local_hub["aws_endpoint_url"], to="mei.chen@example.com")
                 if name in m["subject"]],
        timeout=20, what="the rep's digest",
    )  # fmt: skip
    clicked = _link_in(told[0]["text"], "Every row of the list with its owner")
    assert clicked.startswith(link), clicked
    assert _open(clicked) == (200, answer[2])  # without a token
    # and `hub leads results` prints the same CSV
    cli = subprocess.run([*_hub_command(), "leads", "results", key], cwd=local_hub["home"], capture_output=True,
                         timeout=60)  # fmt: skip
    assert cli.returncode == 0 and cli.stdout == answer[2]
