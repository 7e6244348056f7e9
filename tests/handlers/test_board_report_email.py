# ruff: noqa: F811 - the fixtures are imported from the alerts tests
"""The board is told when the monthly export has written the board report, under moto: the plan_rollup
schedule writes the files and the month's notice, the alerts function gets the CRM stream's records as the
template's filter delivers them, and emails the addresses alerts.yaml lists, once, with the links."""

from __future__ import annotations

import base64
import html
import re
from collections import Counter
from datetime import date
from typing import Any

import pytest

from tests.handlers.test_alerts_handler import (  # noqa: F401 - the fixtures
    alerts,
    crm_stream,
    emails,
    put_alerts_config,
    sent_to,
)

API = "https://HttpApi.execute-api.us-east-1.amazonaws.com"  # HUB_API_URL, as the template sets it


def test_the_monthly_export_tells_the_board_once_with_links_that_open_the_report(
    aws: Any, alerts: Any, crm_stream: Any, lambda_context: Any
) -> None:
    from plan_rollup import app as rollup
    from plan_rollup import wiring
    from reports_api.app import handler as reports

    from tests.helpers import http_event

    wiring.store.cache_clear()
    put_alerts_config(aws, recipients={"board_report": {"to": ["ceo@acme.example", "Board@Acme.example"]}})
    crm_stream()  # what the demo wrote is not this test's
    # Given the demo's tree rolled up, when the monthly schedule runs
    rollup.handler({"schedule": "plan-nightly"}, lambda_context)
    first = rollup.handler({"schedule": "plan-monthly-export"}, lambda_context)
    assert first["told"] is True and first["nodes"] > 1
    # Then the alerts function gets the month's notice, and nothing else of the export
    event = crm_stream()
    assert Counter((r["eventName"], r["dynamodb"]["NewImage"]["entity"]["S"]) for r in event["Records"]) == {
        ("INSERT", "BOARD_REPORT"): 1
    }
    # delivered twice (at least once), it tells each listed address once
    assert alerts(event) == {"batchItemFailures": []}
    assert alerts(event) == {"batchItemFailures": []}
    month = f"{date.today():%Y-%m}"
    # the year the export reports: this year's, but in January the year just ended (its final report)
    year, what = (
        (date.today().year - 1, "final report")
        if date.today().month == 1
        else (date.today().year, "plan vs actual")
    )
    subject = f"The monthly board report is ready: Annual Operating Plan {year}, {what} ({month})"
    assert sorted(sent_to()) == [("board@acme.example", subject), ("ceo@acme.example", subject)]
    body = emails()[0].body
    links = {
        ext: html.unescape(re.search(rf'{label}</th><td><a href="([^"]+)">', body)[1])  # type: ignore[index]
        for ext, label in (("html", "Open the report"), ("csv", "CSV"), ("xlsx", r"Workbook \(XLSX\)"))
    }
    for ext, link in links.items():  # signed links to the route (shared/links.py)
        assert link.startswith(f"{API}/links/plan/{year}/report?month={month}&format={ext}&expires="), link

    # And the page's link opens the page the export wrote, without a token (a click in a mail client)
    path = links["html"].removeprefix(API)
    answer = reports(http_event("GET", path), lambda_context)
    assert answer["statusCode"] == 200 and answer["headers"]["Content-Type"] == "text/html; charset=utf-8"
    assert b"Annual Operating Plan" in base64.b64decode(answer["body"])
    # the workbook's link is the workbook, not the page
    book = reports(http_event("GET", links["xlsx"].removeprefix(API)), lambda_context)
    assert book["statusCode"] == 200 and base64.b64decode(book["body"]).startswith(b"PK")

    # And a retried schedule rewrites the files but tells nobody again
    again = rollup.handler({"schedule": "plan-monthly-export"}, lambda_context)
    assert again["told"] is False and again["keys"] == first["keys"]
    assert [r for r in crm_stream()["Records"] if r["eventName"] == "INSERT"] == []
    assert len(emails()) == 2


def test_the_final_report_of_a_year_says_so_in_its_subject() -> None:
    from alerts.render import render_alert

    links = {ext: f"{API}/plan/2024/report?month=2025-01&format={ext}" for ext in ("html", "csv", "xlsx")}
    final = render_alert("board_report", {"year": 2024, "month": "2025-01", "nodes": 3, "links": links}, "")
    assert (
        final.subject
        == "The monthly board report is ready: Annual Operating Plan 2024, final report (2025-01)"
    )
    assert f"Open the report: {links['html']}" in final.text
    monthly = render_alert("board_report", {"year": 2024, "month": "2024-12", "nodes": 3, "links": {}}, "")
    assert monthly.subject.endswith("Annual Operating Plan 2024, plan vs actual (2024-12)")


def test_the_shipped_config_names_a_board_address_and_a_role_there_is_refused() -> None:
    from pydantic import ValidationError

    from shared.config_schemas.alerts import AlertsConfig

    assert AlertsConfig().recipients.board_report.to == ("board@example.com",)
    with pytest.raises(ValidationError, match=r"fixed addresses only .* not the role 'owner'"):
        AlertsConfig.model_validate({"recipients": {"board_report": {"to": ["cfo@acme.example", "owner"]}}})
    with pytest.raises(ValidationError, match="not a single plain email address"):
        AlertsConfig.model_validate({"recipients": {"board_report": {"to": ["cfo@acme"]}}})


def test_the_template_lets_plan_rollup_write_the_notice_and_no_other_crm_item() -> None:
    from hub.local.template import HubTemplate

    policies = HubTemplate().resources["PlanRollupFunction"]["Properties"]["Policies"]
    writes = [
        statement
        for policy in policies
        if isinstance(policy, dict)
        for statement in policy.get("Statement", [])
        if "dynamodb:" in str(statement["Action"])
    ]
    assert writes == [
        {
            "Effect": "Allow",
            "Action": "dynamodb:PutItem",
            "Resource": {"Fn::GetAtt": ["CrmTable", "Arn"]},
            "Condition": {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["BOARD_REPORT#*"]}},
        }
    ]
    # the CRM table otherwise read only, as before
    assert {"DynamoDBReadPolicy": {"TableName": {"Ref": "CrmTable"}}} in policies
    assert not any("DynamoDBCrudPolicy" in p and p["DynamoDBCrudPolicy"] == {"TableName": {"Ref": "CrmTable"}}
                   for p in policies if isinstance(p, dict))  # fmt: skip
