"""Routing what-if: where leads would go under candidate rules, beside where they went. Changes nothing.

The rotation starts from the real counters but advances only in memory (`PreviewRotationRepository`), and
open-lead counts are read, then kept up to date in memory as the preview assigns leads.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from leads_webhook.imports import CountingWorkload
from leads_webhook.intake import LeadRepository
from leads_webhook.records import StoredLead, lead_id_for
from leads_webhook.routing import (
    Assignment,
    PreviewRotationRepository,
    RepDirectory,
    RotationRepository,
    RoutingFacts,
    route_lead,
)
from leads_webhook.submission import normalise_lead
from leads_webhook.trade_show import parse_trade_show_csv
from shared.config_schemas.leads import LeadsConfig
from shared.config_schemas.routing import RoutingConfig, load_routing_config
from shared.leads import email_key
from shared.validation import ConfigDocumentError


@dataclass(frozen=True)
class WhatIfRow:
    label: str  # the lead's email (and id, when stored)
    went: str  # where it went (stored assignment), or where the current rules send it
    would_go: str
    assignment: Assignment

    @property
    def changed(self) -> bool:
        return self.went.split(":", 1)[0] != self.would_go.split(":", 1)[0]


def _where(assignment: Assignment) -> str:
    return assignment.describe()


def _stored_where(lead: StoredLead) -> str:
    if lead.quarantined:
        return "quarantined"
    if lead.assignment:
        return str(
            lead.assignment.get("summary")
            or f"{lead.assignment.get('owner_type')} {lead.assignment.get('owner')}"
        )
    return "not routed yet"


def preview_routes(
    leads: Iterable[tuple[str, RoutingFacts, str | None]],
    candidate: RoutingConfig,
    *,
    current: RoutingConfig,
    rotation: RotationRepository,
    leads_repo: LeadRepository,
    reps: RepDirectory,
    now: datetime,
) -> list[WhatIfRow]:
    """Each (label, lead, where it went or None) routed under `candidate` (and `current` when it has no past)."""
    candidate_rotation = PreviewRotationRepository(rotation)
    current_rotation = PreviewRotationRepository(rotation)
    candidate_load = CountingWorkload(leads_repo)
    current_load = CountingWorkload(leads_repo)
    rows: list[WhatIfRow] = []
    for label, lead, went in leads:
        would = route_lead(
            lead, candidate, rotation=candidate_rotation, workload=candidate_load, reps=reps, now=now
        )
        if would.owner_type == "rep":
            candidate_load.note_assigned(would.owner)
        if went is None:
            was = route_lead(
                lead, current, rotation=current_rotation, workload=current_load, reps=reps, now=now
            )
            if was.owner_type == "rep":
                current_load.note_assigned(was.owner)
            went = f"{_where(was)} (current rules)"
        rows.append(WhatIfRow(label, went, _where(would), would))
    return rows


def load_candidate(text: bytes, leads_config: LeadsConfig, reps: RepDirectory) -> RoutingConfig:
    """A candidate routing.yaml checked as an upload is: fields and bands, then its reps against the CRM's."""
    candidate = load_routing_config(text, leads_config)
    known = reps.get_reps(candidate.rep_ids())
    problems = candidate.reference_errors(known.keys())
    if problems:
        raise ConfigDocumentError("routing.yaml", problems)
    return candidate


def leads_from_csv(
    data: bytes, *, name: str, config: LeadsConfig, leads_repo: LeadRepository
) -> tuple[list[tuple[str, RoutingFacts, str | None]], list[str]]:
    """The valid rows of a CSV (trade-show format) as leads, with where each stored one went; and the problems."""
    parsed = parse_trade_show_csv(data, campaign=name)
    problems = [f"file {e.field} {e.message}" for e in parsed.errors]
    found: list[tuple[str, RoutingFacts, str | None]] = []
    for row in parsed.rows:
        if row.result.submission is None:
            if not row.blank:
                problems.append(
                    f"row {row.row_number}: " + "; ".join(f"{e.field} {e.message}" for e in row.result.errors)
                )
            continue
        lead = normalise_lead(row.result.submission, config)
        stored = leads_repo.get(lead_id_for(email_key(lead.email)))
        found.append((lead.email, lead, _stored_where(stored) if stored else None))
    return found, problems


def stored_leads(leads: list[StoredLead]) -> list[tuple[str, RoutingFacts, str | None]]:
    return [(f"{x.email} ({x.lead_id})", x, _stored_where(x)) for x in leads]
