"""GET /pos/runs, /pos/inventory, /pos/unmatched: what POS ingestion counted, kept and could not match."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from reports_api.api_models import PosInventory, PosRunView, PosUnmatched
from shared.api_models import JWT_SECURITY, UNAUTHORIZED, Message, json_answer

router = APIGatewayHttpRouter()


def _bad(message: str, status: int = 400) -> Response[Any]:
    return Response(status, "application/json", {"message": message})


@router.get(
    "/pos/runs",
    summary="The run record of one POS file (rows total, accepted, rejected, status)",
    security=JWT_SECURITY,
    responses={
        200: json_answer(PosRunView, "The newest version's run, with every version's"),
        400: json_answer(Message, "No key given"),
        401: UNAUTHORIZED,
        404: json_answer(Message, "No run for that key"),
    },
)
def get_pos_runs(key: Annotated[str | None, Query(description="the file's S3 key")] = None) -> Response[Any]:
    from pos_ingest import queries, wiring

    if not key:
        return _bad("query parameter key is required")
    found = queries.pos_runs(wiring.store(), key)
    if found is None:
        return _bad(f"no run for {key}", 404)
    return Response(200, "application/json", found)


@router.get(
    "/pos/inventory",
    summary="The latest inventory snapshot per part of one distributor",
    security=JWT_SECURITY,
    responses={
        200: json_answer(PosInventory, "The parts"),
        400: json_answer(Message, "No distributor given"),
        401: UNAUTHORIZED,
    },
)
def get_pos_inventory(
    distributor: Annotated[str | None, Query(description="the distributor's id")] = None,
) -> Response[Any]:
    from pos_ingest import queries, wiring

    if not distributor:
        return _bad("query parameter distributor is required")
    return Response(200, "application/json", queries.pos_inventory(wiring.store(), distributor))


@router.get(
    "/pos/unmatched",
    summary="End customers no account matched, with their sell-through and suggested accounts",
    security=JWT_SECURITY,
    responses={200: json_answer(PosUnmatched, "The unmatched end customers"), 401: UNAUTHORIZED},
)
def get_pos_unmatched() -> Response[Any]:
    from pos_ingest import queries, wiring

    return Response(200, "application/json", queries.pos_unmatched(wiring.store(), wiring.load_accounts()))
