"""The stores behind the events function and the replay command: the CRM, events and plan tables."""

from __future__ import annotations

from crm_events.apply import EventStores


def dynamo_stores() -> EventStores:
    """On DynamoDB (table names from settings, fixed when the store modules are first imported)."""
    from shared.store.crm import DynamoCrmStore
    from shared.store.events import DynamoEventsStore
    from shared.store.plan import DynamoPlanStore

    return EventStores(crm=DynamoCrmStore(), inbox=DynamoEventsStore(), plan=DynamoPlanStore())
