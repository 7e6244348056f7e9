"""The scheduled sweep: what is due, read through indexes, made into alerts.

Every read is one index query per partition (``shared.store.crm_sweeps``): a rep's open leads in
the speed-to-lead window, each open stage's opportunities last touched before its threshold, next
steps missing or past, open escalations past due, samples and scheduled activities due.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from alerts import sweeps
from alerts.model import Alert
from shared.alerts_config import AlertsConfig
from shared.stages import StageCatalog
from shared.store.crm_alerts import format_time
from shared.store.crm_sweeps import SweepReads


def sweep_alerts(reads: SweepReads, stages: StageCatalog, config: AlertsConfig, now: datetime) -> list[Alert]:
    """Every alert the sweeps find due at ``now`` (keys per item and period: re-running finds the same)."""
    found: list[Alert] = []
    rule = config.speed_to_lead
    start = (now - timedelta(days=rule.look_back_days)).isoformat()
    end = (now - timedelta(hours=rule.remind_after_hours)).isoformat()
    first_status = stages.lead_status_names()[0]
    for rep_id in reads.list_rep_ids():
        leads = reads.open_leads_created_between(rep_id, start, end)
        found += sweeps.speed_to_lead(leads, now, config, first_status=first_status)
    for stage in stages.opportunity_stages:
        if stage.outcome != "open":
            continue
        before = format_time(now - timedelta(days=config.stale_opportunity.days_for(stage.name)))
        found += sweeps.stale_opportunities(reads.stale_opportunities(stage.name, before), now, config)
    found += sweeps.next_step(reads.opportunities_next_step_due(now.date().isoformat()), now, config)
    found += sweeps.overdue_escalations(reads.open_escalations_due(format_time(now)), now, config)
    samples = list(reads.samples_due(format_time(now)))
    owners = reads.opportunity_owners({str(s["opportunity_id"]) for s in samples if s.get("opportunity_id")})
    found += sweeps.samples_due(samples, now, config, owners)
    found += sweeps.activities_overdue(reads.activities_due(format_time(now)), now, config)
    return found
