"""Applying a validated event to the entities it describes, idempotently and order-safely.

``apply_event`` maps one event to its storage writes (``shared.crm_entities``). Applying the same
event again, or an event older than what is stored for its entity, changes no entity: the
writes are conditional on the stored version (see ``shared.crm_entities.upsert_if_newer``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel

from crm_events.models import LeadConverted, LeadStatusChanged
from shared import crm_entities as entities
from shared.crm_entities import EntityStore, Item, Key, Merge, Outcome, Version, format_time, upsert_if_newer


def _plain(value: Any) -> Any:
    """Dumped event values as stored: times as fixed-width UTC text, dates as ISO text (money stays Decimal)."""
    if isinstance(value, datetime):
        return format_time(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _fields(data: BaseModel) -> Item:
    return {k: _plain(v) for k, v in data.model_dump().items() if k != "id"}


def _time(value: datetime | None) -> str:
    return format_time(value) if value is not None else ""


def _carry_stage(previous: Item | None, new: Item) -> Item:
    """When the stage changes the opportunity records what it was and since when it is in the new one."""
    if previous is not None and previous.get("stage") == new["stage"]:
        return {
            **new,
            "stage_entered_at": previous.get("stage_entered_at", new["occurred_at"]),
            "previous_stage": previous.get("previous_stage"),
        }
    return {
        **new,
        "stage_entered_at": new["occurred_at"],
        "previous_stage": previous.get("stage") if previous is not None else None,
    }


def _rep_maps(data: Any) -> Item:
    """Quota and out-of-office as the maps ``shared.tables.RepItem`` reads."""
    quota = data.quota
    return {
        "quota": {"default": quota} if isinstance(quota, Decimal) else _plain(quota),
        "out_of_office": {"periods": [_plain(period.model_dump()) for period in data.out_of_office]},
    }


def _observe_stage(event: Any, store: EntityStore) -> None:
    """The stage observation joins the history whatever the order of delivery (write-once)."""
    store.put_once(
        entities.stage_observation_key(event.data.id, Version(event.occurred_at, event.event_id)),
        {
            "entity": "OPPORTUNITY_STAGE",
            "opportunity_id": event.data.id,
            "stage": event.data.stage,
            "probability": event.data.probability,
            "at": format_time(event.occurred_at),
            "event_id": event.event_id,
        },
    )


@dataclass(frozen=True)
class EntitySpec:
    """How one ``*.upserted`` type is stored: its item kind, id attribute, index entries, merge."""

    kind: str
    id_attribute: str
    index: Callable[[Any], Item] = lambda d: {}
    merge: Merge | None = None
    key: Callable[[Any], Key] | None = None
    observe: Callable[[Any, EntityStore], None] | None = None
    derived: Callable[[Any], Item] = lambda d: {}


SPECS: dict[str, EntitySpec] = {
    "territory.upserted": EntitySpec(
        entities.TERRITORY, "territory_id", lambda d: {"gsi1pk": "TERRITORIES", "gsi1sk": d.id}
    ),
    "rep.upserted": EntitySpec(
        entities.REP, "rep_id", lambda d: {"gsi1pk": "REPS", "gsi1sk": d.id}, derived=lambda d: _rep_maps(d)
    ),
    "account.upserted": EntitySpec(
        entities.ACCOUNT,
        "account_id",
        lambda d: {"gsi1pk": "ACCOUNTS", "gsi1sk": d.id},
        derived=lambda d: {
            "name_key": entities.normalise_name(d.name),
            "alias_keys": sorted({entities.normalise_name(a) for a in d.aliases} - {""}),
        },
    ),
    "contact.upserted": EntitySpec(
        entities.CONTACT,
        "contact_id",
        lambda d: {"gsi1pk": f"ACCOUNT#{d.account_id}", "gsi1sk": f"CONTACT#{d.id}"} if d.account_id else {},
    ),
    "opportunity.upserted": EntitySpec(
        entities.OPPORTUNITY,
        "opportunity_id",
        lambda d: {"gsi1pk": f"ACCOUNT#{d.account_id}", "gsi1sk": f"OPPORTUNITY#{d.id}"},
        merge=_carry_stage,
        observe=_observe_stage,
    ),
    "escalation.upserted": EntitySpec(
        entities.ESCALATION,
        "escalation_id",
        lambda d: {"gsi1pk": "ESCALATIONS", "gsi1sk": f"{d.status}#{_time(d.due_at)}#{d.id}"},
    ),
    "sample.upserted": EntitySpec(
        entities.SAMPLE,
        "sample_id",
        lambda d: {"gsi1pk": "SAMPLES", "gsi1sk": f"{_time(d.follow_up_at)}#{d.id}"},
    ),
    "activity.logged": EntitySpec(
        entities.ACTIVITY,
        "activity_id",
        lambda d: {"gsi1pk": f"REP#{d.rep_id}#ACTIVITIES", "gsi1sk": f"{_time(d.at)}#{d.id}"},
    ),
    "order.booked": EntitySpec(
        entities.ORDER,
        "order_id",
        lambda d: {"gsi1pk": f"ORDERS#{d.booked_at.year:04d}", "gsi1sk": f"{_time(d.booked_at)}#{d.id}"},
    ),
    "plan.upserted": EntitySpec(
        "PLAN",
        "",
        lambda d: entities.plan_index(d.node_type, d.node_id, d.year, d.quarter),
        key=lambda d: entities.plan_key(d.node_type, d.node_id, d.year, d.quarter),
    ),
}


def apply_upsert(event: Any, store: EntityStore, spec: EntitySpec) -> Outcome:
    """Write the entity an ``*.upserted`` event describes, unless a newer one is stored."""
    data = event.data
    version = Version(event.occurred_at, event.event_id)
    if spec.observe is not None:
        spec.observe(event, store)
    item: Item = {
        **_fields(data),
        "entity": spec.kind,
        "source": event.source,
        **spec.index(data),
        **spec.derived(data),
    }
    if spec.id_attribute:
        item[spec.id_attribute] = data.id
    key = spec.key(data) if spec.key is not None else entities.entity_key(spec.kind, data.id)
    return upsert_if_newer(store, key, item, version, merge=spec.merge)


def _apply_lead_status(
    event: LeadStatusChanged | LeadConverted, store: EntityStore, status: str, extra: Item
) -> Outcome:
    lead_id = event.data.lead_id
    version = Version(event.occurred_at, event.event_id)
    store.put_once(
        entities.lead_status_key(lead_id, version),
        {
            "entity": "LEAD_STATUS",
            "lead_id": lead_id,
            "status": status,
            "at": format_time(event.occurred_at),
            "event_id": event.event_id,
            "source": event.source,
            **extra,
        },
    )
    return store.update_if_newer(
        entities.entity_key(entities.LEAD, lead_id), {"status": status, **extra}, version, stamp="status"
    )


def apply_lead_status(event: LeadStatusChanged, store: EntityStore) -> Outcome:
    return _apply_lead_status(event, store, event.data.status, {"status_reason": event.data.reason})


def apply_lead_converted(event: LeadConverted, store: EntityStore) -> Outcome:
    d = event.data
    return _apply_lead_status(
        event,
        store,
        "Converted",
        {"converted_account_id": d.account_id, "converted_contact_id": d.contact_id},
    )


def apply_event(event: Any, store: EntityStore) -> Outcome:
    """Apply one validated event; what it changed (or why it changed nothing)."""
    if event.type == "lead.status_changed":
        return apply_lead_status(event, store)
    if event.type == "lead.converted":
        return apply_lead_converted(event, store)
    return apply_upsert(event, store, SPECS[event.type])
