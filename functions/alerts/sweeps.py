"""What the scheduled sweeps find: pure functions from the items the indexes return to alerts.

Each alert's key carries the item and a period anchored on the item's own time (the lead's
assignment, the opportunity's last activity, the escalation's due time...), so a schedule fired
twice, or a sweep retried after a crash, finds the same keys and sends nothing twice, while a
condition that lasts is reminded once per configured interval.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from alerts.model import Alert, Target
from alerts.rules import OPEN_ESCALATION, targets
from shared.config_schemas.alerts import AlertsConfig
from shared.store.crm import activity_key, escalation_key, lead_key, opportunity_key, sample_key

Item = dict[str, Any]


def parse_time(value: Any) -> datetime | None:
    """A stored time (fixed-width UTC text or any ISO 8601), or None."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def parse_date(value: Any) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def _period(since: timedelta, every: timedelta) -> int:
    """Which reminder this is (0 for the first) when ``since`` has passed since it became due."""
    return max(0, math.floor(since / every))


def _facts(item: Item, names: Iterable[str]) -> Item:
    return {name: item.get(name) for name in names if item.get(name) not in (None, "")}


# ------------------------------------------------------------------ speed to lead
def speed_to_lead(
    leads: Iterable[Item], now: datetime, config: AlertsConfig, first_status: str = "New"
) -> list[Alert]:
    """Leads assigned and untouched: still their first status, no activity since assignment."""
    rule = config.speed_to_lead
    found: list[Alert] = []
    for lead in leads:
        owner = lead.get("owner")
        if not owner or lead.get("quarantined") or str(lead.get("status") or first_status) != first_status:
            continue
        assigned = parse_time((lead.get("assignment") or {}).get("at")) or parse_time(lead.get("created_at"))
        if assigned is None or parse_time(lead.get("last_activity_at")):
            continue
        waited = now - assigned
        facts = {
            **_facts(lead, ("lead_id", "first_name", "last_name", "email", "company", "status")),
            "owner": owner,
            "assigned_at": assigned.isoformat(),
            "hours_waiting": int(waited.total_seconds() // 3600),
        }
        entity, version = lead_key(str(lead.get("lead_id")))[0], f"{owner}#{assigned.isoformat()}"
        hint = (lead.get("assignment") or {}).get("owner_email")
        if waited >= timedelta(hours=rule.remind_after_hours):
            for target in targets("speed_to_lead", config, rep_id=str(owner), address=hint):
                found.append(Alert("speed_to_lead", entity, version, target, facts))
        if waited >= timedelta(hours=rule.manager_after_hours):
            for target in targets("speed_to_lead_manager", config, rep_id=str(owner)):
                found.append(Alert("speed_to_lead_manager", entity, version, target, facts))
    return found


# ------------------------------------------------------------------ opportunities
_OPP_FACTS = (
    "opportunity_id", "name", "account_id", "owner", "stage", "amount", "probability", "close_date",
    "next_step", "next_step_date", "last_activity_at", "stage_entered_at",
)  # fmt: skip


def next_step(opportunities: Iterable[Item], now: datetime, config: AlertsConfig) -> list[Alert]:
    """Open opportunities with no next step, or a next step dated before today."""
    every = timedelta(days=config.next_step.repeat_every_days)
    today = now.date()
    found: list[Alert] = []
    for opp in opportunities:
        entity = opportunity_key(str(opp.get("opportunity_id")))[0]
        owner = opp.get("owner")
        due = parse_date(opp.get("next_step_date"))
        if not str(opp.get("next_step") or "").strip() and due is None:
            # No next step: anchored on when the opportunity entered its stage.
            since = parse_time(opp.get("stage_entered_at")) or parse_time(opp.get("occurred_at")) or now
            kind, version = "next_step_missing", f"{since.isoformat()}#{_period(now - since, every)}"
        elif due is not None and due < today:
            overdue = datetime.combine(due + timedelta(days=1), datetime.min.time(), UTC)
            kind, version = "next_step_overdue", f"{due.isoformat()}#{_period(now - overdue, every)}"
        else:
            continue
        for target in targets(
            kind, config, rep_id=str(owner) if owner else None, account_id=opp.get("account_id")
        ):
            found.append(Alert(kind, entity, version, target, _facts(opp, _OPP_FACTS)))
    return found


def stale_opportunities(opportunities: Iterable[Item], now: datetime, config: AlertsConfig) -> list[Alert]:
    """Open opportunities without activity for longer than their stage allows."""
    rule = config.stale_opportunity
    every = timedelta(days=rule.repeat_every_days)
    found: list[Alert] = []
    for opp in opportunities:
        last = (
            parse_time(opp.get("last_activity_at"))
            or parse_time(opp.get("stage_entered_at"))
            or parse_time(opp.get("occurred_at"))
        )
        if last is None:
            continue
        allowed = timedelta(days=rule.days_for(str(opp.get("stage") or "")))
        if now - last < allowed:
            continue
        version = f"{last.isoformat()}#{_period(now - last - allowed, every)}"
        facts = {**_facts(opp, _OPP_FACTS), "days_idle": (now - last).days, "allowed_days": allowed.days}
        owner = opp.get("owner")
        for target in targets("opportunity_stale", config, rep_id=str(owner) if owner else None,
                              account_id=opp.get("account_id")):  # fmt: skip
            found.append(
                Alert(
                    "opportunity_stale",
                    opportunity_key(str(opp.get("opportunity_id")))[0],
                    version,
                    target,
                    facts,
                )
            )
    return found


# ------------------------------------------------------------------ escalations
def overdue_escalations(escalations: Iterable[Item], now: datetime, config: AlertsConfig) -> list[Alert]:
    """Open escalations past due: once per interval; past ``manager_after_repeats`` reminders the
    assignee's manager is told too."""
    rule = config.escalation_overdue
    every = timedelta(hours=rule.repeat_every_hours)
    found: list[Alert] = []
    for esc in escalations:
        due = parse_time(esc.get("due_at"))
        if esc.get("status") not in OPEN_ESCALATION or due is None or due > now:
            continue
        reminder = _period(now - due, every) + 1
        entity, version = escalation_key(str(esc.get("escalation_id")))[0], f"{due.isoformat()}#{reminder}"
        assignee = esc.get("assignee")
        facts = {
            **_facts(
                esc, ("escalation_id", "title", "severity", "status", "due_at", "account_id", "assignee")
            ),
            "reminder": reminder,
            "hours_overdue": int((now - due).total_seconds() // 3600),
        }
        rep = str(assignee) if assignee else None
        for target in targets("escalation_overdue", config, rep_id=rep, account_id=esc.get("account_id")):
            found.append(Alert("escalation_overdue", entity, version, target, facts))
        if reminder > rule.manager_after_repeats:
            manager = rule.manager
            if manager in ("assignee_manager", "owner_manager"):
                target = Target(manager, rep_id=rep, account_id=esc.get("account_id"), manager=True)
            elif manager == "account_owner":
                target = Target(manager, account_id=esc.get("account_id"))
            else:
                target = Target(manager, address=manager if "@" in manager else None)
            found.append(Alert("escalation_overdue", entity, version, target, facts))
    return found


# ------------------------------------------------------------------ samples and activities
def samples_due(
    samples: Iterable[Item], now: datetime, config: AlertsConfig, owners: dict[str, str]
) -> list[Alert]:
    """Samples whose follow-up date has come and whose follow-up is not done.

    ``owners`` maps an opportunity id to its owner (the sample's opportunity owner is told;
    without one, the account owner).
    """
    every = timedelta(days=config.sample_follow_up.repeat_every_days)
    found: list[Alert] = []
    for sample in samples:
        due = parse_time(sample.get("follow_up_at"))
        if due is None or due > now or str(sample.get("status") or "") in ("followed_up", "closed"):
            continue
        owner = owners.get(str(sample.get("opportunity_id") or ""))
        facts = _facts(sample, ("sample_id", "account_id", "opportunity_id", "part_number", "quantity",
                                "shipped_at", "follow_up_at", "status"))  # fmt: skip
        version = f"{due.isoformat()}#{_period(now - due, every)}"
        for target in targets(
            "sample_follow_up_due", config, rep_id=owner, account_id=sample.get("account_id")
        ):
            found.append(
                Alert(
                    "sample_follow_up_due",
                    sample_key(str(sample.get("sample_id")))[0],
                    version,
                    target,
                    facts,
                )
            )
    return found


def activities_overdue(activities: Iterable[Item], now: datetime, config: AlertsConfig) -> list[Alert]:
    """Scheduled activities (a next step on the calendar) past their due time and not done."""
    every = timedelta(days=config.activity_overdue.repeat_every_days)
    found: list[Alert] = []
    for activity in activities:
        due = parse_time(activity.get("due_at"))
        if due is None or due > now or activity.get("done"):
            continue
        facts = _facts(
            activity, ("activity_id", "rep_id", "type", "subject", "due_at", "opportunity_id", "points")
        )
        version = f"{due.isoformat()}#{_period(now - due, every)}"
        rep = activity.get("rep_id")
        for target in targets("activity_overdue", config, rep_id=str(rep) if rep else None):
            found.append(
                Alert(
                    "activity_overdue",
                    activity_key(str(activity.get("activity_id")))[0],
                    version,
                    target,
                    facts,
                )
            )
    return found
