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
    counts = {kind: len(items) for kind, items in data.items() if isinstance(items, list)}
    counts |= load_alert_demo(store, data.get("alert_demo") or {}, loaded)  # type: ignore[arg-type]
    return counts


def load_alert_demo(store: Any, demo: dict[str, list[dict[str, Any]]], loaded: Any) -> dict[str, int]:
    """What the alert sweeps find on a fresh hub: times relative to now (``*_hours_ago``, ``*_days_ago``,
    ``*_days_ahead``), written through the CRM store like the events' writers write them."""
    from contextlib import suppress
    from datetime import timedelta

    from shared.leads import lead_id_for
    from shared.store import crm

    now = loaded.occurred_at

    def ago(row: dict[str, Any], name: str) -> datetime | None:
        if f"{name}_hours_ago" in row:
            return now - timedelta(hours=float(row.pop(f"{name}_hours_ago")))
        if f"{name}_days_ago" in row:
            return now - timedelta(days=float(row.pop(f"{name}_days_ago")))
        if f"{name}_days_ahead" in row:
            return now + timedelta(days=float(row.pop(f"{name}_days_ahead")))
        return None

    for row in (dict(r) for r in demo.get("leads", [])):
        assigned = ago(row, "assigned") or now
        lead_id = lead_id_for(row["email"].strip().lower())
        assignment = {"reason": "rule", "owner_type": "rep", "owner": row["owner"], "at": assigned.isoformat(),
                      "summary": "demo: assigned and not yet contacted"}  # fmt: skip
        lead = crm.Lead.model_validate({**row, "lead_id": lead_id, "status": "New", "source": "demo",
                                        "assignment": assignment, "created_at": assigned, "updated_at": assigned})  # fmt: skip
        submission = crm.LeadSubmission(submission_id=f"demo-{lead_id}", lead_id=lead_id, received_at=assigned,
                                        source="demo", outcome="created")  # fmt: skip
        with suppress(crm.Conflict):  # loaded before (the same person)
            store.create_lead(lead, submission)
    for row in (dict(r) for r in demo.get("opportunities", [])):
        close, step = ago(row, "close_date"), ago(row, "next_step")
        fields = {**row, "opportunity_id": row["id"], "last_activity_at": ago(row, "last_activity"),
                  "close_date": close.date() if close else None, "next_step_date": step.date() if step else None,
                  "outcome": "open"}  # fmt: skip
        store.upsert_opportunity(crm.Opportunity.model_validate(fields), loaded)
    for row in (dict(r) for r in demo.get("escalations", [])):
        store.upsert_escalation(
            crm.Escalation.model_validate({**row, "escalation_id": row["id"], "due_at": ago(row, "due")}),
            loaded,
        )
    for row in (dict(r) for r in demo.get("samples", [])):
        fields = {
            **row,
            "sample_id": row["id"],
            "shipped_at": ago(row, "shipped"),
            "follow_up_at": ago(row, "follow_up"),
        }
        store.upsert_sample(crm.Sample.model_validate(fields), loaded)
    for row in (dict(r) for r in demo.get("activities", [])):
        due = ago(row, "due")
        fields = {**row, "activity_id": row["id"], "due_at": due, "at": due or now, "done": False}
        store.log_activity(crm.Activity.model_validate(fields), loaded)
    return {f"alert_demo.{kind}": len(rows) for kind, rows in demo.items()}
