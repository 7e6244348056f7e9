"""GET /plan/{year}/report under moto: the board report the monthly export wrote to
``reports/plan/<yyyy-mm>/plan-<year>.<format>``, handed over as the template routes it behind the JWT
authorizer (the page in the browser, the CSV and the workbook as attachments; a large one by redirect)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import boto3
import pytest

from tests.handlers.test_download_routes import get as get_with_key
from tests.handlers.test_download_routes import message
from tests.handlers.test_plan_rollup_handler import crm, put_crm_items

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# The year the schedule's export reports today: this year's, but in January the year just ended
YEAR = date.today().year - 1 if date.today().month == 1 else date.today().year
LAST_YEAR = YEAR - 1


def get(path: str) -> dict[str, Any]:
    """The reports function's answer to ``GET path`` (its query as given) with a valid token."""
    return get_with_key(path, None)


def stored(aws: Any, key: str) -> bytes:
    return bytes(
        boto3.client("s3", region_name="us-east-1")
        .get_object(Bucket=aws.bucket_name(), Key=key)["Body"]
        .read()
    )


@pytest.fixture
def exported(aws: Any, lambda_context: Any) -> dict[str, Any]:
    """A tree (World > Acme) with an order in the reported year and the year before, rolled up by the
    nightly schedule; the monthly schedule's export of this month, and the year before's exports of March
    and November."""
    from plan_rollup import app, wiring
    from plan_rollup.export import export_monthly

    wiring.store.cache_clear()
    year = YEAR
    put_crm_items([
        crm("TERRITORY", territory_id="root", name="World", gsi1pk="TERRITORIES", gsi1sk="root"),
        crm("ACCOUNT", account_id="a1", name="Acme Corporation", territory_id="root", gsi1pk="ACCOUNTS",
            gsi1sk="a1", aliases=[], alias_keys=[]),
        crm("ORDER", order_id="o1", account_id="a1", amount=Decimal("1234.50"), currency="USD",
            booked_at=f"{year}-01-05T00:00:00.000000Z", gsi1pk=f"ORDERS#{year}", gsi1sk="o1"),
        crm("ORDER", order_id="o0", account_id="a1", amount=Decimal("987.25"), currency="USD",
            booked_at=f"{LAST_YEAR}-02-05T00:00:00.000000Z", gsi1pk=f"ORDERS#{LAST_YEAR}", gsi1sk="o0"),
    ])  # fmt: skip
    app.handler({"schedule": "plan-nightly"}, lambda_context)
    this_month = app.handler({"schedule": "plan-monthly-export"}, lambda_context)
    march = export_monthly(today=date(LAST_YEAR, 3, 31))
    november = export_monthly(today=date(LAST_YEAR, 11, 30))
    return {"this_month": this_month["keys"], "march": march["keys"], "november": november["keys"]}


def test_the_newest_report_of_a_year_is_handed_over_in_each_format_byte_for_byte(
    aws: Any, exported: dict[str, Any]
) -> None:
    year = YEAR
    keys = {k.rsplit(".", 1)[1]: k for k in exported["this_month"]}
    assert keys["html"] == f"reports/plan/{date.today():%Y-%m}/plan-{year}.html"
    # When the report is asked for without a month or a format
    page = get(f"/plan/{year}/report")
    # Then it is the page the export wrote this month, shown in the browser, with the tree's figures
    assert page["status"] == 200
    assert page["headers"]["content-type"] == "text/html; charset=utf-8"
    assert page["headers"]["content-disposition"] == f'inline; filename="plan-{year}.html"'
    assert page["raw"] == stored(aws, keys["html"])
    assert b"Acme Corporation" in page["raw"] and b"1,234.50" in page["raw"]
    # And the CSV and the workbook are the export's files too, as attachments
    table = get(f"/plan/{year}/report?format=csv")
    assert table["status"] == 200 and table["headers"]["content-type"] == "text/csv; charset=utf-8"
    assert table["headers"]["content-disposition"] == f'attachment; filename="plan-{year}.csv"'
    assert table["raw"] == stored(aws, keys["csv"]) and b"1234.50" in table["raw"]
    book = get(f"/plan/{year}/report?format=xlsx&month={date.today():%Y-%m}")
    assert book["status"] == 200 and book["headers"]["content-type"] == XLSX
    assert book["raw"] == stored(aws, keys["xlsx"]) and book["raw"].startswith(b"PK")


def test_the_month_defaults_to_the_newest_written_and_picks_an_older_one(
    aws: Any, exported: dict[str, Any]
) -> None:
    newest = get(f"/plan/{LAST_YEAR}/report?format=csv")
    assert newest["status"] == 200
    assert newest["raw"] == stored(aws, f"reports/plan/{LAST_YEAR}-11/plan-{LAST_YEAR}.csv")
    march = get(f"/plan/{LAST_YEAR}/report?month={LAST_YEAR}-03")
    assert march["raw"] == stored(aws, f"reports/plan/{LAST_YEAR}-03/plan-{LAST_YEAR}.html")
    assert f"year to date through {LAST_YEAR}-03-31".encode() in march["raw"]
    assert f"year to date through {LAST_YEAR}-11-30".encode() in get(f"/plan/{LAST_YEAR}/report")["raw"]


@pytest.mark.parametrize(
    ("query", "why"),
    [
        ("/plan/20x6/report", "year must be a year"),
        ("/plan/2026/report?format=pdf", "format must be one of html, csv, xlsx, not 'pdf'"),
        ("/plan/2026/report?format=", "format must be one of html, csv, xlsx"),
        ("/plan/2026/report?month=2026-13", "month must be a month of 2026 as yyyy-mm"),
        ("/plan/2026/report?month=2025-11", "month must be a month of 2026 as yyyy-mm"),
        ("/plan/2026/report?month=11", "month must be a month of 2026"),
        (
            "/plan/2026/report?month=2027-02",
            "month must be a month of 2026 as yyyy-mm (e.g. 2026-01), or 2027-01 (the final report), not '2027-02'",
        ),
        ("/plan/2026/report?month=", "month must be a month of 2026"),
    ],
)
def test_a_bad_year_month_or_format_is_400_saying_which(aws: Any, query: str, why: str) -> None:
    answer = get(query)
    assert answer["status"] == 400 and why in message(answer)


def test_a_year_or_month_without_a_report_is_404_naming_what_is_missing(
    aws: Any, exported: dict[str, Any]
) -> None:
    never = get("/plan/2019/report")
    assert never["status"] == 404
    assert (
        message(never)
        == "no board report of 2019 yet: the monthly export writes one on the first of each month"
    )
    future = get(f"/plan/{date.today().year + 1}/report?format=xlsx")
    assert future["status"] == 404 and "no board report of" in message(future)
    may = get(f"/plan/{LAST_YEAR}/report?month={LAST_YEAR}-05&format=csv")
    assert may["status"] == 404 and message(may) == (
        f"no board report of {LAST_YEAR} for {LAST_YEAR}-05 (csv): the monthly export did not write one that month"
    )


def test_a_year_ends_with_its_final_report_written_the_january_after(aws: Any, lambda_context: Any) -> None:
    """The export on 1 January reports the year just ended (figures through 31 December), written in
    January's folder; the route finds it as the year's newest; the new year's own January report is beside it."""
    from plan_rollup import app, wiring
    from plan_rollup.export import export_monthly

    wiring.store.cache_clear()
    put_crm_items([
        crm("TERRITORY", territory_id="root", name="World", gsi1pk="TERRITORIES", gsi1sk="root"),
        crm("ACCOUNT", account_id="a1", name="Acme Corporation", territory_id="root", gsi1pk="ACCOUNTS",
            gsi1sk="a1", aliases=[], alias_keys=[]),
    ])  # fmt: skip
    app.handler({"schedule": "plan-nightly"}, lambda_context)
    december = export_monthly(today=date(2024, 12, 1))
    # an order booked in December, after December's report was written
    put_crm_items([
        crm("ORDER", order_id="o9", account_id="a1", amount=Decimal("4321.09"), currency="USD",
            booked_at="2024-12-20T00:00:00.000000Z", gsi1pk="ORDERS#2024", gsi1sk="o9"),
    ])  # fmt: skip
    app.handler({"schedule": "plan-nightly"}, lambda_context)
    final = export_monthly(today=date(2025, 1, 1))
    assert "reports/plan/2024-12/plan-2024.html" in december["keys"]
    assert final["keys"] == [
        f"reports/plan/2025-01/plan-{year}.{ext}" for year in (2024, 2025) for ext in ("html", "csv", "xlsx")
    ]
    assert final["told"] is True  # the month's notice: the board hears of the final report
    # The year's newest report is the final one, which covers the whole year
    page = get("/plan/2024/report")
    assert page["status"] == 200 and page["raw"] == stored(aws, "reports/plan/2025-01/plan-2024.html")
    assert b"the whole year, figures as of 2025-01-01" in page["raw"] and b"Q1&ndash;Q4" in page["raw"]
    assert b"4,321.09" in page["raw"]  # December's order, which December's own report could not hold
    assert get("/plan/2024/report?month=2025-01&format=csv")["raw"] == stored(
        aws, "reports/plan/2025-01/plan-2024.csv"
    )
    # December's is still there, as the year to date it was
    older = get("/plan/2024/report?month=2024-12")
    assert older["status"] == 200 and b"year to date through 2024-12-01" in older["raw"]
    assert b"4,321.09" not in older["raw"]
    # And 2025 has its own January report beside it (its plan; 2024's figures only as last year's)
    new_year = get("/plan/2025/report")
    assert new_year["status"] == 200 and new_year["raw"] == stored(aws, "reports/plan/2025-01/plan-2025.html")
    assert (
        b"Annual Operating Plan 2025" in new_year["raw"]
        and b"year to date through 2025-01-01" in new_year["raw"]
    )
    # A retried January export rewrites the six files and tells nobody again
    assert export_monthly(today=date(2025, 1, 1))["told"] is False


def test_a_report_over_a_mebibyte_is_a_redirect_to_a_short_lived_presigned_get(aws: Any) -> None:
    import requests
    from reports_api.files import INLINE_LIMIT

    # Given a board page larger than an answer should carry, where the export writes it
    big = (
        b"<!DOCTYPE html><html><body>"
        + b"<p>Acme Corporation 1,234.50</p>" * (INLINE_LIMIT // 30)
        + b"</body></html>"
    )
    key = f"reports/plan/{LAST_YEAR}-06/plan-{LAST_YEAR}.html"
    boto3.client("s3", region_name="us-east-1").put_object(Bucket=aws.bucket_name(), Key=key, Body=big)
    # When the newest report of that year is asked for
    answer = get(f"/plan/{LAST_YEAR}/report")
    # Then the answer is a redirect to a presigned GET of it, lasting minutes, shown as a page
    assert answer["status"] == 302 and answer["raw"] == b""
    location = answer["headers"]["location"]
    assert f"/{key}?" in location and "X-Amz-Expires=300" in location and "X-Amz-Signature=" in location
    assert (
        "response-content-disposition=inline" in location and "response-content-type=text%2Fhtml" in location
    )
    # and following it without the bearer token gets the page
    fetched = requests.get(location, timeout=10)
    assert fetched.status_code == 200 and fetched.content == big
    assert fetched.headers["content-type"].startswith("text/html")
