"""GET /pos/runs, /pos/inventory, /pos/unmatched: what POS ingestion counted, kept and could not match."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

router = APIGatewayHttpRouter()


def _bad(message: str, status: int = 400) -> Response[Any]:
    return Response(status, "application/json", {"message": message})


@router.get("/pos/runs")
def get_pos_runs() -> Response[Any]:
    from pos_ingest import queries, wiring

    key = router.current_event.get_query_string_value("key")
    if not key:
        return _bad("query parameter key is required")
    found = queries.pos_runs(wiring.store(), key)
    if found is None:
        return _bad(f"no run for {key}", 404)
    return Response(200, "application/json", found)


@router.get("/pos/inventory")
def get_pos_inventory() -> Response[Any]:
    from pos_ingest import queries, wiring

    distributor = router.current_event.get_query_string_value("distributor")
    if not distributor:
        return _bad("query parameter distributor is required")
    return Response(200, "application/json", queries.pos_inventory(wiring.store(), distributor))


@router.get("/pos/unmatched")
def get_pos_unmatched() -> Response[Any]:
    from pos_ingest import queries, wiring

    return Response(200, "application/json", queries.pos_unmatched(wiring.store(), wiring.load_accounts()))
