"""pynamodb models of the rollup's items in the plan table (used only by ``shared.store.plan``).

Kept in their own module so ``shared.store.plan``'s plain dataclasses import without pynamodb's
table set-up (reports and unit tests read them); the section's owner is plan-rollup (issue 11).
"""

from __future__ import annotations

from pynamodb.attributes import NumberAttribute, UnicodeAttribute

from shared.tables import PlanItem


class NodeItem(PlanItem, discriminator="NODE"):
    """A territory, account or opportunity mirrored from the CRM table: ``NODE#<TYPE>#<id>`` / ``NODE``;
    gsi1 ``CHILDREN#<parent type>#<parent id>`` / ``<TYPE>#<id>``."""

    node_type = UnicodeAttribute()
    node_id = UnicodeAttribute()
    name = UnicodeAttribute(null=True)
    owner = UnicodeAttribute(null=True)
    parent_type = UnicodeAttribute(null=True)
    parent_id = UnicodeAttribute(null=True)
    stage = UnicodeAttribute(null=True)
    probability = UnicodeAttribute(null=True)  # decimal text
    amount = UnicodeAttribute(null=True)  # decimal text
    close_date = UnicodeAttribute(null=True)
    version = UnicodeAttribute(default="")


class NodeOrderItem(PlanItem, discriminator="NODE_ORDER"):
    """An order counted in a node's actual: ``NODE#<TYPE>#<id>`` / ``ORDER#<yyyy>#Q<n>#<order_id>``."""

    order_id = UnicodeAttribute()
    account_id = UnicodeAttribute()
    opportunity_id = UnicodeAttribute(null=True)
    amount = UnicodeAttribute()  # decimal text
    currency = UnicodeAttribute()
    booked_on = UnicodeAttribute()
    version = UnicodeAttribute(default="")


class OrderRefItem(PlanItem, discriminator="ORDER_REF"):
    """Where an order is mirrored, and its version: ``ORDERREF#<order_id>`` / ``ORDERREF``."""

    order = UnicodeAttribute()  # the order as JSON (shared.store.plan.order_item)


class RollupItem(PlanItem, discriminator="ROLLUP"):
    """One node's figures in one quarter: ``ROLLUP#<TYPE>#<id>`` / ``<yyyy>#Q<n>``; gsi1 ``ROLLUP#<yyyy>``."""

    node_type = UnicodeAttribute()
    node_id = UnicodeAttribute()
    year = NumberAttribute()
    quarter = NumberAttribute()
    figures = UnicodeAttribute()  # RollupCell.to_json(): money as exact decimal text
    computed_at = UnicodeAttribute(null=True)
