"""Applying a validated event to the entities it describes, idempotently and order-safely.

``apply_event`` maps one event to its store write (``shared.store.crm``, plan figures through
``shared.store.plan``). Applying the same event again, or an event older than what is stored for
its entity, changes no entity: the stores write only for a newer ``Version`` (``occurred_at``, then
``event_id``). A lead's status goes through the lead's one writer, ``CrmStore.update_lead``, which
keeps the lead's place in its owner's open leads in step with the status.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from crm_events.models import LeadConverted, LeadStatusChanged
from shared.config_schemas.stages import StageCatalog
from shared.store import crm
from shared.store.common import Outcome, Version, outcome_against
from shared.store.errors import Conflict, StoreError, Throttled
from shared.store.events import EventsStore

if TYPE_CHECKING:
    from shared.store.plan import PlanStore

MAX_STATUS_TRIES = 8


class EventStores:
    """Where events land: the CRM table, the inbox, the plan table.

    ``plan`` may be given as a function that builds the plan store, called when a plan event first needs it
    (``crm_events.storage.dynamo_stores``): few requests carry a plan figure, and importing the plan store's
    module costs about a tenth of ``import boto3``."""

    def __init__(
        self, crm: crm.CrmStore, inbox: EventsStore, plan: PlanStore | Callable[[], PlanStore]
    ) -> None:
        self.crm, self.inbox = crm, inbox
        self._plan = plan

    @property
    def plan(self) -> PlanStore:
        if callable(self._plan):
            self._plan = self._plan()
        return self._plan


def _fields(data: BaseModel) -> dict[str, Any]:
    return {k: v for k, v in data.model_dump().items() if k != "id"}


def _rep(data: Any) -> dict[str, Any]:
    quota = data.quota
    return {
        **_fields(data),
        "quota": {"default": quota} if isinstance(quota, Decimal) else dict(quota or {}),
        "out_of_office": [crm.AwayPeriod(start=p.start, end=p.end) for p in data.out_of_office],
    }


@dataclass(frozen=True)
class EntityKind:
    """How an event type describes its entity: the record, its id field, and the store's writer."""

    record: type[crm.Entity]
    id_field: str
    method: str
    fields: Callable[[Any], dict[str, Any]] = _fields

    def entity(self, event: Any) -> crm.Entity:
        return self.record.model_validate(
            {**self.fields(event.data), self.id_field: event.data.id, "source": event.source}
        )

    def write(self, store: crm.CrmStore, event: Any, version: Version) -> Outcome:
        return getattr(store, self.method)(self.entity(event), version)  # type: ignore[no-any-return]


KINDS: dict[str, EntityKind] = {
    "territory.upserted": EntityKind(crm.Territory, "territory_id", "upsert_territory"),
    "rep.upserted": EntityKind(crm.Rep, "rep_id", "upsert_rep", _rep),
    "account.upserted": EntityKind(crm.Account, "account_id", "upsert_account"),
    "contact.upserted": EntityKind(crm.Contact, "contact_id", "upsert_contact"),
    "opportunity.upserted": EntityKind(crm.Opportunity, "opportunity_id", "upsert_opportunity"),
    "escalation.upserted": EntityKind(crm.Escalation, "escalation_id", "upsert_escalation"),
    "sample.upserted": EntityKind(crm.Sample, "sample_id", "upsert_sample"),
    "activity.logged": EntityKind(crm.Activity, "activity_id", "log_activity"),
    "order.booked": EntityKind(crm.Order, "order_id", "book_order"),
}
# Written many at once (``CrmStore.upsert_many``); the others one by one.
BATCHED_TYPES = frozenset(
    {"territory.upserted", "rep.upserted", "account.upserted", "opportunity.upserted", "sample.upserted",
     "order.booked"}
)  # fmt: skip


def apply_plan(event: Any, plan: PlanStore) -> Outcome:
    from shared.store.plan import PlanFigure  # with the plan store: only a plan event needs them

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
    return KINDS[event.type].write(stores.crm, event, Version(event.occurred_at, event.event_id))


def apply_events(
    events: Sequence[Any], stores: EventStores, stages: StageCatalog
) -> list[Outcome | StoreError]:
    """Apply validated events (a request's batch), each as ``apply_event`` would in the order given.

    The kinds in ``BATCHED_TYPES`` are written many at once (one read of what is stored, then
    transactions; see ``CrmStore.upsert_many``); the rest, and whatever the store leaves to them, one
    by one. An event the store refuses as sent (``StoreError``, not ``Throttled``) fails alone: its
    error takes its place in the answer and the others go on. ``Throttled`` stops the batch (every
    write is idempotent: the sender's retry completes it)."""
    batched = [i for i, event in enumerate(events) if event.type in BATCHED_TYPES]
    writes = [
        (KINDS[events[i].type].entity(events[i]), Version(events[i].occurred_at, events[i].event_id))
        for i in batched
    ]
    results: list[Outcome | StoreError | None] = [None] * len(events)
    for index, outcome in zip(batched, stores.crm.upsert_many(writes), strict=True):
        results[index] = outcome
    done: list[Outcome | StoreError] = []
    for event, result in zip(events, results, strict=True):
        if result is None:
            try:
                result = apply_event(event, stores, stages)
            except Throttled:
                raise
            except StoreError as exc:
                result = exc
        done.append(result)
    return done
