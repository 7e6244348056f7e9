"""The CRM table's territories, accounts, opportunities and orders, as the nightly recompute reads them
(through the CRM store: ``list_territories``, ``list_accounts``, ``list_opportunities_of_account``,
``orders_of_year``)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from plan_rollup.mirror import node_from_crm, order_from_crm
from shared.store.common import format_time
from shared.store.crm import CrmStore, Entity
from shared.store.plan import OrderFigure, PlanNode

YEARS_BACK = 6
YEARS_AHEAD = 6


def _image(record: Entity, entity: str) -> dict[str, Any]:
    """A CRM record as the stream image of its item would show it (the fields the mirror reads)."""
    fields = record.model_dump()
    fields["entity"] = entity
    fields["occurred_at"] = format_time(record.occurred_at) if record.occurred_at else None
    return fields


class CrmTableSource:
    """``CrmSource`` on the CRM store."""

    def __init__(self, crm: CrmStore) -> None:
        self.crm = crm

    def nodes(self) -> Iterator[PlanNode]:
        for territory in self.crm.list_territories():
            yield node_from_crm(_image(territory, "TERRITORY"))
        for account in self.crm.list_accounts():
            yield node_from_crm(_image(account, "ACCOUNT"))
            for opportunity in self.crm.list_opportunities_of_account(account.account_id):
                yield node_from_crm(_image(opportunity, "OPPORTUNITY"))

    def orders(self) -> Iterator[OrderFigure]:
        this_year = datetime.now(UTC).year
        for year in range(this_year - YEARS_BACK, this_year + YEARS_AHEAD + 1):
            for order in self.crm.orders_of_year(year):
                yield order_from_crm(_image(order, "ORDER"))
