"""End to end in the local hub: a form routed by rule reaches that rep's inbox; a trade-show list imports."""

from __future__ import annotations

import csv
import io
import json
import time
import urllib.error
import urllib.request
from urllib.parse import urlencode

import pytest

from hub.local.inspect import emails_to

pytestmark = pytest.mark.e2e


def _request(url: str, *, data: bytes | None = None, headers: dict | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET",
                                     headers=headers or {})  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=15) as answer:
            return answer.status, json.loads(answer.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def test_a_plain_html_form_is_routed_by_rule_and_the_rep_is_emailed(local_hub, wait_for):
    # Given a lead from California posted the way a plain HTML form posts it
    email = f"e2e.west.{time.time_ns()}@example.com"
    form = urlencode({"email": email, "first_name": "Wes", "company": "<b>West</b> Widgets", "country": "US",
                      "state": "California", "marketing_opt_in": "on"}).encode()  # fmt: skip
    status, body = _request(f"{local_hub['api_url']}/leads", data=form,
                            headers={"content-type": "application/x-www-form-urlencoded"})  # fmt: skip
    assert status == 202, body

    # Then the read API shows it owned by rep-sam through rule us-west-by-state
    token = {"authorization": f"Bearer {local_hub['api_token']}"}
    _, lead = _request(f"{local_hub['api_url']}/leads/{body['lead_id']}", headers=token)
    assert lead["owner"] == "rep-sam"
    assert lead["assignment"]["rule_id"] == "us-west-by-state"
    assert [s["outcome"] for s in lead["submissions"]] == ["created"]

    # And Sam's alert arrives, naming the lead, with its fields escaped
    def alert():
        return [
            m
            for m in emails_to(local_hub["aws_endpoint_url"], "sam.carter@example.com")
            if email in m["body"]
        ]

    found = wait_for(alert, timeout=10, what="Sam's alert")
    assert "<b>West</b>" not in found[0]["body"]


def test_a_repeat_and_a_honeypot_answer_202_without_a_second_alert(local_hub, wait_for):
    email = f"e2e.repeat.{time.time_ns()}@example.com"
    url = f"{local_hub['api_url']}/leads"
    headers = {"content-type": "application/json"}
    first = _request(url, data=json.dumps({"email": email, "country": "DE"}).encode(), headers=headers)
    again = _request(
        url, data=json.dumps({"email": email.upper(), "phone": "030 1234567"}).encode(), headers=headers
    )
    spam = _request(url, data=json.dumps({"email": f"bot.{email}", "website": "x"}).encode(), headers=headers)
    assert first[0] == again[0] == spam[0] == 202
    assert first[1]["lead_id"] == again[1]["lead_id"]
    wait_for(lambda: [m for m in emails_to(local_hub["aws_endpoint_url"], "jonas.weber@example.com")
                      if email in m["body"]], timeout=10, what="Jonas's alert")  # fmt: skip
    time.sleep(1)
    alerts = [
        m for m in emails_to(local_hub["aws_endpoint_url"], "jonas.weber@example.com") if email in m["body"]
    ]
    assert len(alerts) == 1


def test_a_trade_show_list_dropped_in_the_folder_gets_a_results_file(local_hub, aws_clients, wait_for):
    from pathlib import Path

    name = f"e2e-expo-{time.time_ns()}"
    target = Path(local_hub["drop_dir"]) / "imports" / "leads" / f"{name}.csv"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("E-mail,Company Name,Country\nexpo.a@example.com,A Co,Japan\nnope,B Co,US\n")
    s3 = aws_clients("s3")

    def results():
        try:
            body = s3.get_object(Bucket=local_hub["bucket"], Key=f"imports/leads/{name}.results.csv")["Body"]
        except s3.exceptions.NoSuchKey:
            return None
        return list(csv.DictReader(io.StringIO(body.read().decode())))

    rows = wait_for(results, timeout=20, what="the results file")
    assert [(r["row"], r["outcome"]) for r in rows] == [("2", "created"), ("3", "rejected")]
    assert rows[0]["owner"] == "rep-mei"
    assert rows[1]["reason"].startswith("email:")

    # And Mei is told in one email for the list (the import's digest), not by a per-lead alert
    def told():
        return [m for m in emails_to(local_hub["aws_endpoint_url"], "mei.chen@example.com")
                if "expo.a@example.com" in m["body"]]  # fmt: skip

    found = wait_for(told, timeout=20, what="Mei's digest of the list")
    time.sleep(1)  # a per-lead alert would have come by now too
    assert [m["subject"] for m in told()] == [f"1 lead from {name} assigned to you"]
    assert found[0]["subject"] == f"1 lead from {name} assigned to you"


def test_a_signed_landing_page_post_is_recorded_with_its_source(local_hub):
    from shared.signing import SIGNATURE_HEADER, SOURCE_HEADER, sign

    # Given the local hub's demo signing source (the same per-source secrets as POST /events)
    body = json.dumps({"email": f"e2e.signed.{time.time_ns()}@example.com", "country": "SG"}).encode()
    good = {"content-type": "application/json", SOURCE_HEADER: local_hub["events_source"],
            SIGNATURE_HEADER: sign(body, local_hub["events_secret"])}  # fmt: skip
    bad = {**good, SIGNATURE_HEADER: sign(body, "not-the-secret")}
    # When it is posted signed, and with a wrong signature
    status, answer = _request(f"{local_hub['api_url']}/leads", data=body, headers=good)
    refused, _ = _request(f"{local_hub['api_url']}/leads", data=body, headers=bad)
    # Then the first is recorded with its source, the second is 401
    assert (status, refused) == (202, 401)
    token = {"authorization": f"Bearer {local_hub['api_token']}"}
    _, lead = _request(f"{local_hub['api_url']}/leads/{answer['lead_id']}", headers=token)
    assert lead["source"] == f"signed:{local_hub['events_source']}"
    assert lead["owner"] == "rep-mei"


def test_hub_leads_import_as_typed_waits_for_the_list_and_prints_the_counts(local_hub, tmp_path):
    import os
    import subprocess

    from tests.e2e.conftest import _hub_command

    # Given a list with a new person twice and a bad address
    name = f"e2e-import-{time.time_ns()}"
    source = tmp_path / f"{name}.csv"
    source.write_text(
        f"E-mail,First Name,Country\n{name}@example.com,Ann,Japan\n{name}@example.com,Annie,Japan\nnope,B,US\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_", "HUB_"))}
    env.pop("CRM_TABLE", None)
    # When the operator runs `hub leads import` against the running local hub
    done = subprocess.run(
        [*_hub_command(), "leads", "--home", local_hub["home"], "import", str(source), "--timeout", "120"],
        env=env, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    # Then it ends with the counts and names the rejected row with its reason
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert lines[0] == "3 rows: 1 created, 1 merged, 0 quarantined, 1 rejected"
    assert lines[1].startswith("  row 4 rejected (nope): email")
