"""pynamodb table models: what the hub stores, one class per entity.

Each table is single-table designed: ``pk`` / ``sk`` and one general index ``gsi1``; the
``entity`` discriminator tells stream filters and readers what an item is. Table names are
read from settings when the class is defined (pynamodb fixes them there), so tests and the
local hub set the environment before importing this module. The access patterns and the key
that serves each are listed in ``docs/data-model.md``.
"""

from __future__ import annotations

from pynamodb.attributes import (
    BooleanAttribute,
    DiscriminatorAttribute,
    ListAttribute,
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


# ------------------------------------------------------------------ CRM table
class CrmItem(HubItem):
    class Meta:
        table_name = _settings.crm_table
        region = _settings.region

    entity = DiscriminatorAttribute(attr_name="entity")
    by_gsi1 = Gsi1()


class LeadItem(CrmItem, discriminator="LEAD"):
    """A lead: ``LEAD#<lead_id>`` / ``LEAD``. Listed by owner on gsi1 (``OWNER#<rep>``)."""

    lead_id = UnicodeAttribute()
    email = UnicodeAttribute()
    first_name = UnicodeAttribute(null=True)
    last_name = UnicodeAttribute(null=True)
    company = UnicodeAttribute(null=True)
    title = UnicodeAttribute(null=True)
    phone = UnicodeAttribute(null=True)
    phone_raw = UnicodeAttribute(null=True)
    country = UnicodeAttribute(null=True)
    state = UnicodeAttribute(null=True)
    postal_code = UnicodeAttribute(null=True)
    employees = NumberAttribute(null=True)
    employee_band = UnicodeAttribute(null=True)
    # Money is kept as its decimal text: exact, never a float.
    annual_revenue = UnicodeAttribute(null=True)
    revenue_band = UnicodeAttribute(null=True)
    industry = UnicodeAttribute(null=True)
    product_interest = UnicodeAttribute(null=True)
    campaign = UnicodeAttribute(null=True)
    utm_source = UnicodeAttribute(null=True)
    utm_medium = UnicodeAttribute(null=True)
    utm_campaign = UnicodeAttribute(null=True)
    message = UnicodeAttribute(null=True)
    marketing_opt_in = BooleanAttribute(null=True)
    marketing_status = UnicodeAttribute(null=True)
    owner = UnicodeAttribute(null=True)
    territory_id = UnicodeAttribute(null=True)
    status = UnicodeAttribute(default="New")
    source = UnicodeAttribute(null=True)
    quarantined = BooleanAttribute(default=False)
    quarantine_reason = UnicodeAttribute(null=True)
    assignment = MapAttribute(null=True)  # type: ignore[var-annotated]
    segments = MapAttribute(null=True)  # type: ignore[var-annotated]
    mailchimp = MapAttribute(null=True)  # type: ignore[var-annotated]
    created_at = UTCDateTimeAttribute(null=True)
    version = NumberAttribute(default=0)


class RepItem(CrmItem, discriminator="REP"):
    """A sales rep: ``REP#<rep_id>`` / ``REP``."""

    rep_id = UnicodeAttribute()
    name = UnicodeAttribute()
    email = UnicodeAttribute()
    manager_id = UnicodeAttribute(null=True)
    territory_id = UnicodeAttribute(null=True)
    capacity = NumberAttribute(null=True)
    out_of_office = MapAttribute(null=True)  # type: ignore[var-annotated]
    quota = MapAttribute(null=True)  # type: ignore[var-annotated]
    activity_points_quota = NumberAttribute(null=True)
    occurred_at = UnicodeAttribute(null=True)


class TerritoryItem(CrmItem, discriminator="TERRITORY"):
    """A territory: ``TERRITORY#<id>`` / ``TERRITORY``."""

    territory_id = UnicodeAttribute()
    name = UnicodeAttribute()
    parent_id = UnicodeAttribute(null=True)
    owner = UnicodeAttribute(null=True)
    occurred_at = UnicodeAttribute(null=True)


class AccountItem(CrmItem, discriminator="ACCOUNT"):
    """An account: ``ACCOUNT#<id>`` / ``ACCOUNT``; gsi1 ``ACCOUNTS`` / normalised name."""

    account_id = UnicodeAttribute()
    name = UnicodeAttribute()
    territory_id = UnicodeAttribute(null=True)
    owner = UnicodeAttribute(null=True)
    key_account = BooleanAttribute(default=False)
    aliases = ListAttribute(of=UnicodeAttribute, null=True)  # type: ignore[var-annotated]
    occurred_at = UnicodeAttribute(null=True)


# Entities written with the low-level client by crm_events (shared/crm_entities.py). They are
# declared here so a CrmItem query that meets one yields a typed item instead of failing on an
# unknown discriminator; their fields are read as plain attributes where they are used.
class ContactItem(CrmItem, discriminator="CONTACT"):
    pass


class OpportunityItem(CrmItem, discriminator="OPPORTUNITY"):
    pass


class OpportunityStageItem(CrmItem, discriminator="OPPORTUNITY_STAGE"):
    pass


class EscalationItem(CrmItem, discriminator="ESCALATION"):
    pass


class SampleItem(CrmItem, discriminator="SAMPLE"):
    pass


class ActivityItem(CrmItem, discriminator="ACTIVITY"):
    pass


class OrderItem(CrmItem, discriminator="ORDER"):
    pass


class LeadStatusItem(CrmItem, discriminator="LEAD_STATUS"):
    pass


# ------------------------------------------------------------------ other tables
# The POS, plan and state tables' models live in their stores: shared/store/{pos,plan,state}.py.
class EventsItem(HubItem):
    class Meta:
        table_name = _settings.events_table
        region = _settings.region

    entity = DiscriminatorAttribute(attr_name="entity")
    by_gsi1 = Gsi1()


# Items the events code writes with the low-level client; declared for the same reason.
class InboxEventItem(EventsItem, discriminator="INBOX_EVENT"):
    pass
