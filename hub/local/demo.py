"""Loads the demo data set (``demo/demo.yaml``) into the CRM table: the rep records routing reads, too."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

DEMO_PATH = Path(__file__).resolve().parents[2] / "demo" / "demo.yaml"


def load_demo(path: Path = DEMO_PATH) -> dict[str, int]:
    """Territories, reps and accounts through the CRM store, as of now and older than any event after."""
    from shared.store import crm
    from shared.store.common import Version

    data: dict[str, list[dict[str, Any]]] = yaml.safe_load(path.read_text(encoding="utf-8"))
    store = crm.DynamoCrmStore()
    loaded = Version(datetime.now(UTC), "")  # no event id: any event at the same time is newer
    for t in data.get("territories", []):
        store.upsert_territory(crm.Territory.model_validate({**t, "territory_id": t["id"]}), loaded)
    for r in data.get("reps", []):
        store.upsert_rep(crm.Rep.model_validate({**r, "rep_id": r["id"]}), loaded)
    for a in data.get("accounts", []):
        store.upsert_account(crm.Account.model_validate({**a, "account_id": a["id"]}), loaded)
    return {kind: len(items) for kind, items in data.items()}
