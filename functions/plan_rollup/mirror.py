"""The plan tree as the CRM table describes it: territories, accounts, opportunities and orders.

A CRM stream record (or a CRM item read by the nightly recompute) becomes a ``PlanNode`` or an
``OrderFigure``; ``mirror_crm_change`` keeps them in the plan table, newest version first, so the
plan table's stream then tells the rollup what moved.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from shared.store.plan import ACCOUNT, OPPORTUNITY, TERRITORY, NodeRef, OrderFigure, PlanNode, RollupStore

CRM_NODE_ENTITIES = (TERRITORY, ACCOUNT, OPPORTUNITY)


def _version(item: Mapping[str, Any]) -> str:
    return f"{item.get('occurred_at') or ''}#{item.get('last_event_id') or ''}"


def _decimal(value: Any) -> Decimal | None:
    if value in (None, ""):
        return None
    return Decimal(str(value))


def _date(value: Any) -> date | None:
    if not value:
        return None
    return date.fromisoformat(str(value)[:10])


# Each node entity: the item field holding its id, and its parent's type and id field.
_NODE_SHAPES: dict[str, tuple[str, str, str]] = {
    TERRITORY: ("territory_id", TERRITORY, "parent_id"),
    ACCOUNT: ("account_id", TERRITORY, "territory_id"),
    OPPORTUNITY: ("opportunity_id", ACCOUNT, "account_id"),
}


def node_from_crm(item: Mapping[str, Any]) -> PlanNode:
    """The plan node a CRM territory, account or opportunity item describes."""
    entity = item["entity"]
    if entity not in _NODE_SHAPES:
        raise ValueError(f"not a plan node: {entity}")
    id_field, parent_type, parent_field = _NODE_SHAPES[entity]
    parent_id = item.get(parent_field)
    deal: dict[str, Any] = {}
    if entity == OPPORTUNITY:  # only opportunities carry a deal's figures
        deal = {
            "stage": item.get("stage"),
            "probability": _decimal(item.get("probability")),
            "amount": _decimal(item.get("amount")),
            "close_date": _date(item.get("close_date")),
        }
    return PlanNode(
        NodeRef(entity, item[id_field]),
        name=item.get("name") or "",
        owner=item.get("owner"),
        parent=NodeRef(parent_type, parent_id) if parent_id else None,
        version=_version(item),
        **deal,
    )


def order_from_crm(item: Mapping[str, Any]) -> OrderFigure:
    """The figure a CRM order item (``order.booked``) adds to its account's and opportunity's actual."""
    booked = _date(item.get("booked_at"))
    if booked is None:
        raise ValueError(f"order {item.get('order_id')} has no booked_at")
    return OrderFigure(
        order_id=item["order_id"],
        account_id=item["account_id"],
        amount=Decimal(str(item["amount"])),
        currency=str(item.get("currency") or "").upper(),
        booked_on=booked,
        opportunity_id=item.get("opportunity_id") or None,
        version=_version(item),
    )


def mirror_crm_change(
    store: RollupStore, new: Mapping[str, Any] | None, old: Mapping[str, Any] | None
) -> str:
    """Keep the plan table's copy of a changed CRM node or order; what was done (for the log)."""
    image = new or old or {}
    entity = image.get("entity")
    if entity in CRM_NODE_ENTITIES:
        if new is None:
            removed = store.delete_node(node_from_crm(image).ref)
            return "node removed" if removed else "node absent"
        applied, _previous = store.put_node(node_from_crm(new))
        return "node mirrored" if applied else "node stale"
    if entity == "ORDER" and new is not None:
        order_applied, _replaced = store.put_order(order_from_crm(new))
        return "order mirrored" if order_applied else "order stale"
    return "ignored"
