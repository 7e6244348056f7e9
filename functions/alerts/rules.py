"""Which alerts a stream change calls for: pure functions over the record's old and new images.

Each alert is keyed by the change's version (the lead's ``version``, an entity's ``occurred_at``
and event id, a POS run's object version), so a stream record delivered twice gives the same
keys and alerts once. Recipients are roles here; ``alerts.recipients`` resolves them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from alerts.model import Alert, Target
from shared.config_schemas.alerts import AlertsConfig
from shared.config_schemas.stages import StageCatalog
from shared.downloads import (
    IMPORT_RESULTS_ROUTE,
    PLAN_REPORT_FORMATS,
    POS_REJECTS_ROUTE,
    download_link,
    plan_report_link,
)
from shared.links import LinkSigner
from shared.store.crm import board_report_key, escalation_key, import_digest_key, lead_key, opportunity_key
from shared.store.pos_keys import run_key

Item = dict[str, Any]

OPEN_ESCALATION = ("open", "in_progress")
CLOSED_ESCALATION = ("resolved", "closed")


@dataclass(frozen=True)
class RuleContext:
    config: AlertsConfig
    stages: StageCatalog
    channel_manager_email: str
    api_url: str = ""  # the read API's base URL: where emails point for the files they mention
    # signs those links so they open without a token (shared.links); None: the token routes
    signer: LinkSigner | None = None


def targets(kind: str, config: AlertsConfig, *, rep_id: str | None = None, account_id: str | None = None,
            contact_id: str | None = None, address: str | None = None,
            channel_manager: str | None = None) -> list[Target]:  # fmt: skip
    """The configured recipients of ``kind`` as targets (none when the kind is turned off)."""
    rule = config.recipients.rule(kind)
    if not rule.enabled:
        return []
    found: list[Target] = []
    for role in rule.to:
        if role in ("owner", "assignee"):
            found.append(Target(role, rep_id=rep_id, account_id=account_id, address=address))
        elif role in ("owner_manager", "assignee_manager"):
            found.append(Target(role, rep_id=rep_id, account_id=account_id, manager=True))
        elif role == "account_owner":
            found.append(Target(role, account_id=account_id))
        elif role == "contact":
            if contact_id:  # only where the record names the contact who raised it
                found.append(Target(role, contact_id=contact_id))
        elif role == "channel_manager":
            found.append(Target(role, address=channel_manager))
        else:  # a fixed address
            found.append(Target(role, address=role))
    return found


def _alerts(kind: str, entity: str, version: str, found: Iterable[Target], facts: Item) -> list[Alert]:
    return [Alert(kind, entity, version, target, facts) for target in found]


def alerts_for_change(new: Item | None, old: Item | None, ctx: RuleContext) -> list[Alert]:
    """The alerts that one item change calls for (an INSERT has no old image; a REMOVE no new one)."""
    if not new:
        return []
    old = old or {}
    entity = new.get("entity")
    if entity == "LEAD":
        return _lead(new, old, ctx)
    if entity == "IMPORT_DIGEST":
        return _import_digest(new, old, ctx)
    if entity == "OPPORTUNITY":
        return _opportunity(new, old, ctx)
    if entity == "ESCALATION":
        return _escalation(new, old, ctx)
    if entity == "POS_RUN":
        return _pos_run(new, old, ctx)
    if entity == "BOARD_REPORT":
        return _board_report(new, old, ctx)
    return []


def _board_report(new: Item, old: Item, ctx: RuleContext) -> list[Alert]:
    """The monthly board report is written (its notice's INSERT): its links to the configured addresses,
    keyed by the month (a notice delivered twice tells once)."""
    if old:
        return []
    year, month = int(new.get("year") or 0), str(new.get("month") or "")
    if not year or not month:
        return []
    facts = {
        "year": year,
        "month": month,
        "nodes": int(new.get("nodes") or 0),
        # where the board opens it: the read route, on the API when its address is known
        "links": {
            ext: plan_report_link(ctx.api_url, year, month, ext, ctx.signer) for ext in PLAN_REPORT_FORMATS
        },
    }
    return _alerts(
        "board_report", board_report_key(month)[0], month, targets("board_report", ctx.config), facts
    )


def _entity_version(item: Item) -> str:
    return f"{item.get('occurred_at', '')}#{item.get('last_event_id', '')}"


# ------------------------------------------------------------------ leads
_LEAD_FACTS = (
    "lead_id", "first_name", "last_name", "email", "company", "title", "phone", "country", "state",
    "employee_band", "revenue_band", "industry", "product_interest", "campaign", "message", "status",
)  # fmt: skip


def _lead(new: Item, old: Item, ctx: RuleContext) -> list[Alert]:
    owner = new.get("owner")
    if not owner or new.get("quarantined") or owner == old.get("owner"):
        return []
    if not old and new.get("imported_from"):
        # Created by a trade-show list: announced in that import's digest (the stream filter already
        # passes over these records; this keeps it so for a mapping without the filter).
        return []
    kind = "lead_reassigned" if old.get("owner") else "lead_assigned"
    assignment = new.get("assignment") or {}
    # Routing may name a rep of routing.yaml the CRM does not hold: its address comes with the
    # assignment and is used (and said) when the CRM has no such rep.
    hint = assignment.get("owner_email")
    facts = {k: new.get(k) for k in _LEAD_FACTS if new.get(k) not in (None, "")}
    # The reason in words ("rule us-east"), not the what-if line that names the recipient ("rep rep-ana: rule us-east").
    facts["why"] = assignment.get("why") or assignment.get("summary") or assignment.get("reason")
    if old.get("owner"):
        facts["previous_owner"] = old.get("owner")
    version = f"v{new.get('version', '')}#{owner}"
    found = targets(kind, ctx.config, rep_id=str(owner), address=str(hint) if hint else None)
    return _alerts(kind, lead_key(str(new.get("lead_id")))[0], version, found, facts)


# ------------------------------------------------------------------ trade-show imports
def _import_digest(new: Item, old: Item, ctx: RuleContext) -> list[Alert]:
    """One email per rep per import: the leads the list assigned to them (written once, when it is done)."""
    if old:
        return []
    rep_id, import_key, etag = (str(new.get(k) or "") for k in ("rep_id", "import_key", "etag"))
    try:
        leads = json.loads(str(new.get("leads_json") or "[]"))
    except ValueError:
        leads = []
    facts = {
        "list": PurePosixPath(import_key).stem,
        "import_key": import_key,
        "count": int(new.get("lead_count") or 0),
        "leads": [lead for lead in leads if isinstance(lead, dict)],
        "results_key": new.get("results_key"),
        # where people get the results file: the read route, on the API when its address is known
        "results_link": download_link(ctx.api_url, IMPORT_RESULTS_ROUTE, import_key, ctx.signer)
        if new.get("results_key")
        else None,
    }
    # as for one lead: routing's address for a rep of routing.yaml the CRM does not hold
    hint = new.get("rep_email")
    found = targets("leads_imported", ctx.config, rep_id=rep_id, address=str(hint) if hint else None)
    return _alerts("leads_imported", import_digest_key(import_key, etag, rep_id)[0], rep_id, found, facts)


# ------------------------------------------------------------------ opportunities
def _opportunity(new: Item, old: Item, ctx: RuleContext) -> list[Alert]:
    stage, before = new.get("stage"), old.get("stage")
    if not stage or (before and str(before).casefold() == str(stage).casefold()):
        return []
    kind = notable_kind(str(stage), ctx)
    if kind is None:
        return []
    facts = {
        "opportunity_id": new.get("opportunity_id"),
        "name": new.get("name"),
        "account_id": new.get("account_id"),
        "old_stage": before or "(new)",
        "stage": stage,
        "amount": new.get("amount"),
        "probability": new.get("probability"),
        "close_date": new.get("close_date"),
        "next_step": new.get("next_step"),
        "next_step_date": new.get("next_step_date"),
        "owner": new.get("owner"),
    }
    owner = new.get("owner")
    found = targets(kind, ctx.config, rep_id=str(owner) if owner else None, account_id=new.get("account_id"))
    return _alerts(
        kind, opportunity_key(str(new.get("opportunity_id")))[0], _entity_version(new), found, facts
    )


def notable_kind(stage: str, ctx: RuleContext) -> str | None:
    """``opportunity_won`` / ``opportunity_lost`` / ``opportunity_stage`` for a notable stage, else None."""
    notable = ctx.config.notable_stages
    known = ctx.stages.opportunity_stage(stage)
    outcome = known.outcome if known is not None else "open"
    if outcome == "won":
        return "opportunity_won" if notable.won else None
    if outcome == "lost":
        return "opportunity_lost" if notable.lost else None
    names = {" ".join(s.split()).casefold() for s in notable.stages}
    spellings = [stage] if known is None else [known.name, *known.aliases]
    if any(" ".join(s.split()).casefold() in names for s in spellings):
        return "opportunity_stage"
    return None


# ------------------------------------------------------------------ escalations
def _escalation(new: Item, old: Item, ctx: RuleContext) -> list[Alert]:
    esc_id = new.get("escalation_id")
    entity = escalation_key(str(esc_id))[0]
    status, was = new.get("status"), old.get("status")
    facts = {
        "escalation_id": esc_id,
        "title": new.get("title"),
        "severity": new.get("severity"),
        "status": status,
        "due_at": new.get("due_at"),
        "account_id": new.get("account_id"),
        "assignee": new.get("assignee"),
        "resolution": new.get("resolution"),
    }
    found: list[Alert] = []
    assignee = new.get("assignee")
    if status in OPEN_ESCALATION and assignee and assignee != old.get("assignee"):
        facts_assigned = {**facts, "previous_assignee": old.get("assignee")}
        version = f"{_entity_version(new)}#{assignee}"
        found += _alerts(
            "escalation_assigned", entity, version,
            targets("escalation_assigned", ctx.config, rep_id=str(assignee), account_id=new.get("account_id")),
            facts_assigned,
        )  # fmt: skip
    if status in CLOSED_ESCALATION and was not in CLOSED_ESCALATION:
        version = f"{_entity_version(new)}#{status}"
        found += _alerts(
            "escalation_resolved", entity, version,
            targets("escalation_resolved", ctx.config, rep_id=assignee, account_id=new.get("account_id")),
            facts,
        )  # fmt: skip
        contact = new.get("contact_id")
        found += _alerts(
            "escalation_outcome", entity, version,
            targets("escalation_outcome", ctx.config, contact_id=str(contact) if contact else None),
            facts,
        )  # fmt: skip
    return found


# ------------------------------------------------------------------ POS runs
def _pos_run(new: Item, old: Item, ctx: RuleContext) -> list[Alert]:
    status = new.get("status")
    if status not in ("done", "failed") or old.get("status") == status:
        return []
    rejected = int(new.get("rejected") or 0)
    if status == "done" and rejected == 0:
        return []
    amounts = new.get("amount_accepted")
    amount_accepted = (
        {str(c): str(a) for c, a in sorted(amounts.items())} if isinstance(amounts, dict) else {}
    )
    facts = {
        "key": new.get("key"),
        "version": new.get("version"),
        "distributor": new.get("distributor"),
        "status": status,
        "rows_total": int(new.get("rows_total") or 0),
        "accepted": int(new.get("accepted") or 0),
        "amount_accepted": amount_accepted,
        "rejected": rejected,
        "rejects_key": new.get("rejects_key"),
        # where people get the rejects file: the read route, on the API when its address is known
        "rejects_link": (
            download_link(ctx.api_url, POS_REJECTS_ROUTE, str(new.get("key")), ctx.signer)
            if status == "done" and rejected and new.get("rejects_key")
            else None
        ),
        "error": new.get("error"),
        "reject_sample": [
            {"row": int(r.get("row") or 0), "reason": str(r.get("reason") or "")}
            for r in (new.get("reject_sample") or [])[:50]
            if isinstance(r, dict)
        ],
    }
    found = targets("pos_rejects", ctx.config, channel_manager=ctx.channel_manager_email)
    entity = run_key(str(new.get("key")), str(new.get("version")))[0]
    return _alerts("pos_rejects", entity, f"{new.get('version')}#{status}", found, facts)
