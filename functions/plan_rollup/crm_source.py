"""The CRM table's territories, accounts, opportunities and orders, as the nightly recompute reads them.

Reads through ``shared.crm_entities`` until the CRM store (issue 9) offers these access patterns:
territories and accounts by their list index, an account's opportunities by the account index,
orders by the year they were booked in.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

from plan_rollup.mirror import node_from_crm, order_from_crm
from shared.crm_entities import CRM, DynamoEntityStore
from shared.store.plan import OrderFigure, PlanNode

YEARS_BACK = 6
YEARS_AHEAD = 6


class CrmTableSource:
    """``CrmSource`` on the CRM table."""

    def __init__(self, table_name: str) -> None:
        self.entities = DynamoEntityStore({CRM: table_name})

    def nodes(self) -> Iterator[PlanNode]:
        for item in self.entities.query_index(CRM, "TERRITORIES", " "):
            if item.get("entity") == "TERRITORY":
                yield node_from_crm(item)
        accounts = [
            i for i in self.entities.query_index(CRM, "ACCOUNTS", " ") if i.get("entity") == "ACCOUNT"
        ]
        for account in accounts:
            yield node_from_crm(account)
            for item in self.entities.query_index(CRM, f"ACCOUNT#{account['account_id']}", "OPPORTUNITY#"):
                if item.get("entity") == "OPPORTUNITY":
                    yield node_from_crm(item)

    def orders(self) -> Iterator[OrderFigure]:
        this_year = datetime.now(UTC).year
        for year in range(this_year - YEARS_BACK, this_year + YEARS_AHEAD + 1):
            for item in self.entities.query_index(CRM, f"ORDERS#{year:04d}", " "):
                if item.get("entity") == "ORDER":
                    yield order_from_crm(item)
