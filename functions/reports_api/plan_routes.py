"""GET /plan/{year}/nodes/{id}, /plan/{year}/tree, /reps/{id}/attainment, /pipeline: the plan's read side;
GET /plan/{year}/report: the monthly board report the export wrote (from the hub's bucket, ``reports_api.files``).

Reads the rollup items plan_rollup keeps in the plan table (``shared.store.plan``) and shapes them with
``shared.plan_report``; money as exact decimal text, percentages as fractions. Both are imported by the plan
routes when they run (as the POS and CRM stores by theirs): the function's other routes never load the plan
store, the stage catalog's model or PyYAML.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import TYPE_CHECKING, Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from reports_api.api_models import Ambiguous, PipelineView, PlanNodeView, PlanTree, RepAttainment
from reports_api.files import REDIRECT, Refusal, hand_over, size_rule
from shared.api_models import JWT_SECURITY, STORE_BUSY, UNAUTHORIZED, Message, json_answer
from shared.downloads import PLAN_REPORT_FORMATS, plan_report_key, report_months
from shared.store.files import FileStore, file_store

if TYPE_CHECKING:
    from shared.store.plan import DynamoRollupStore, PlanNode

router = APIGatewayHttpRouter()

MAX_TREE_NODES = 2000
MAX_DEPTH = 8


@lru_cache(maxsize=1)
def _store() -> DynamoRollupStore:
    from shared.store.plan import DynamoRollupStore

    return DynamoRollupStore()


def _json(status: int, body: dict[str, Any]) -> Response[Any]:
    return Response(status, "application/json", body)


def _bad(message: str, status: int = 400) -> Response[Any]:
    return _json(status, {"message": message})


def _today() -> date:
    return datetime.now(UTC).date()


def _now_text() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _year(text: str | None) -> int | None:
    if text is None or not text.isdigit() or not 1900 <= int(text) <= 2200:
        return None
    return int(text)


class _Ambiguous(Exception):
    def __init__(self, node_id: str, types: list[str]) -> None:
        self.node_id, self.types = node_id, types


def _resolve(node_id: str, node_type: str | None) -> PlanNode | None:
    """The node an id names; ``_Ambiguous`` when it names several types and no ``?type=`` picks one."""
    found = _store().nodes_with_id(node_id)
    if node_type:
        found = [n for n in found if n.ref.type == node_type.upper()]
    if len(found) > 1:
        raise _Ambiguous(node_id, [n.ref.type.lower() for n in found])
    return found[0] if found else None


def _node_view(node: PlanNode, year: int, today: date) -> dict[str, Any]:
    from shared import plan_report

    store = _store()
    cells = store.cells_of(node.ref, (year - 2, year))
    as_of = store.last_computed(node.ref, (year - 2, year)) or _now_text()
    return plan_report.node_figures(year, node, cells, store.child_nodes(node.ref), today, as_of)


def _type_param() -> tuple[str | None, Response[Any] | None]:
    from shared.store.plan import NODE_TYPES

    node_type = router.current_event.get_query_string_value("type")
    if node_type and node_type.upper() not in NODE_TYPES:
        return None, _bad(f"type must be one of {', '.join(t.lower() for t in NODE_TYPES)}")
    return node_type, None


def _named(node_id: str) -> PlanNode | Response[Any]:
    """The node an id (with ``?type=``) names, or the answer refusing it (400, 404 or 409)."""
    node_type, problem = _type_param()
    if problem:
        return problem
    try:
        node = _resolve(node_id, node_type)
    except _Ambiguous as exc:
        return _json(
            409, {"message": f"{exc.node_id} names several nodes: pick one with ?type=", "types": exc.types}
        )
    return node if node is not None else _bad(f"no plan node {node_id}", 404)


def _roots() -> list[PlanNode] | Response[Any]:
    """The node ``?root=`` names, or every root without one; or the answer refusing it."""
    root_id = router.current_event.get_query_string_value("root")
    if not root_id:
        problem = _type_param()[1]
        return problem if problem else _store().root_nodes()
    root = _named(root_id)
    return root if isinstance(root, Response) else [root]


@router.get(
    "/plan/<year>/nodes/<node_id>",
    summary="One plan node's quarters, year to date and last year: plan, actual, variance and more",
    security=JWT_SECURITY,
    responses={
        200: json_answer(PlanNodeView, "The node's figures"),
        400: json_answer(Message, "Not a year, or an unknown type"),
        401: UNAUTHORIZED,
        404: json_answer(Message, "No such node"),
        409: json_answer(Ambiguous, "The id names nodes of several types"),
        503: STORE_BUSY,
    },
)
def get_plan_node(
    year: str,
    node_id: str,
    type_query: Annotated[
        str | None, Query(alias="type", description="territory, account or opportunity: picks one node type")
    ] = None,
) -> Response[Any]:  # the query parameters are declared for the contract and read from the event
    the_year = _year(year)
    if the_year is None:
        return _bad(f"year {year!r} is not a year")
    node = _named(node_id)
    if isinstance(node, Response):
        return node
    return _json(200, _node_view(node, the_year, _today()))


@router.get(
    "/plan/<year>/tree",
    summary="The plan's figures, nested from a root (or every root) down to a depth",
    security=JWT_SECURITY,
    responses={
        200: json_answer(PlanTree, "The nodes, nested"),
        400: json_answer(Message, "Not a year, a bad depth or an unknown type"),
        401: UNAUTHORIZED,
        404: json_answer(Message, "No such root"),
        409: json_answer(Ambiguous, "The root names nodes of several types"),
        413: json_answer(Message, "Too many nodes: a smaller depth or a lower root"),
        503: STORE_BUSY,
    },
)
def get_plan_tree(
    year: str,
    root_query: Annotated[
        str | None, Query(alias="root", description="the node to start from (default: every root)")
    ] = None,
    depth_query: Annotated[str | None, Query(alias="depth", description="0 to 8 (default 2)")] = None,
    type_query: Annotated[
        str | None, Query(alias="type", description="territory, account or opportunity: picks one node type")
    ] = None,
) -> Response[Any]:  # the query parameters are declared for the contract and read from the event
    the_year = _year(year)
    if the_year is None:
        return _bad(f"year {year!r} is not a year")
    event = router.current_event
    depth_text = event.get_query_string_value("depth", "2") or "2"
    if not depth_text.isdigit() or not 0 <= int(depth_text) <= MAX_DEPTH:
        return _bad(f"depth must be 0 to {MAX_DEPTH}")
    roots = _roots()
    if isinstance(roots, Response):
        return roots
    today = _today()
    budget = [MAX_TREE_NODES]

    def nest(node: PlanNode, depth: int) -> dict[str, Any]:
        budget[0] -= 1
        if budget[0] < 0:
            raise OverflowError
        view = _node_view(node, the_year, today)
        if depth > 0:
            children = _store().child_nodes(node.ref)
            view["children"] = [nest(child, depth - 1) for child in children]
        return view

    try:
        nodes = [nest(root, int(depth_text)) for root in roots]
    except OverflowError:
        return _bad(f"more than {MAX_TREE_NODES} nodes: ask for a smaller depth or a lower root", 413)
    return _json(200, {"year": the_year, "depth": int(depth_text), "nodes": nodes, "as_of": _now_text()})


@router.get(
    "/pipeline",
    summary="The open pipeline by stage (count, amount, weighted) under a root, for a year or a quarter",
    security=JWT_SECURITY,
    responses={
        200: json_answer(PipelineView, "The funnel"),
        400: json_answer(Message, "No year, a bad quarter or an unknown type"),
        401: UNAUTHORIZED,
        404: json_answer(Message, "No such root"),
        409: json_answer(Ambiguous, "The root names nodes of several types"),
        503: STORE_BUSY,
    },
)
def get_pipeline(
    year_query: Annotated[str | None, Query(alias="year", description="e.g. 2026 (required)")] = None,
    quarter_query: Annotated[
        str | None, Query(alias="quarter", description="1 to 4 (default: the whole year)")
    ] = None,
    root_query: Annotated[
        str | None, Query(alias="root", description="the node to sum under (default: every root)")
    ] = None,
    type_query: Annotated[
        str | None, Query(alias="type", description="territory, account or opportunity: picks one node type")
    ] = None,
) -> Response[Any]:  # the query parameters are declared for the contract and read from the event
    from shared import plan_report
    from shared.config_schemas.stages import StageCatalog
    from shared.config_store import load_config
    from shared.store.plan import RollupCell, StageFigure

    event = router.current_event
    the_year = _year(event.get_query_string_value("year"))
    if the_year is None:
        return _bad("query parameter year is required (e.g. 2026)")
    quarter_text = event.get_query_string_value("quarter")
    if quarter_text is not None and quarter_text not in ("1", "2", "3", "4"):
        return _bad("quarter must be 1 to 4")
    quarters = [int(quarter_text)] if quarter_text else [1, 2, 3, 4]
    roots = _roots()
    if isinstance(roots, Response):
        return roots
    root_id = event.get_query_string_value("root")
    store = _store()
    refs = [n.ref for n in roots]
    total = RollupCell()
    for ref in refs:
        for (year, quarter), cell in store.cells_of(ref, (the_year, the_year)).items():
            if year == the_year and quarter in quarters:
                total.add_pipeline(cell)
    stages = plan_report.funnel(total, load_config("stages.yaml", StageCatalog))
    summed = sum(total.pipeline.values(), StageFigure())
    return _json(
        200,
        {
            "root": root_id,
            "year": the_year,
            "quarter": int(quarter_text) if quarter_text else None,
            "stages": stages,
            "count": summed.count,
            "amount": plan_report.money(summed.amount),
            "weighted_amount": plan_report.money(summed.weighted),
            "weighted_pipeline": plan_report.money(total.weighted_pipeline),
        },
    )


@router.get(
    "/reps/<rep_id>/attainment",
    summary="A rep's attainment: quota against the actuals of the accounts they own, and activity points",
    security=JWT_SECURITY,
    responses={
        200: json_answer(RepAttainment, "The rep's attainment"),
        400: json_answer(Message, "Not a year"),
        401: UNAUTHORIZED,
        404: json_answer(Message, "No such rep"),
        503: STORE_BUSY,
    },
)
def get_rep_attainment(
    rep_id: str,
    year_query: Annotated[
        str | None, Query(alias="year", description="e.g. 2026 (default: this year)")
    ] = None,
) -> Response[Any]:  # the query parameter is declared for the contract and read from the event
    from shared import plan_report
    from shared.store.crm import DynamoCrmStore
    from shared.store.plan import NodeRef

    the_year = _year(router.current_event.get_query_string_value("year") or str(_today().year))
    if the_year is None:
        return _bad("year must be a year (e.g. 2026)")
    crm = DynamoCrmStore()
    rep = crm.get_rep(rep_id)
    if rep is None:
        return _bad(f"no rep {rep_id}", 404)
    store = _store()
    accounts = [NodeRef("ACCOUNT", a.account_id) for a in crm.list_accounts() if a.owner == rep_id]
    account_cells = [store.cells_of(ref, (the_year, the_year)) for ref in accounts]
    start = datetime(the_year, 1, 1, tzinfo=UTC)
    activities = [
        plan_report.Activity(a.at.astimezone(UTC).date(), Decimal(a.points))
        for a in crm.activities_of_rep(rep_id, start, start.replace(year=the_year + 1))
    ]
    view = plan_report.rep_attainment(rep.model_dump(), the_year, account_cells, activities, _today())
    view["accounts"] = [ref.id for ref in accounts]
    return _json(200, view)


_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def newest_report_month(files: FileStore, year: int, extension: str, today: date) -> str | None:
    """The newest month (``yyyy-mm``) the monthly export wrote ``year``'s board report as ``extension``.

    The export writes a year's report in that year's months and its final one in the January after
    (``report_months``), so at most thirteen HEADs find it (newest first, none after ``today``): the
    function reads objects, it never lists the bucket."""
    now = f"{today:%Y-%m}"
    for month in reversed(report_months(year)):
        if month <= now and files.size_of(plan_report_key(year, month, extension)) is not None:
            return month
    return None


def plan_report(
    files: FileStore, year_text: str, month: str | None, extension: str | None, today: date
) -> Response[Any]:
    """The board report of ``year_text`` that the export wrote in ``month`` (default: the newest), as
    ``extension`` (html, the default, shown in the browser; csv or xlsx, saved)."""
    year = _year(year_text)
    if year is None:
        return Refusal(400, f"year must be a year (e.g. {today.year}), not {year_text!r}").answer()
    extension = "html" if extension is None else extension
    if extension not in PLAN_REPORT_FORMATS:
        return Refusal(
            400, f"format must be one of {', '.join(PLAN_REPORT_FORMATS)}, not {extension!r}"
        ).answer()
    if month is None:
        month = newest_report_month(files, year, extension, today)
        if month is None:
            return Refusal(
                404,
                f"no board report of {year} yet: the monthly export writes one on the first of each month",
            ).answer()
    elif _MONTH.match(month) is None or month not in report_months(year):
        return Refusal(
            400,
            f"month must be a month of {year} as yyyy-mm (e.g. {year}-01), or {year + 1}-01 (the final "
            f"report), not {month!r}",
        ).answer()
    return hand_over(
        files,
        plan_report_key(year, month, extension),
        f"no board report of {year} for {month} ({extension}): the monthly export did not write one that month",
        PLAN_REPORT_FORMATS[extension],
        "inline" if extension == "html" else "attachment",
    )


@router.get(
    "/plan/<year>/report",
    summary="The monthly board report of a year: plan vs actual per level of the tree (HTML, CSV or XLSX)",
    description=(
        "The file the monthly export wrote (reports/plan/<yyyy-mm>/plan-<year>.<format>): by default the "
        "newest month's, as HTML (shown in the browser; CSV and XLSX are attachments). "
        + size_rule("the file's own type")
    ),
    security=JWT_SECURITY,
    responses={
        200: {
            "description": "The report: a self-contained HTML page, the CSV (one row per node) or the workbook",
            "content": {
                "text/html": {"schema": {"type": "string"}},
                "text/csv": {"schema": {"type": "string"}},
                PLAN_REPORT_FORMATS["xlsx"]: {"schema": {"type": "string", "format": "binary"}},
            },
        },
        302: REDIRECT,
        400: json_answer(
            Message, "Not a year, a month that is not yyyy-mm of that year, or an unknown format"
        ),
        401: UNAUTHORIZED,
        404: json_answer(Message, "No report of that year (yet), or none written that month"),
    },
)
def get_plan_report(
    year: str,
    month_query: Annotated[
        str | None,
        Query(
            alias="month",
            description="yyyy-mm, the month the export wrote it (default: the newest; a year's final report, "
            "with December's figures, is the next January's)",
        ),
    ] = None,
    format_query: Annotated[
        str | None, Query(alias="format", description="html (default), csv or xlsx")
    ] = None,
) -> Response[Any]:  # the query parameters are declared for the contract and read from the event
    event = router.current_event
    return plan_report(
        file_store(),
        year,
        event.get_query_string_value("month"),
        event.get_query_string_value("format"),
        _today(),
    )
