"""What the read routes show about POS: run records, inventory, unmatched end customers.

Called by ``reports_api.pos_routes``; the storage is the same ``DynamoPosStore`` the ingestion uses.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pos_ingest.customers import AccountMatcher
from pos_ingest.storage import DynamoPosStore


def _text(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, set):
        return sorted(value)
    return value


def pos_runs(store: DynamoPosStore, key: str) -> dict[str, Any] | None:
    """The run record of the newest version of ``key``, with the earlier versions' records listed."""
    runs = store.runs_for_key(key)
    if not runs:
        return None
    latest = runs[0].view()
    latest["versions"] = [run.view() for run in runs]
    return latest


def pos_inventory(store: DynamoPosStore, distributor: str) -> dict[str, Any]:
    """The latest snapshot per part of one distributor, with each part's as-of date."""
    parts = [
        {
            "part_number": item["part_number"],
            "as_of_date": item["as_of_date"],
            "on_hand": _text(item["on_hand"]),
            "on_order": _text(item.get("on_order")),
            "run_id": item.get("run_id"),
        }
        for item in store.inventory(distributor)
    ]
    return {"distributor": distributor, "parts": sorted(parts, key=lambda p: p["part_number"])}


def pos_unmatched(store: DynamoPosStore, matcher: AccountMatcher, limit: int = 3) -> dict[str, Any]:
    """End customers no account matched, with their sell-through and the closest accounts (suggestions
    only: nothing is applied)."""
    out = []
    for item in store.unmatched():
        amounts = {
            k.removeprefix("amount_"): _text(v) for k, v in item.items() if k.startswith("amount_") and v
        }
        if not amounts and not item.get("line_count"):
            continue  # every line of this name was restated away
        name = item.get("end_customer") or item["normalised_name"]
        out.append(
            {
                "end_customer": name,
                "normalised_name": item["normalised_name"],
                "amounts": amounts,
                "lines": int(item.get("line_count", 0)),
                "distributors": _text(item.get("distributors", set())),
                "suggestions": [s.__dict__ for s in matcher.suggest(name, limit=limit)],
            }
        )
    return {"unmatched": sorted(out, key=lambda u: u["normalised_name"])}
