"""Files the hub writes for people to read, and the read routes that hand them over.

A POS file's rejected rows go to ``rejects/<original key>.csv``; a trade-show list's results to
``imports/leads/<name>.results.csv`` beside the list. People never build these keys: the read API takes
the ORIGINAL file's key, as ``GET /pos/runs?key=`` does (``GET /pos/rejects?key=``,
``GET /leads/imports/results?key=``), and the emails that mention the files name those routes
(``download_link``). The writers (``pos_ingest``, ``leads_webhook``), the reader (``reports_api``), the
emails (``alerts``) and the ``hub`` command line take the layout from here, so no two spell it.

The monthly board report (``plan_rollup``'s export) goes to ``reports/plan/<yyyy-mm>/plan-<year>.<format>``
(html, csv, xlsx); ``GET /plan/{year}/report?month=&format=`` hands it over (``plan_report_key``). It is
the report of the month just closed (``report_year``): in January, the year just ended, so each year's
last report, its final one with December's figures, is written in the January after it
(``reports/plan/2027-01/plan-2026.*``; ``report_months``), beside the new year's own first report
(``reports/plan/2027-01/plan-2027.*``).
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING
from urllib.parse import quote

if TYPE_CHECKING:
    from shared.links import LinkSigner

IMPORT_PREFIX = "imports/leads/"
RESULTS_SUFFIX = ".results.csv"
REJECTS_PREFIX = "rejects/"

POS_REJECTS_ROUTE = "/pos/rejects"
IMPORT_RESULTS_ROUTE = "/leads/imports/results"

PLAN_REPORT_PREFIX = "reports/plan/"
# The board report's formats, each with the content type it is handed over as.
PLAN_REPORT_FORMATS = {
    "html": "text/html; charset=utf-8",
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def is_import_key(key: str) -> bool:
    """A trade-show list (not the results file its import writes beside it)."""
    return key.startswith(IMPORT_PREFIX) and key.lower().endswith(".csv") and not key.endswith(RESULTS_SUFFIX)


def results_key(key: str) -> str:
    """Where the import of the list ``key`` writes every row's outcome."""
    return key[: -len(".csv")] + RESULTS_SUFFIX


def rejects_key_of(key: str) -> str:
    """Where the POS run of ``key`` writes its rejected rows, once the file is read whole."""
    return f"{REJECTS_PREFIX}{key}.csv"


def key_problem(key: str) -> str | None:
    """Why ``key`` cannot name a file of the hub's bucket (None when it can): empty, absolute, with a
    ``.``/``..`` segment or an empty one, or with control characters."""
    if not key:
        return "no key given"
    if key.startswith("/") or any(part in ("", ".", "..") for part in key.split("/")):
        return "the key must be a plain S3 key (no leading '/', no empty, '.' or '..' segments)"
    if any(ord(c) < 32 or ord(c) == 127 for c in key):
        return "the key holds control characters"
    return None


def download_link(api_url: str, route: str, key: str, signer: LinkSigner | None = None) -> str:
    """The read route that hands over the file made of ``key``, on the API at ``api_url`` when it is known
    (``https://…/pos/rejects?key=pos/DIST-A/week%201.csv``), else the route alone with ``GET``; with a
    ``signer``, its signed link that opens without a token (``shared.links``)."""
    signed = signer.link(route, {"key": key}) if signer is not None else None
    if signed is not None:
        return signed
    path = f"{route}?key={quote(key, safe='/')}"
    return f"{api_url.rstrip('/')}{path}" if api_url else f"GET {path}"


def plan_report_key(year: int, month: str, extension: str) -> str:
    """Where the monthly export of ``month`` (``yyyy-mm``) writes the board report of ``year`` as ``extension``."""
    return f"{PLAN_REPORT_PREFIX}{month}/plan-{year}.{extension}"


def report_year(today: date) -> int:
    """The year whose board report the monthly export writes on ``today``: the year of the month just
    closed (this year's; in January, the year just ended: its final report, figures through 31 December)."""
    return today.year - 1 if today.month == 1 else today.year


def report_months(year: int) -> list[str]:
    """The months (``yyyy-mm``, oldest first) whose export may have written ``year``'s board report: the
    year's own (January's beside the final report of the year before) and the next January (the final
    report)."""
    return [f"{year}-{month:02d}" for month in range(1, 13)] + [f"{year + 1}-01"]


def plan_report_route(year: int) -> str:
    """The read route that hands over ``year``'s board report."""
    return f"/plan/{year}/report"


def plan_report_link(
    api_url: str, year: int, month: str, extension: str, signer: LinkSigner | None = None
) -> str:
    """The read route that hands over ``month``'s board report of ``year`` as ``extension``, on the API at
    ``api_url`` when it is known, else the route alone with ``GET``; signed with a ``signer`` (as
    ``download_link``)."""
    signed = signer.link(plan_report_route(year), {"month": month, "format": extension}) if signer else None
    if signed is not None:
        return signed
    path = f"{plan_report_route(year)}?month={quote(month)}&format={quote(extension)}"
    return f"{api_url.rstrip('/')}{path}" if api_url else f"GET {path}"
