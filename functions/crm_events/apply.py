"""Applying a validated event to the entities it describes, idempotently and order-safely.

``apply_event`` maps one event to its store write (``shared.store.crm``, plan figures through
``shared.store.plan``). Applying the same event again, or an event older than what is stored for
its entity, changes no entity: the stores write only for a newer ``Version`` (``occurred_at``, then
``event_id``). A lead's status goes through the lead's one writer, ``CrmStore.update_lead``, which
keeps the lead's place in its owner's open leads in step with the status.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from pydantic import BaseModel

from crm_events.models import LeadConverted, LeadStatusChanged
from shared.config_schemas.stages import StageCatalog
from shared.store import crm
from shared.store.common import Outcome, Version, outcome_against
from shared.store.errors import Conflict
from shared.store.events import EventsStore
from shared.store.plan import PlanFigure, PlanStore

MAX_STATUS_TRIES = 8


@dataclass(frozen=True)
class EventStores:
    """Where events land: the CRM table, the inbox, the plan table."""

    crm: crm.CrmStore
    inbox: EventsStore
    plan: PlanStore


def _fields(data: BaseModel) -> dict[str, Any]:
    return {k: v for k, v in data.model_dump().items() if k != "id"}


def _rep(data: Any) -> dict[str, Any]:
    quota = data.quota
    return {
        **_fields(data),
        "quota": {"default": quota} if isinstance(quota, Decimal) else dict(quota or {}),
        "out_of_office": [crm.AwayPeriod(start=p.start, end=p.end) for p in data.out_of_office],
    }


Writer = Callable[[crm.CrmStore, Any, Version], Outcome]


def _writer(
    record: type[crm.Entity], id_field: str, method: str, fields: Callable[[Any], dict[str, Any]] = _fields
) -> Writer:
    def write(store: crm.CrmStore, event: Any, version: Version) -> Outcome:
        entity = record.model_validate(
            {**fields(event.data), id_field: event.data.id, "source": event.source}
        )
        return getattr(store, method)(entity, version)  # type: ignore[no-any-return]

    return write


WRITERS: dict[str, Writer] = {
    "territory.upserted": _writer(crm.Territory, "territory_id", "upsert_territory"),
    "rep.upserted": _writer(crm.Rep, "rep_id", "upsert_rep", _rep),
    "account.upserted": _writer(crm.Account, "account_id", "upsert_account"),
    "contact.upserted": _writer(crm.Contact, "contact_id", "upsert_contact"),
    "opportunity.upserted": _writer(crm.Opportunity, "opportunity_id", "upsert_opportunity"),
    "escalation.upserted": _writer(crm.Escalation, "escalation_id", "upsert_escalation"),
    "sample.upserted": _writer(crm.Sample, "sample_id", "upsert_sample"),
    "activity.logged": _writer(crm.Activity, "activity_id", "log_activity"),
    "order.booked": _writer(crm.Order, "order_id", "book_order"),
}


def apply_plan(event: Any, plan: PlanStore) -> Outcome:
    d = event.data
    figure = PlanFigure(
        node_type=d.node_type, node_id=d.node_id, year=d.year, quarter=d.quarter, amount=d.amount
    )
    written = plan.put_plan_figure_if_newer(
        figure, occurred_at=event.occurred_at, event_id=event.event_id, source=event.source
    )
    return Outcome(written)


def _apply_lead_status(
    event: LeadStatusChanged | LeadConverted,
    store: crm.CrmStore,
    status: str,
    closed: bool,
    extra: dict[str, Any],
) -> Outcome:
    lead_id = event.data.lead_id
    version = Version(event.occurred_at, event.event_id)
    # The status history is write-once, so a late (older) change still takes its place in it.
    store.add_lead_status(
        crm.LeadStatusChange(
            lead_id=lead_id, status=status, at=event.occurred_at, event_id=event.event_id, source=event.source,
            **{k: v for k, v in extra.items() if v is not None},
        )
    )  # fmt: skip
    changes = {
        "status": status,
        "closed": closed,
        "status_occurred_at": version.stamp,
        "status_event_id": version.event_id,
        **extra,
    }
    for _ in range(MAX_STATUS_TRIES):
        lead = store.get_lead(lead_id)
        if lead is None:
            return Outcome.MISSING
        refused = outcome_against(lead.status_version, version)
        if refused is not None:
            return refused
        try:
            store.update_lead(lead_id, changes, expected_version=lead.version, current=lead)
        except Conflict:
            continue  # the intake or MailChimp changed the lead meanwhile: read it again
        return Outcome.APPLIED
    raise Conflict(f"lead {lead_id} kept changing under {MAX_STATUS_TRIES} attempts")


def apply_lead_status(event: LeadStatusChanged, store: crm.CrmStore, stages: StageCatalog) -> Outcome:
    stage = stages.lead_status(event.data.status)
    closed = stage is not None and stage.is_closed
    return _apply_lead_status(event, store, event.data.status, closed, {"status_reason": event.data.reason})


def apply_lead_converted(event: LeadConverted, store: crm.CrmStore) -> Outcome:
    d = event.data
    extra = {"converted_account_id": d.account_id, "converted_contact_id": d.contact_id}
    return _apply_lead_status(event, store, "Converted", True, extra)


def apply_event(event: Any, stores: EventStores, stages: StageCatalog) -> Outcome:
    """Apply one validated event; what it changed (or why it changed nothing)."""
    if event.type == "lead.status_changed":
        return apply_lead_status(event, stores.crm, stages)
    if event.type == "lead.converted":
        return apply_lead_converted(event, stores.crm)
    if event.type == "plan.upserted":
        return apply_plan(event, stores.plan)
    return WRITERS[event.type](stores.crm, event, Version(event.occurred_at, event.event_id))
