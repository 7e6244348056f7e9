"""The read routes that hand over the files the hub writes for people, under moto: ``GET /pos/rejects?key=``
(a POS file's rejected rows) and ``GET /leads/imports/results?key=`` (a trade-show list's results), each
given the ORIGINAL file's key, as the template routes them behind the JWT authorizer."""

from __future__ import annotations

import base64
import csv
import io
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import boto3
import pytest

from hub.local.runtime import LocalContext
from tests.handlers.test_pos_handler import csv_body, pos_world, put_and_ingest
from tests.helpers import http_event, s3_event


@pytest.fixture
def hub(aws: Any) -> Iterator[dict[str, Any]]:
    yield from pos_world(aws)


def get(path: str, key: str | None) -> dict[str, Any]:
    """The reports function's answer to ``GET path?key=...`` (the key URL-encoded as a client sends it)."""
    from reports_api.app import handler

    query = "" if key is None else f"?key={quote(key, safe='')}"
    answer = handler(http_event("GET", path + query, authorized=True), LocalContext("reports", 30))
    body = answer.get("body") or ""
    raw = base64.b64decode(body) if answer.get("isBase64Encoded") else body.encode()
    headers = {k.lower(): v for k, v in (answer.get("headers") or {}).items()}
    return {"status": answer["statusCode"], "headers": headers, "raw": raw}


def message(answer: dict[str, Any]) -> str:
    assert answer["headers"]["content-type"] == "application/json", answer
    return str(json.loads(answer["raw"])["message"])


def rows(answer: dict[str, Any]) -> list[list[str]]:
    assert answer["status"] == 200, answer
    return list(csv.reader(io.StringIO(answer["raw"].decode("utf-8"))))


GOOD = ["10/01/2026", "N-1", "1", "LM358", "100", "0.12", "12.00", "Acme Corporation"]


def test_the_template_routes_the_file_routes_behind_the_reports_authorizer_with_reads_of_their_prefixes_only() -> (
    None
):
    from hub.local.template import HubTemplate

    template = HubTemplate()
    routes = {(r.method, r.path): (r.function, r.authorizer) for r in template.routes()}
    assert routes[("GET", "/pos/rejects")] == ("ReportsApiFunction", "ReportsJwt")
    assert routes[("GET", "/leads/imports/results")] == ("ReportsApiFunction", "ReportsJwt")
    assert routes[("GET", "/plan/{year}/report")] == ("ReportsApiFunction", "ReportsJwt")
    # the function may read the three kinds of file (no listing) and nothing else of the bucket
    policies = template.resources["ReportsApiFunction"]["Properties"]["Policies"]
    s3 = [
        s
        for p in policies
        if isinstance(p, dict)
        for s in p.get("Statement", [])
        if "s3:" in str(s["Action"])
    ]
    assert [statement["Action"] for statement in s3] == ["s3:GetObject"]
    resources = [str(r["Fn::Sub"]).rsplit("}", 1)[1] for r in s3[0]["Resource"]]
    assert resources == ["/rejects/*", "/imports/leads/*.results.csv", "/reports/plan/*"]
    assert not any("S3" in str(p) for p in policies if not isinstance(p, dict) or "Statement" not in p)


def test_a_pos_files_rejects_are_handed_over_by_the_files_own_key(hub: dict, lambda_context: Any) -> None:
    # Given a sell-through file with two bad rows, read by the POS function
    key = "pos/northwind/2026 Q4 week 1 & 2.csv"
    put_and_ingest(hub, key, csv_body([
        GOOD,
        ["10/02/2026", "N-1", "2", "NE555", "=1+1", "0.50", "5.00", "Globex"],
        ["13/45/2026", "N-2", "1", "NE555", "10", "0.50", "5.00", "Globex"],
    ]), lambda_context)  # fmt: skip
    # When its rejects are asked for by the file's own key
    answer = get("/pos/rejects", key)
    # Then the CSV itself is the answer: each bad row with its row number and reason
    assert answer["headers"]["content-type"] == "text/csv; charset=utf-8"
    assert answer["headers"]["content-disposition"] == 'attachment; filename="2026 Q4 week 1 _ 2.csv.csv"'
    table = rows(answer)
    assert table[0][-2:] == ["reject_row", "reject_reason"]
    assert [(r[-2], r[1]) for r in table[1:]] == [("3", "N-1"), ("4", "N-2")]
    assert "not a number" in table[1][-1] and "date" in table[2][-1]
    # the same bytes as the object the run record names
    stored = hub["s3"].get_object(Bucket=hub["bucket"], Key=f"rejects/{key}.csv")["Body"].read()
    assert answer["raw"] == stored


def test_a_file_without_rejects_an_unknown_file_and_a_later_clean_version_answer_404(
    hub: dict, lambda_context: Any
) -> None:
    # Given a clean file, and a file whose first version had a bad row and whose second has none
    put_and_ingest(hub, "pos/northwind/clean.csv", csv_body([GOOD]), lambda_context)
    put_and_ingest(hub, "pos/northwind/fixed.csv", csv_body([
        GOOD, ["10/02/2026", "N-1", "2", "NE555", "x", "0.50", "5.00", "Globex"]]), lambda_context)  # fmt: skip
    assert get("/pos/rejects", "pos/northwind/fixed.csv")["status"] == 200
    put_and_ingest(hub, "pos/northwind/fixed.csv", csv_body([GOOD]), lambda_context)
    # Then each is 404 with the reason: no rejected rows (the first version's file is not served for the
    # second), no run at all
    clean = get("/pos/rejects", "pos/northwind/clean.csv")
    assert (
        clean["status"] == 404
        and message(clean) == "the newest version of pos/northwind/clean.csv has no rejected rows"
    )
    fixed = get("/pos/rejects", "pos/northwind/fixed.csv")
    assert fixed["status"] == 404 and "has no rejected rows" in message(fixed)
    unknown = get("/pos/rejects", "pos/northwind/never-sent.csv")
    assert unknown["status"] == 404 and message(unknown).startswith("no run for pos/northwind/never-sent.csv")


@pytest.mark.parametrize(
    ("route", "key", "why"),
    [
        ("/pos/rejects", None, "no key given"),
        ("/pos/rejects", "", "no key given"),
        (
            "/pos/rejects",
            "rejects/pos/northwind/a.csv.csv",
            "must be a POS file's key",
        ),  # internal: not taken
        ("/pos/rejects", "imports/leads/expo.csv", "must be a POS file's key"),
        ("/pos/rejects", "pos/../config/routing.yaml", "no leading '/', no empty, '.' or '..' segments"),
        ("/pos/rejects", "/pos/northwind/a.csv", "no leading '/'"),
        ("/pos/rejects", "pos/northwind//a.csv", "no empty"),
        ("/pos/rejects", "pos/northwind/a\x00.csv", "control characters"),
        ("/leads/imports/results", None, "no key given"),
        ("/leads/imports/results", "imports/leads/expo.results.csv", "not its results file"),
        ("/leads/imports/results", "imports/leads/expo.xlsx", "must be a trade-show list's key"),
        ("/leads/imports/results", "pos/northwind/a.csv", "must be a trade-show list's key"),
        ("/leads/imports/results", "imports/leads/../../rejects/pos/x.csv", "'..' segments"),
    ],
)
def test_a_key_that_is_not_the_original_files_own_is_400(
    aws: Any, route: str, key: str | None, why: str
) -> None:
    answer = get(route, key)
    assert answer["status"] == 400 and why in message(answer)


def test_a_failed_run_has_no_rejects_to_hand_over_and_says_why(hub: dict, lambda_context: Any) -> None:
    # Given a file the POS function cannot read at all
    put_and_ingest(hub, "pos/northwind/empty.csv", b"", lambda_context)
    # Then its rejects are 404 with the run's own reason
    answer = get("/pos/rejects", "pos/northwind/empty.csv")
    assert answer["status"] == 404
    assert message(answer).startswith("the newest version of pos/northwind/empty.csv was ")


# ---------------------------------------------------------------- trade-show lists
def _import(key: str, body: bytes, context: Any, bucket: str) -> dict[str, Any]:
    from leads_webhook.app import handler

    boto3.client("s3").put_object(Bucket=bucket, Key=key, Body=body)
    return handler(s3_event(bucket, key), context)  # type: ignore[no-any-return]


def test_an_imports_results_are_handed_over_by_the_lists_own_key(
    aws: Any, demo_data: Any, lambda_context: Any
) -> None:
    from leads_webhook.wiring import deployed_services

    deployed_services.cache_clear()
    key = "imports/leads/expo 2026.csv"
    # Before the list is imported there is nothing to hand over
    before = get("/leads/imports/results", key)
    assert before["status"] == 404 and message(before).startswith(
        "no results for imports/leads/expo 2026.csv"
    )
    # Given a list with a good row and a row without an email, imported
    body = b"E-mail,First Name,Company Name,Country\nada@acme.example,Ada,Acme,US\n,Bob,Globex,DE\n"
    _import(key, body, lambda_context, aws.bucket_name())
    # When its results are asked for by the list's own key
    answer = get("/leads/imports/results", key)
    # Then every row is there with its outcome, and the rejected one with its reason
    assert answer["headers"]["content-type"] == "text/csv; charset=utf-8"
    table = rows(answer)
    assert table[0] == ["row", "email", "outcome", "lead_id", "owner", "reason"]
    outcomes = {r[0]: (r[1], r[2]) for r in table[1:]}
    assert outcomes["2"] == ("ada@acme.example", "created") and outcomes["3"][1] == "rejected"
    deployed_services.cache_clear()


def test_a_file_over_a_mebibyte_is_a_redirect_to_a_short_lived_presigned_get(aws: Any) -> None:
    import requests
    from reports_api.files import INLINE_LIMIT

    # Given a results file larger than an answer should carry (written where the import writes it)
    s3 = boto3.client("s3", region_name="us-east-1")
    big = b"row,email,outcome,lead_id,owner,reason\n" + b"2,a@example.com,created,l-1,rep-sam,rule\n" * (
        INLINE_LIMIT // 40 + 1
    )
    s3.put_object(Bucket=aws.bucket_name(), Key="imports/leads/big.results.csv", Body=big)
    # When it is asked for
    answer = get("/leads/imports/results", "imports/leads/big.csv")
    # Then the answer is a redirect to a presigned GET of that object, lasting minutes, not hours
    assert answer["status"] == 302 and answer["raw"] == b""
    location = answer["headers"]["location"]
    assert "/imports/leads/big.results.csv?" in location and "X-Amz-Expires=300" in location
    assert "X-Amz-Signature=" in location and "response-content-disposition=attachment" in location
    # and following it (without the bearer token) gets the file
    fetched = requests.get(location, timeout=10)
    assert fetched.status_code == 200 and fetched.content == big
