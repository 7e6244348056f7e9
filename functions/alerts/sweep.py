"""The scheduled sweep: what is due, read through indexes, made into alerts.

Every read is one index query per partition (``shared.store.crm``, "alerts" sections): a rep's open
leads in the speed-to-lead window, each open stage's opportunities last touched before its
threshold, next steps missing or past, open escalations past due, samples and scheduled activities
due. ``SweepFindings.items_read`` counts what the queries returned.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from alerts import sweeps
from alerts.model import Alert
from shared.config_schemas.alerts import AlertsConfig
from shared.config_schemas.stages import StageCatalog
from shared.store.crm import CrmStore


@dataclass
class SweepFindings:
    alerts: list[Alert] = field(default_factory=list)
    items_read: int = 0


def sweep_alerts(store: CrmStore, stages: StageCatalog, config: AlertsConfig, now: datetime) -> SweepFindings:
    """Every alert the sweeps find due at ``now`` (keys per item and period: re-running finds the same)."""
    found = SweepFindings()

    def read(records: list[Any]) -> list[dict[str, Any]]:
        found.items_read += len(records)
        return [r.model_dump() for r in records]

    rule = config.speed_to_lead
    start = now - timedelta(days=rule.look_back_days)
    end = now - timedelta(hours=rule.remind_after_hours)
    first_status = stages.lead_status_names()[0]
    reps = store.list_reps()
    found.items_read += len(reps)
    for rep in reps:
        leads = read(store.open_leads_created_between(rep.rep_id, start, end))
        found.alerts += sweeps.speed_to_lead(leads, now, config, first_status=first_status)
    for stage in stages.opportunity_stages:
        if stage.outcome != "open":
            continue
        before = now - timedelta(days=config.stale_opportunity.days_for(stage.name))
        found.alerts += sweeps.stale_opportunities(
            read(store.stale_opportunities(stage.name, before)), now, config
        )
    found.alerts += sweeps.next_step(read(store.opportunities_next_step_due(now.date())), now, config)
    escalations = store.open_escalations_due(now)
    found.items_read += len(escalations)
    # An escalation without a due time is due from its opening (the store's ``due``).
    found.alerts += sweeps.overdue_escalations(
        [{**e.model_dump(), "due_at": e.due} for e in escalations], now, config
    )
    samples = read(store.samples_due(now))
    opportunity_ids = {str(s["opportunity_id"]) for s in samples if s.get("opportunity_id")}
    owners = {i: o.owner for i, o in store.get_opportunities(opportunity_ids).items() if o.owner}
    found.items_read += len(opportunity_ids)
    found.alerts += sweeps.samples_due(samples, now, config, owners)
    found.alerts += sweeps.activities_overdue(read(store.activities_due(now)), now, config)
    return found
