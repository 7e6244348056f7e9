"""The stores behind the events function and the replay command: the CRM, events and plan tables."""

from __future__ import annotations

from typing import TYPE_CHECKING

from crm_events.apply import EventStores

if TYPE_CHECKING:
    from shared.store.plan import PlanStore


def dynamo_stores() -> EventStores:
    """On DynamoDB (table names from settings, fixed when the store modules are first imported)."""
    from shared.store.crm import DynamoCrmStore
    from shared.store.events import DynamoEventsStore

    return EventStores(crm=DynamoCrmStore(), inbox=DynamoEventsStore(), plan=dynamo_plan_store)


def dynamo_plan_store() -> PlanStore:
    """The plan table's store, built (and its module imported) when a plan event first needs it."""
    from shared.store.plan import DynamoPlanStore

    return DynamoPlanStore()
