"""GET /pos/runs, /pos/inventory, /pos/unmatched: what POS ingestion counted, kept and could not match,
read through the POS store (``shared.store.pos``)."""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache
from typing import TYPE_CHECKING, Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from reports_api.api_models import PosInventory, PosRunView, PosUnmatched
from shared.api_models import JWT_SECURITY, UNAUTHORIZED, Message, json_answer

if TYPE_CHECKING:
    from shared.store.pos import PosStore

router = APIGatewayHttpRouter()


@lru_cache(maxsize=1)
def pos_store() -> PosStore:
    """The POS store, imported and built when a POS route is first asked (the other routes never load it)."""
    from shared.store.pos import DynamoPosStore

    return DynamoPosStore()


def _bad(message: str, status: int = 400) -> Response[Any]:
    return Response(status, "application/json", {"message": message})


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def pos_runs(store: PosStore, key: str) -> dict[str, Any] | None:
    """The run record of the newest version of ``key``, with the earlier versions' records listed."""
    runs = store.runs_of_key(key)
    if not runs:
        return None
    latest = runs[0].view()
    latest["versions"] = [run.view() for run in runs]
    return latest


def pos_inventory(store: PosStore, distributor: str) -> dict[str, Any]:
    """The latest snapshot per part of one distributor, with each part's as-of date."""
    parts = [
        {
            "part_number": part.part_number,
            "as_of_date": part.as_of_date,
            "on_hand": _text(part.on_hand),
            "on_order": _text(part.on_order),
            "run_id": part.run_id,
        }
        for part in store.inventory_of(distributor)
    ]
    return {"distributor": distributor, "parts": sorted(parts, key=lambda p: p["part_number"])}


def pos_unmatched(store: PosStore, limit: int = 3) -> dict[str, Any]:
    """End customers no account matched, with their sell-through and the closest accounts (suggestions
    only: nothing is applied)."""
    from shared.accounts import load_account_matcher

    matcher = load_account_matcher()
    out = []
    for customer in store.unmatched_customers():
        amounts = {currency: str(amount) for currency, amount in customer.amounts.items() if amount}
        if not amounts and not customer.line_count:
            continue  # every line of this name was restated away
        name = customer.end_customer or customer.normalised_name
        out.append(
            {
                "end_customer": name,
                "normalised_name": customer.normalised_name,
                "amounts": amounts,
                "lines": customer.line_count,
                "distributors": customer.distributors,
                "suggestions": [s.__dict__ for s in matcher.suggest(name, limit=limit)],
            }
        )
    return {"unmatched": sorted(out, key=lambda u: u["normalised_name"])}


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
    if not key:
        return _bad("query parameter key is required")
    found = pos_runs(pos_store(), key)
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
    if not distributor:
        return _bad("query parameter distributor is required")
    return Response(200, "application/json", pos_inventory(pos_store(), distributor))


@router.get(
    "/pos/unmatched",
    summary="End customers no account matched, with their sell-through and suggested accounts",
    security=JWT_SECURITY,
    responses={200: json_answer(PosUnmatched, "The unmatched end customers"), 401: UNAUTHORIZED},
)
def get_pos_unmatched() -> Response[Any]:
    return Response(200, "application/json", pos_unmatched(pos_store()))
