# ruff: noqa: F811 - the leads_hub fixture is imported from the webhook tests
"""`hub leads quarantine list|release` and `hub routing test`, against moto (no local hub running)."""

from __future__ import annotations

import json

import boto3
import pytest

from tests.handlers.test_leads_webhook import leads_hub, post  # noqa: F401 - the fixture

CANDIDATE = """
rules:
  - {id: all-us-to-mei, when: {country: US}, rep: rep-mei}
fallback: {rep: rep-queue}
"""


def everything(aws):
    db = boto3.resource("dynamodb")
    return [sorted(map(str, db.Table(aws.table_name(t)).scan()["Items"])) for t in ("CrmTable", "StateTable")]


@pytest.fixture
def hub(leads_hub, tmp_path, monkeypatch):
    from hub.cli import main

    monkeypatch.chdir(tmp_path)  # no .hub/local.json here: the commands use the environment (moto)
    return main


def test_quarantine_list_and_release(hub, leads_hub, lambda_context, capsys):
    # Given a honeypot submission
    _, body, _ = post(lambda_context, {"email": "held@example.com", "country": "JP", "website": "x"})
    capsys.readouterr()
    # When the operator lists the quarantine
    assert hub(["leads", "quarantine", "list", "--json"]) == 0
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(x["lead_id"], x["reasons"]) for x in listed] == [(body["lead_id"], ["honeypot"])]
    # And releases it
    assert hub(["leads", "quarantine", "release", body["lead_id"]]) == 0
    assert "rep rep-mei: rule apac" in capsys.readouterr().out
    assert hub(["leads", "quarantine", "list", "--json"]) == 0
    assert capsys.readouterr().out == ""
    assert hub(["leads", "quarantine", "release", body["lead_id"]]) == 1


def test_routing_test_with_last_n_prints_both_and_changes_nothing(
    hub, leads_hub, lambda_context, tmp_path, capsys
):
    # Given two routed leads and a candidate that sends all US leads to Mei
    post(lambda_context, {"email": "west@example.com", "country": "US", "state": "CA"})
    post(lambda_context, {"email": "de@example.com", "country": "DE"})
    (tmp_path / "candidate.yaml").write_text(CANDIDATE)
    before = everything(leads_hub)
    capsys.readouterr()
    # When the what-if runs over the last 10 leads
    assert hub(["routing", "test", "--rules", "candidate.yaml", "--last", "10"]) == 0
    out = capsys.readouterr()
    # Then it shows where each went and would go, and nothing changed
    assert "* west@example.com" in out.out
    assert "went:      rep rep-sam: rule us-west-by-state" in out.out
    assert "would go:  rep rep-mei: rule all-us-to-mei" in out.out
    assert "would go:  rep rep-queue: fallback" in out.out
    assert "2 leads, 2 would move" in out.err
    assert everything(leads_hub) == before


def test_routing_test_with_a_csv_uses_current_rules_for_leads_never_seen(hub, leads_hub, tmp_path, capsys):
    (tmp_path / "candidate.yaml").write_text(CANDIDATE)
    (tmp_path / "list.csv").write_text("Email Address,Country,State\nnew@example.com,US,NY\nbad,Narnia,\n")
    before = everything(leads_hub)
    assert hub(["routing", "test", "--rules", "candidate.yaml", "--leads", "list.csv"]) == 0
    out = capsys.readouterr()
    assert "went:      rep rep-ana: rule us-east (current rules)" in out.out
    assert "would go:  rep rep-mei: rule all-us-to-mei" in out.out
    assert "skipped row 3" in out.err
    assert everything(leads_hub) == before


def test_routing_test_refuses_a_bad_candidate_naming_the_field(hub, leads_hub, tmp_path, capsys):
    (tmp_path / "bad.yaml").write_text(
        "rules: [{id: x, when: {employee_band: huge}, rep: ghost}]\nfallback: {}\n"
    )
    assert hub(["routing", "test", "--rules", "bad.yaml"]) == 2
    err = capsys.readouterr().err
    assert "rules.0.when.employee_band: unknown band 'huge'" in err
    assert "fallback: the fallback needs a rep or a queue" in err


def test_routing_test_refuses_a_rep_the_crm_does_not_know(hub, leads_hub, tmp_path, capsys):
    (tmp_path / "ghost.yaml").write_text(
        "rules: [{id: x, when: {country: US}, rep: rep-ghost}]\nfallback: {queue: q}\n"
    )
    assert hub(["routing", "test", "--rules", "ghost.yaml"]) == 2
    assert (
        "rules.0.rep: unknown rep 'rep-ghost' (no rep record of this id in the CRM)"
        in capsys.readouterr().err
    )


def test_leads_import_uploads_follows_the_import_and_prints_the_counts(hub, leads_hub, tmp_path, capsys):
    import threading

    from leads_webhook.app import handler

    from hub.local.runtime import LocalContext
    from tests.helpers import s3_event

    # Given a list with two new people, one of them twice, a spam domain and a bad address
    (tmp_path / "expo.csv").write_text(
        "E-mail,First Name,Country\n"
        "ann@example.com,Ann,DE\nbo@example.com,Bo,JP\nann@example.com,Annie,DE\n"
        "x@mailinator.com,X,DE\nnot-an-address,Bad,DE\n"
    )
    bucket, key = leads_hub.bucket_name(), "imports/leads/expo.csv"
    s3 = boto3.client("s3")

    def lambda_on_upload() -> None:  # what the hub's S3 notification does (moto alone has no trigger)
        for _ in range(400):
            try:
                s3.head_object(Bucket=bucket, Key=key)
                break
            except Exception:
                threading.Event().wait(0.05)
        handler(
            s3_event(bucket, key), LocalContext(function_name="LeadsWebhookFunction", timeout_seconds=300)
        )

    function = threading.Thread(target=lambda_on_upload)
    function.start()
    # When the operator imports it as typed
    code = hub(["leads", "import", str(tmp_path / "expo.csv"), "--timeout", "120"])
    function.join()

    # Then it waits for the import and ends with the counts, and names the rejected row with its reason
    assert code == 0
    out = capsys.readouterr()
    lines = [line for line in out.out.splitlines() if not line.startswith("{")]  # the function's metrics
    assert lines[0] == "5 rows: 2 created, 1 merged, 1 quarantined, 1 rejected"
    assert lines[1].startswith("  row 6 rejected (not-an-address): email")
    assert "expo.csv" in out.err  # the progress bar and where the results are
