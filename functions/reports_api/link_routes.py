"""GET /links/…: the file routes as the links in emails name them, signed instead of authorized.

Each answers what its token route answers (``GET /pos/rejects``, ``GET /leads/imports/results``,
``GET /plan/{year}/report``) once ``shared.links.check`` accepts the link's signature and expiry: 403
for a link the hub did not sign (or signed with a key since replaced), 410 for an expired one. API
Gateway puts no authorizer on these three routes (the template says ``Authorizer: NONE`` for each, and
for nothing else of this function); the link's signature covers the route and its whole query, so a link
opens the one file it was made for.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from reports_api.files import REDIRECT, Refusal
from shared.api_models import Message, json_answer, text_answer
from shared.api_paths import path_value
from shared.downloads import IMPORT_RESULTS_ROUTE, PLAN_REPORT_FORMATS, POS_REJECTS_ROUTE
from shared.links import EXPIRES, LINK_PREFIX, SIGNATURE, LinkRefused, check, secret_key
from shared.store.files import file_store

router = APIGatewayHttpRouter()

_EXPIRES = Query(alias=EXPIRES, description="when the link stops opening the file (unix seconds), as signed")
_SIGNATURE = Query(alias=SIGNATURE, description="the hub's signature of the route, its query and the expiry")


def _docs(what: str, content: Any, missing: str) -> dict[str, Any]:
    return {
        "description": (
            f"{what}, as the link in an email names it: no bearer token; the link's signature and expiry "
            "are checked instead (shared/links.py), then the answer is the token route's own."
        ),
        "responses": {
            200: content,
            302: REDIRECT,
            400: json_answer(Message, "The signed query names no such file"),
            403: json_answer(Message, "The link is not signed by the hub (changed, or its key replaced)"),
            404: json_answer(Message, missing),
            410: json_answer(Message, "The link has expired (the token route still serves the file)"),
        },
    }


def refused(path: str, params: dict[str, str]) -> Response[Any] | None:
    """The answer for a link the hub cannot honour, or None when its signature and expiry hold."""
    from shared.settings import get_settings

    event = router.current_event
    name = get_settings().links_secret_name
    if not name:
        return Refusal(403, "signed links are not enabled on this hub (no link key)").answer()
    try:
        check(
            secret_key(name),
            path,
            params,
            event.get_query_string_value(EXPIRES),
            event.get_query_string_value(SIGNATURE),
            time.time(),
        )
    except LinkRefused as refusal:
        return Refusal(refusal.status, refusal.message).answer()
    return None


def _query(name: str) -> str | None:
    return router.current_event.get_query_string_value(name)


@router.get(
    LINK_PREFIX + POS_REJECTS_ROUTE,
    summary="A POS file's rejected rows, by the signed link in the channel manager's email",
    **_docs("GET /pos/rejects", text_answer("The rejects CSV", "text/csv"), "No rejects file for that key"),
)
def get_linked_pos_rejects(
    key: Annotated[str | None, Query(description="the POS file's S3 key, as signed")] = None,
    expires: Annotated[str | None, _EXPIRES] = None,
    signature: Annotated[str | None, _SIGNATURE] = None,
) -> Response[Any]:
    from reports_api.pos_routes import pos_rejects, pos_store

    found = refused(POS_REJECTS_ROUTE, {"key": key or ""})
    return found or pos_rejects(pos_store(), file_store(), key or "")


@router.get(
    LINK_PREFIX + IMPORT_RESULTS_ROUTE,
    summary="A trade-show list's results, by the signed link in a rep's import email",
    **_docs(
        "GET /leads/imports/results", text_answer("The results CSV", "text/csv"), "No results for that list"
    ),
)
def get_linked_import_results(
    key: Annotated[str | None, Query(description="the trade-show list's S3 key, as signed")] = None,
    expires: Annotated[str | None, _EXPIRES] = None,
    signature: Annotated[str | None, _SIGNATURE] = None,
) -> Response[Any]:
    from reports_api.leads_routes import import_results

    found = refused(IMPORT_RESULTS_ROUTE, {"key": key or ""})
    return found or import_results(file_store(), key or "")


@router.get(
    LINK_PREFIX + "/plan/<year>/report",
    summary="A board report, by the signed link in the board's email",
    **_docs(
        "GET /plan/{year}/report",
        {
            "description": "The report (HTML shown in the browser, CSV or XLSX saved)",
            "content": {t: {"schema": {"type": "string"}} for t in PLAN_REPORT_FORMATS.values()},
        },
        "No report of that year for that month",
    ),
)
def get_linked_plan_report(
    year: str,
    month_query: Annotated[str | None, Query(alias="month", description="yyyy-mm, as signed")] = None,
    format_query: Annotated[
        str | None, Query(alias="format", description="html, csv or xlsx, as signed")
    ] = None,
    expires: Annotated[str | None, _EXPIRES] = None,
    signature: Annotated[str | None, _SIGNATURE] = None,
) -> Response[Any]:
    from reports_api.plan_routes import _today, plan_report

    month, extension = _query("month"), _query("format")
    found = refused(f"/plan/{path_value(year)}/report", {"month": month or "", "format": extension or ""})
    return found or plan_report(file_store(), year, month, extension, _today())
