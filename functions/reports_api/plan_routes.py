"""GET /plan/{year}/nodes/{id}, /plan/{year}/tree, /reps/{id}/attainment, /pipeline: the plan's read side.

Reads the rollup items plan_rollup keeps in the plan table (``shared.store.plan``) and shapes them with
``shared.plan_report``; money as exact decimal text, percentages as fractions.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from shared import plan_report
from shared.store.plan import NODE_TYPES, DynamoRollupStore, NodeRef, PlanNode, RollupCell, StageFigure

router = APIGatewayHttpRouter()

MAX_TREE_NODES = 2000
MAX_DEPTH = 8


@lru_cache(maxsize=1)
def _store() -> DynamoRollupStore:
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
    store = _store()
    cells = store.cells_of(node.ref, (year - 2, year))
    as_of = store.last_computed(node.ref, (year - 2, year)) or _now_text()
    return plan_report.node_figures(year, node, cells, store.child_nodes(node.ref), today, as_of)


def _type_param() -> tuple[str | None, Response[Any] | None]:
    node_type = router.current_event.get_query_string_value("type")
    if node_type and node_type.upper() not in NODE_TYPES:
        return None, _bad(f"type must be one of {', '.join(t.lower() for t in NODE_TYPES)}")
    return node_type, None


@router.get("/plan/<year>/nodes/<node_id>")
def get_plan_node(year: str, node_id: str) -> Response[Any]:
    the_year = _year(year)
    if the_year is None:
        return _bad(f"year {year!r} is not a year")
    node_type, problem = _type_param()
    if problem:
        return problem
    try:
        node = _resolve(node_id, node_type)
    except _Ambiguous as exc:
        return _json(
            409, {"message": f"{exc.node_id} names several nodes: pick one with ?type=", "types": exc.types}
        )
    if node is None:
        return _bad(f"no plan node {node_id}", 404)
    return _json(200, _node_view(node, the_year, _today()))


@router.get("/plan/<year>/tree")
def get_plan_tree(year: str) -> Response[Any]:
    the_year = _year(year)
    if the_year is None:
        return _bad(f"year {year!r} is not a year")
    event = router.current_event
    depth_text = event.get_query_string_value("depth", "2") or "2"
    if not depth_text.isdigit() or not 0 <= int(depth_text) <= MAX_DEPTH:
        return _bad(f"depth must be 0 to {MAX_DEPTH}")
    node_type, problem = _type_param()
    if problem:
        return problem
    root_id = event.get_query_string_value("root")
    if root_id:
        try:
            root = _resolve(root_id, node_type)
        except _Ambiguous as exc:
            return _json(
                409,
                {"message": f"{exc.node_id} names several nodes: pick one with ?type=", "types": exc.types},
            )
        if root is None:
            return _bad(f"no plan node {root_id}", 404)
        roots = [root]
    else:
        roots = _store().root_nodes()
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


@router.get("/pipeline")
def get_pipeline() -> Response[Any]:
    from shared.config_schemas.stages import StageCatalog
    from shared.config_store import load_config

    event = router.current_event
    the_year = _year(event.get_query_string_value("year"))
    if the_year is None:
        return _bad("query parameter year is required (e.g. 2026)")
    quarter_text = event.get_query_string_value("quarter")
    if quarter_text is not None and quarter_text not in ("1", "2", "3", "4"):
        return _bad("quarter must be 1 to 4")
    quarters = [int(quarter_text)] if quarter_text else [1, 2, 3, 4]
    node_type, problem = _type_param()
    if problem:
        return problem
    root_id = event.get_query_string_value("root")
    store = _store()
    if root_id:
        try:
            root = _resolve(root_id, node_type)
        except _Ambiguous as exc:
            return _json(
                409,
                {"message": f"{exc.node_id} names several nodes: pick one with ?type=", "types": exc.types},
            )
        if root is None:
            return _bad(f"no plan node {root_id}", 404)
        refs = [root.ref]
    else:
        refs = [n.ref for n in store.root_nodes()]
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


@router.get("/reps/<rep_id>/attainment")
def get_rep_attainment(rep_id: str) -> Response[Any]:
    from shared.store.crm import DynamoCrmStore

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
