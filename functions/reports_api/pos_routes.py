"""GET /pos/runs, /pos/rejects, /pos/inventory, /pos/unmatched: what POS ingestion counted, refused, kept
and could not match, read through the POS store (``shared.store.pos``) and, for the rejects file, the hub's
bucket (``reports_api.files``)."""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache
from typing import TYPE_CHECKING, Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from reports_api.api_models import PosInventory, PosRunView, PosUnmatched
from reports_api.files import Refusal, file_route_docs, hand_over
from shared.api_models import JWT_SECURITY, UNAUTHORIZED, Message, json_answer
from shared.downloads import POS_REJECTS_ROUTE, REJECTS_PREFIX, key_problem
from shared.store.files import FileStore, file_store

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


POS_PREFIXES = ("pos/", "inventory/")


def rejects_of(store: PosStore, key: str) -> str | Refusal:
    """The rejects file of the newest version of the POS file ``key`` (its run record names it), or why
    there is none to hand over."""
    problem = key_problem(key)
    if problem is None and not key.startswith(POS_PREFIXES):
        problem = (
            "the key must be a POS file's key (pos/<distributor>/<name> or inventory/<distributor>/<name>)"
        )
    if problem is not None:
        return Refusal(400, f"{problem}: give the POS file's own key, as GET /pos/runs takes it")
    runs = store.runs_of_key(key)
    if not runs:
        return Refusal(404, f"no run for {key}: the hub has not read a file with that key")
    run = runs[0]
    if run.status != "done":
        why = f": {run.error}" if run.error else ""
        when = (
            "is still being read"
            if run.status in ("running", "continuing", "applying")
            else f"was {run.status}"
        )
        return Refusal(404, f"the newest version of {key} {when}{why}; there is no rejects file to hand over")
    if not run.rejected or not run.rejects_key or not run.rejects_key.startswith(REJECTS_PREFIX):
        return Refusal(404, f"the newest version of {key} has no rejected rows")
    return run.rejects_key


def pos_rejects(store: PosStore, files: FileStore, key: str) -> Response[Any]:
    found = rejects_of(store, key)
    if isinstance(found, Refusal):
        return found.answer()
    return hand_over(files, found, f"the rejects file of {key} is gone from the bucket ({found})")


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
    POS_REJECTS_ROUTE,
    summary="Every rejected row of a POS file with its reason (the rejects CSV of its newest version)",
    **file_route_docs(
        "the POS file (as GET /pos/runs takes it)",
        "the file's columns, reject_row, reject_reason",
        "No key, or not a POS file's key",
        "No run for that key, the run is not done, or it rejected no row",
    ),
)
def get_pos_rejects(
    key: Annotated[str | None, Query(description="the POS file's S3 key")] = None,
) -> Response[Any]:
    return pos_rejects(pos_store(), file_store(), key or "")


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
