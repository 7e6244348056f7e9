"""The DynamoDB store behind the events function and the replay command: the CRM, plan and events tables."""

from __future__ import annotations

from typing import TYPE_CHECKING

from crm_events.inbox import EVENTS
from shared.crm_entities import CRM, PLAN, DynamoEntityStore

if TYPE_CHECKING:
    from shared.settings import HubSettings


def dynamo_store(settings: HubSettings) -> DynamoEntityStore:
    return DynamoEntityStore(
        {CRM: settings.crm_table, PLAN: settings.plan_table, EVENTS: settings.events_table}
    )
