"""pynamodb table models: what the hub stores, one class per entity.

Each table is single-table designed: ``pk`` / ``sk`` and one general index ``gsi1``; the
``entity`` discriminator tells stream filters and readers what an item is. Table names are
read from settings when the class is defined (pynamodb fixes them there), so tests and the
local hub set the environment before importing this module. The access patterns and the key
that serves each are listed in ``docs/data-model.md``.
"""

from __future__ import annotations

from pynamodb.attributes import (
    DiscriminatorAttribute,
    MapAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from shared.settings import get_settings

_settings = get_settings()


class Gsi1(GlobalSecondaryIndex["HubItem"]):
    class Meta:
        index_name = "gsi1"
        projection = AllProjection()

    gsi1pk = UnicodeAttribute(hash_key=True)
    gsi1sk = UnicodeAttribute(range_key=True)


class HubItem(Model):
    """The key shape every hub table but idempotency shares."""

    class Meta:
        abstract = True
        region = _settings.region

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    gsi1pk = UnicodeAttribute(null=True)
    gsi1sk = UnicodeAttribute(null=True)
    updated_at = UTCDateTimeAttribute(null=True)
    expires_at = TTLAttribute(null=True)


# The CRM table's models are in shared.store.crm, the events table's in shared.store.events.


# ------------------------------------------------------------------ other tables
class PosItem(HubItem):
    class Meta:
        table_name = _settings.pos_table
        region = _settings.region

    entity = DiscriminatorAttribute(attr_name="entity")
    by_gsi1 = Gsi1()


class PlanItem(HubItem):
    class Meta:
        table_name = _settings.plan_table
        region = _settings.region

    entity = DiscriminatorAttribute(attr_name="entity")
    by_gsi1 = Gsi1()


class StateItem(Model):
    """Operational state: rate-limit windows, rotation positions, checkpoints."""

    class Meta:
        table_name = _settings.state_table
        region = _settings.region

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    # Shadows Model.count() on this class: count items of the state table with a query instead.
    count = NumberAttribute(default=0)  # type: ignore[assignment]
    data = MapAttribute(null=True)  # type: ignore[var-annotated]
    updated_at = UTCDateTimeAttribute(null=True)
    expires_at = TTLAttribute(null=True)


# Items the POS and plan code writes with the low-level client; declared for the same reason.
class PosRunItem(PosItem, discriminator="POS_RUN"):
    pass


class PosLineItem(PosItem, discriminator="POS_LINE"):
    pass


class PosInventoryItem(PosItem, discriminator="POS_INVENTORY"):
    pass


class PosUnmatchedItem(PosItem, discriminator="POS_UNMATCHED"):
    pass


class PlanFigureItem(PlanItem, discriminator="PLAN"):
    pass


class ActualItem(PlanItem, discriminator="ACTUAL"):
    pass


class ActualBreakdownItem(PlanItem, discriminator="ACTUAL_BREAKDOWN"):
    pass
