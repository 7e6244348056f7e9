"""Loads the demo data set (``demo/demo.yaml``) into the CRM table: the rep records routing reads, too."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

DEMO_PATH = Path(__file__).resolve().parents[2] / "demo" / "demo.yaml"


def load_demo(path: Path = DEMO_PATH) -> dict[str, int]:
    from shared.tables import AccountItem, RepItem, TerritoryItem

    data: dict[str, list[dict[str, Any]]] = yaml.safe_load(path.read_text(encoding="utf-8"))
    now = datetime.now(UTC)
    stamp = now.isoformat()
    with TerritoryItem.batch_write() as batch:
        for t in data.get("territories", []):
            batch.save(TerritoryItem(pk=f"TERRITORY#{t['id']}", sk="TERRITORY", territory_id=t["id"], name=t["name"],
                                     parent_id=t.get("parent_id"), owner=t.get("owner"), occurred_at=stamp,
                                     gsi1pk="TERRITORIES", gsi1sk=t["id"], updated_at=now))  # fmt: skip
    with RepItem.batch_write() as batch:
        for r in data.get("reps", []):
            batch.save(RepItem(pk=f"REP#{r['id']}", sk="REP", rep_id=r["id"], name=r["name"], email=r["email"],
                               manager_id=r.get("manager_id"), territory_id=r.get("territory_id"),
                               capacity=r.get("capacity"), occurred_at=stamp, gsi1pk="REPS", gsi1sk=r["id"],
                               out_of_office={"periods": [{"start": str(p["start"]), "end": str(p["end"])}
                                                          for p in r.get("out_of_office", [])]},
                               updated_at=now))  # fmt: skip
    with AccountItem.batch_write() as batch:
        for a in data.get("accounts", []):
            batch.save(AccountItem(pk=f"ACCOUNT#{a['id']}", sk="ACCOUNT", account_id=a["id"], name=a["name"],
                                   territory_id=a.get("territory_id"), owner=a.get("owner"),
                                   key_account=bool(a.get("key_account")), aliases=a.get("aliases", []),
                                   occurred_at=stamp, gsi1pk="ACCOUNTS", gsi1sk=a["id"], updated_at=now))  # fmt: skip
    return {kind: len(items) for kind, items in data.items()}
