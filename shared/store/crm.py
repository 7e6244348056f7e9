"""The CRM table: leads and their submissions, reps, territories, accounts, contacts, opportunities
(and their stage observations), escalations, samples, activities and orders.

The only place a CRM key is spelled (the ``*_key`` functions and the gsi1 keys below). Items are
typed pynamodb models; callers get plain records (frozen pydantic models) and never see a model.
``CrmStore`` is the protocol of the access patterns the functions use (``docs/data-model.md``
names the method for each pattern); ``DynamoCrmStore`` serves it from DynamoDB, ``InMemoryCrmStore``
from a dict, with the same semantics: both run the same logic (``_CrmLogic``) over a small backend of
primitive operations (get, conditional put, conditional update, a two-item transaction, queries),
so conditions, versions and index keys are computed once.

Writers:
- the LEAD item has one versioned writer, ``update_lead`` (intake, crm_events' status changes,
  MailChimp's unsubscribe / profile / email change), which also keeps the lead's gsi1 keys in step
  with what it changes (owner, status, quarantine, queue); ``create_lead`` makes it, with the submission
  that created it kept on the item (``first_submission``; later ones are items of their own). The MailChimp
  sync state (``mailchimp.*`` only, never ``version``) is kept by ``record_sync_state``;
- entities from external CRMs are written by ``upsert_*`` / ``log_activity`` / ``book_order`` only
  when the event is newer than what is stored (``Version``), returning an ``Outcome``;
- a CONTACT has the events' writer and MailChimp's versioned ``update_contact``.

Errors: ``shared.store.errors`` (``NotFound``, ``Conflict``, ``Throttled``); ``LeadExists`` and
``SubmissionExists`` are the two ``Conflict``s the intake tells apart.
"""

from __future__ import annotations

import json
import threading
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, ClassVar, Final, Literal, Protocol, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator
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
from pynamodb.expressions.condition import Condition
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from shared.leads import LeadFields, SubmissionFields, email_key, lead_id_for
from shared.settings import get_settings
from shared.store.common import (
    DateTextAttribute,
    DecimalAttribute,
    DecimalMapAttribute,
    Outcome,
    UtcTextAttribute,
    Version,
    format_time,
    outcome_against,
    parse_time,
    plain,
    storable,
)
from shared.store.errors import Conflict, NotFound, StoreError, Throttled, translated
from shared.store.items import BoundedRetry, Gsi1, batch_get_raw, refuse_oversized

_settings = get_settings()


class LeadExists(Conflict):
    """``create_lead``: the person already has a lead."""


class SubmissionExists(Conflict):
    """This very submission was recorded before (a repeat delivery)."""


# ====================================================================== keys
Key = tuple[str, str]
LEADS_PER_TRANSACTION = 100  # a lead carries its first submission: one of TransactWriteItems' 100 actions

LEAD: Final = "LEAD"
CONTACT: Final = "CONTACT"
OPPORTUNITY = "OPPORTUNITY"
OPEN_PREFIX = "OPEN#"
CLOSED_PREFIX = "CLOSED#"
QUARANTINE_INDEX = "LEADS#QUARANTINE"
REPS_INDEX = "REPS"
TERRITORIES_INDEX = "TERRITORIES"
ACCOUNTS_INDEX = "ACCOUNTS"
ESCALATIONS_INDEX = "ESCALATIONS"
SAMPLES_INDEX = "SAMPLES"
OPEN_ESCALATION_STATUSES = ("open", "in_progress")
_HIGHEST = "\uffff"  # sorts after every key character: the upper end of a prefix range

# ---------------------------------------------------------------------- alerts (issue 10): sweep indexes
# Sparse: an item carries these only while some sweep may find it due (docs/data-model.md, "Alerts").
NEXT_STEPS_INDEX = "NEXT_STEPS"  # gsi3: open opportunities by next-step date (none: NO_NEXT_STEP)
NO_NEXT_STEP = "0000-00-00"
SAMPLES_DUE_INDEX = "SAMPLES_DUE"  # gsi2: samples by follow-up time while the follow-up is not done
ACTIVITIES_DUE_INDEX = "ACTIVITIES_DUE"  # gsi2: scheduled activities by due time while not done
SAMPLE_DONE_STATUSES = ("followed_up", "closed")


def open_opportunities_index(stage: str) -> str:
    """gsi2: an open stage's opportunities by last touch (last activity, else entering the stage)."""
    return f"OPEN_OPPORTUNITIES#{stage}"


# ---------------------------------------------------------------------- alerts (issue 10): alert records
ALERTS_PENDING_INDEX = "ALERTS#PENDING"  # gsi2: pending and held alerts by due time
ALERT_OPEN_STATUSES = ("pending", "held")
# Records expire (TTL) after this: longer than any repeat interval alerts.yaml allows (365 days), so a
# key is never forgotten while it could come again.
ALERT_RETENTION_DAYS = 400


def alert_key(key: str) -> Key:
    """An alert record: one per alert key (``<kind>|<entity>|<version or period>|<role>``)."""
    if len(key) > 400:  # a key attribute holds at most 1 KiB (sort) / 2 KiB (partition)
        import hashlib

        key = key[:300] + "#" + hashlib.sha256(key.encode()).hexdigest()
    return f"ALERT#{key}", "ALERT"


def alerts_to_index(recipient: str) -> str:
    """gsi1: a recipient's alerts by creation time."""
    return f"ALERTS_TO#{recipient.lower()}"


def alerts_day_index(day: str) -> str:
    """gsi3: every alert of a day (UTC) by creation time."""
    return f"ALERTS#{day}"


def lead_key(lead_id: str) -> Key:
    return f"LEAD#{lead_id}", "LEAD"


# ---------------------------------------------------------------------- trade-show imports (issue 14)
IMPORT_SOURCE_PREFIX = "import:"  # a lead's ``source`` when a trade-show list created it
# Digest records expire (TTL) with the alert records that announce them.
IMPORT_DIGEST_RETENTION_DAYS = ALERT_RETENTION_DAYS


def import_source(import_key: str) -> str:
    """The ``source`` of a submission (and of the lead it creates) from the list at ``import_key``."""
    return IMPORT_SOURCE_PREFIX + import_key


def import_digest_key(import_key: str, etag: str, rep_id: str) -> Key:
    """The leads one import (the list's key and ETag) assigned to one rep: announced in one email."""
    return f"IMPORT#{import_key}#{etag}", f"DIGEST#{rep_id}"


def board_report_key(month: str) -> Key:
    """The notice that the monthly export wrote the board report of ``month`` (``yyyy-mm``)."""
    return f"BOARD_REPORT#{month}", "BOARD_REPORT"


def lead_submission_key(lead_id: str, submission_id: str) -> Key:
    return f"LEAD#{lead_id}", f"SUBMISSION#{submission_id}"


def _lead_status_partition(lead_id: str) -> str:
    return f"LEAD_STATUS#{lead_id}"


def lead_status_key(lead_id: str, version: Version) -> Key:
    """One status change of a lead, in its own partition (sorted by time)."""
    return _lead_status_partition(lead_id), f"{version.stamp}#{version.event_id}"


def email_alias_key(email: str) -> Key:
    """Another address a lead is known by (an email change): ``EMAIL#<address>`` / ``LEAD_ALIAS``."""
    return f"EMAIL#{email_key(email)}", "LEAD_ALIAS"


def suppression_key(email: str) -> Key:
    """What MailChimp said about an address the hub had no person for: ``EMAIL#<address>`` / ``SUPPRESSION``."""
    return f"EMAIL#{email_key(email)}", "SUPPRESSION"


def rep_key(rep_id: str) -> Key:
    return f"REP#{rep_id}", "REP"


def territory_key(territory_id: str) -> Key:
    return f"TERRITORY#{territory_id}", "TERRITORY"


def account_key(account_id: str) -> Key:
    return f"ACCOUNT#{account_id}", "ACCOUNT"


def contact_key(contact_id: str) -> Key:
    return f"CONTACT#{contact_id}", "CONTACT"


def contact_email_key(email: str, contact_id: str) -> Key:
    """A pointer from an email address to a contact (MailChimp's webhooks name people by email)."""
    return f"CONTACT_EMAIL#{email.strip().lower()}", f"CONTACT#{contact_id}"


def opportunity_key(opportunity_id: str) -> Key:
    return f"OPPORTUNITY#{opportunity_id}", "OPPORTUNITY"


STAGE_PREFIX = "STAGE#"


def stage_observation_key(opportunity_id: str, version: Version) -> Key:
    """One stage observation of an opportunity, in its partition, sorted by time."""
    return opportunity_key(opportunity_id)[0], f"{STAGE_PREFIX}{version.stamp}#{version.event_id}"


def escalation_key(escalation_id: str) -> Key:
    return f"ESCALATION#{escalation_id}", "ESCALATION"


def sample_key(sample_id: str) -> Key:
    return f"SAMPLE#{sample_id}", "SAMPLE"


def activity_key(activity_id: str) -> Key:
    return f"ACTIVITY#{activity_id}", "ACTIVITY"


def order_key(order_id: str) -> Key:
    return f"ORDER#{order_id}", "ORDER"


# gsi1
def owner_index(rep_id: str) -> str:
    return f"OWNER#{rep_id}"


def queue_index(queue: str) -> str:
    return f"QUEUE#{queue}"


def account_children_index(account_id: str) -> str:
    """An account's contacts (``CONTACT#<id>``) and opportunities (``OPPORTUNITY#<id>``)."""
    return f"ACCOUNT#{account_id}"


def rep_activities_index(rep_id: str) -> str:
    return f"REP#{rep_id}#ACTIVITIES"


def orders_index(year: int) -> str:
    return f"ORDERS#{year:04d}"


def _child_sort(kind: str, entity_id: str) -> str:
    return f"{kind}#{entity_id}"


# ====================================================================== item models
class Gsi2(GlobalSecondaryIndex[Any]):
    """Sparse, due-time order: what the alert sweeps read, alerts pending or held."""

    class Meta:
        index_name = "gsi2"
        projection = AllProjection()

    gsi2pk = UnicodeAttribute(hash_key=True)
    gsi2sk = UnicodeAttribute(range_key=True)


class Gsi3(GlobalSecondaryIndex[Any]):
    """Sparse: open opportunities by next-step date; every alert by day."""

    class Meta:
        index_name = "gsi3"
        projection = AllProjection()

    gsi3pk = UnicodeAttribute(hash_key=True)
    gsi3sk = UnicodeAttribute(range_key=True)


class CrmItem(Model):
    """Every item of the CRM table; ``entity`` says which kind (stream filters read it)."""

    class Meta:
        table_name = _settings.crm_table
        region = _settings.region

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    gsi1pk = UnicodeAttribute(null=True)
    gsi1sk = UnicodeAttribute(null=True)
    updated_at = UTCDateTimeAttribute(null=True)  # pynamodb's format
    expires_at = TTLAttribute(null=True)
    entity = DiscriminatorAttribute(attr_name="entity")
    by_gsi1 = Gsi1()
    # Sparse indexes of the alert sweeps and alert records (see the "alerts" sections below).
    gsi2pk = UnicodeAttribute(null=True)
    gsi2sk = UnicodeAttribute(null=True)
    gsi3pk = UnicodeAttribute(null=True)
    gsi3sk = UnicodeAttribute(null=True)
    by_gsi2 = Gsi2()
    by_gsi3 = Gsi3()


class EventItem(CrmItem):
    """An item written from events: the version of the event that wrote it, and its source."""

    occurred_at = UnicodeAttribute(null=True)  # as stored (fixed-width UTC; other text from the demo)
    last_event_id = UnicodeAttribute(null=True)
    source = UnicodeAttribute(null=True)


class LeadItem(CrmItem, discriminator="LEAD"):
    """A lead: ``LEAD#<lead_id>`` / ``LEAD``. gsi1: owner (OPEN#/CLOSED#), queue, or the quarantine."""

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
    annual_revenue = UnicodeAttribute(null=True)  # decimal text: exact, never a float
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
    closed = BooleanAttribute(null=True)  # a closed outcome (lost, won): out of the owner's open leads
    status_reason = UnicodeAttribute(null=True)
    status_occurred_at = UnicodeAttribute(null=True)
    status_event_id = UnicodeAttribute(null=True)
    converted_account_id = UnicodeAttribute(null=True)
    converted_contact_id = UnicodeAttribute(null=True)
    source = UnicodeAttribute(null=True)
    quarantined = BooleanAttribute(default=False)
    quarantine_reason = UnicodeAttribute(null=True)  # comma-separated
    assignment = MapAttribute(null=True)  # type: ignore[var-annotated]
    segments = MapAttribute(null=True)  # type: ignore[var-annotated]
    mailchimp = MapAttribute(null=True)  # type: ignore[var-annotated]
    created_at = UTCDateTimeAttribute(null=True)
    version = NumberAttribute(default=0)
    # The list that created the lead (its key), set from ``source`` by the store: its assignment is
    # announced in that import's digest, and the alerts' stream filter passes over its creation.
    imported_from = UnicodeAttribute(null=True)
    # The submission that created the lead, kept on it (written once, with the lead; never changed): one
    # item write per new lead. A lead created before this has its first submission as its own item.
    first_submission = MapAttribute(null=True)  # type: ignore[var-annotated]


class LeadSubmissionItem(CrmItem, discriminator="LEAD_SUBMISSION"):
    """One submission in a lead's history: ``LEAD#<lead_id>`` / ``SUBMISSION#<submission_id>``."""

    lead_id = UnicodeAttribute()
    submission_id = UnicodeAttribute()
    received_at = UTCDateTimeAttribute()
    source = UnicodeAttribute()
    outcome = UnicodeAttribute()
    campaign = UnicodeAttribute(null=True)
    utm_source = UnicodeAttribute(null=True)
    utm_medium = UnicodeAttribute(null=True)
    utm_campaign = UnicodeAttribute(null=True)
    quarantine_reasons = ListAttribute(of=UnicodeAttribute, null=True)  # type: ignore[var-annotated]
    fields = MapAttribute(null=True)  # type: ignore[var-annotated]


class LeadStatusItem(CrmItem, discriminator="LEAD_STATUS"):
    """One status change of a lead from an external CRM (write-once): ``LEAD_STATUS#<id>`` / ``<at>#<event>``."""

    lead_id = UnicodeAttribute()
    status = UnicodeAttribute()
    at = UnicodeAttribute()
    event_id = UnicodeAttribute()
    source = UnicodeAttribute(null=True)
    status_reason = UnicodeAttribute(null=True)
    converted_account_id = UnicodeAttribute(null=True)
    converted_contact_id = UnicodeAttribute(null=True)


class EmailAliasItem(CrmItem, discriminator="EMAIL_ALIAS"):
    """``EMAIL#<address>`` / ``LEAD_ALIAS``: the lead an address also reaches (write-once)."""

    email = UnicodeAttribute()
    lead_id = UnicodeAttribute()


class SuppressionItem(CrmItem, discriminator="SUPPRESSION"):
    """``EMAIL#<address>`` / ``SUPPRESSION``: MailChimp's last status for an address nobody had yet."""

    email = UnicodeAttribute()
    status = UnicodeAttribute()  # unsubscribed / cleaned / subscribed
    at = UnicodeAttribute()  # fixed-width UTC text: when MailChimp said it
    reason = UnicodeAttribute(null=True)


class _Map(MapAttribute):  # type: ignore[type-arg]
    """A typed map whose ``as_dict`` also turns maps inside lists into dicts."""

    def as_dict(self) -> dict[str, Any]:
        def unwrap(value: Any) -> Any:
            if isinstance(value, MapAttribute):
                return value.as_dict()
            if isinstance(value, list):
                return [unwrap(v) for v in value]
            return value

        return {key: unwrap(value) for key, value in self.attribute_values.items()}


class PeriodMap(_Map):
    start = UnicodeAttribute()  # ISO date, inclusive
    end = UnicodeAttribute()  # ISO date, inclusive


class OutOfOfficeMap(_Map):
    periods = ListAttribute(of=PeriodMap, default=list)  # type: ignore[var-annotated]


class RepItem(EventItem, discriminator="REP"):
    """A sales rep: ``REP#<rep_id>`` / ``REP``; gsi1 ``REPS`` / ``<rep_id>``. The one rep registry."""

    rep_id = UnicodeAttribute()
    name = UnicodeAttribute()
    email = UnicodeAttribute(null=True)
    manager_id = UnicodeAttribute(null=True)
    territory_id = UnicodeAttribute(null=True)
    capacity = NumberAttribute(null=True)
    timezone = UnicodeAttribute(null=True)  # IANA name
    out_of_office = OutOfOfficeMap(null=True)
    quota = DecimalMapAttribute(null=True)  # {"default": n} or {"2026-Q4": n, ...}
    activity_points_quota = NumberAttribute(null=True)


class TerritoryItem(EventItem, discriminator="TERRITORY"):
    """A territory: ``TERRITORY#<id>`` / ``TERRITORY``; gsi1 ``TERRITORIES`` / ``<id>``."""

    territory_id = UnicodeAttribute()
    name = UnicodeAttribute()
    parent_id = UnicodeAttribute(null=True)
    owner = UnicodeAttribute(null=True)


class AccountItem(EventItem, discriminator="ACCOUNT"):
    """An account: ``ACCOUNT#<id>`` / ``ACCOUNT``; gsi1 ``ACCOUNTS`` / ``<id>``."""

    account_id = UnicodeAttribute()
    name = UnicodeAttribute()
    territory_id = UnicodeAttribute(null=True)
    owner = UnicodeAttribute(null=True)
    key_account = BooleanAttribute(default=False)
    aliases = ListAttribute(of=UnicodeAttribute, null=True)  # type: ignore[var-annotated]
    name_key = UnicodeAttribute(null=True)
    alias_keys = ListAttribute(of=UnicodeAttribute, null=True)  # type: ignore[var-annotated]


class ContactItem(EventItem, discriminator="CONTACT"):
    """A contact: ``CONTACT#<id>`` / ``CONTACT``; gsi1 ``ACCOUNT#<account_id>`` / ``CONTACT#<id>``."""

    contact_id = UnicodeAttribute()
    account_id = UnicodeAttribute(null=True)
    first_name = UnicodeAttribute(null=True)
    last_name = UnicodeAttribute(null=True)
    email = UnicodeAttribute(null=True)
    phone = UnicodeAttribute(null=True)
    title = UnicodeAttribute(null=True)
    company = UnicodeAttribute(null=True)
    country = UnicodeAttribute(null=True)
    marketing_opt_in = BooleanAttribute(null=True)
    marketing_status = UnicodeAttribute(null=True)  # MailChimp's: unsubscribed / cleaned / subscribed
    mailchimp = MapAttribute(null=True)  # type: ignore[var-annotated]
    version = NumberAttribute(default=0)


class ContactEmailItem(CrmItem, discriminator="CONTACT_EMAIL"):
    """``CONTACT_EMAIL#<email>`` / ``CONTACT#<id>``: who has this address (checked against the contact)."""

    contact_id = UnicodeAttribute()


class OpportunityItem(EventItem, discriminator="OPPORTUNITY"):
    """An opportunity: ``OPPORTUNITY#<id>`` / ``OPPORTUNITY``; gsi1 ``ACCOUNT#<account_id>`` / ``OPPORTUNITY#<id>``."""

    opportunity_id = UnicodeAttribute()
    account_id = UnicodeAttribute()
    name = UnicodeAttribute()
    owner = UnicodeAttribute(null=True)
    stage = UnicodeAttribute()
    probability = NumberAttribute(null=True)
    amount = DecimalAttribute(null=True)
    close_date = DateTextAttribute(null=True)
    next_step = UnicodeAttribute(null=True)
    next_step_date = DateTextAttribute(null=True)
    last_activity_at = UtcTextAttribute(null=True)
    stage_entered_at = UnicodeAttribute(null=True)
    previous_stage = UnicodeAttribute(null=True)
    outcome = UnicodeAttribute(null=True)  # the stage's outcome in the catalogue: open, hold, won, lost
    version = NumberAttribute(default=0)


class OpportunityStageItem(CrmItem, discriminator="OPPORTUNITY_STAGE"):
    """One stage observation (write-once): ``OPPORTUNITY#<id>`` / ``STAGE#<occurred_at>#<event_id>``."""

    opportunity_id = UnicodeAttribute()
    stage = UnicodeAttribute()
    probability = NumberAttribute(null=True)
    at = UnicodeAttribute()
    event_id = UnicodeAttribute()


class EscalationItem(EventItem, discriminator="ESCALATION"):
    """An escalation: ``ESCALATION#<id>`` / ``ESCALATION``; gsi1 ``ESCALATIONS`` / ``<status>#<due>#<id>``.

    ``<due>`` is ``due_at``, or, when there is none, ``opened_at`` (when the hub first saw the
    escalation): an escalation without a due time is due from its opening."""

    escalation_id = UnicodeAttribute()
    account_id = UnicodeAttribute()
    title = UnicodeAttribute()
    severity = UnicodeAttribute()
    status = UnicodeAttribute()
    assignee = UnicodeAttribute(null=True)
    due_at = UtcTextAttribute(null=True)
    opened_at = UtcTextAttribute(null=True)
    resolution = UnicodeAttribute(null=True)
    contact_id = UnicodeAttribute(null=True)  # the customer contact who raised it (told the outcome)
    version = NumberAttribute(default=0)


class SampleItem(EventItem, discriminator="SAMPLE"):
    """A sample: ``SAMPLE#<id>`` / ``SAMPLE``; gsi1 ``SAMPLES`` / ``<follow_up_at>#<id>`` (only with a follow-up)."""

    sample_id = UnicodeAttribute()
    account_id = UnicodeAttribute()
    opportunity_id = UnicodeAttribute(null=True)
    part_number = UnicodeAttribute()
    quantity = NumberAttribute()
    shipped_at = UtcTextAttribute(null=True)
    follow_up_at = UtcTextAttribute(null=True)
    status = UnicodeAttribute(null=True)  # shipped, followed_up, closed (followed_up / closed: nothing due)


class ActivityItem(EventItem, discriminator="ACTIVITY"):
    """An activity: ``ACTIVITY#<id>`` / ``ACTIVITY``; gsi1 ``REP#<rep_id>#ACTIVITIES`` / ``<at>#<id>``."""

    activity_id = UnicodeAttribute()
    rep_id = UnicodeAttribute()
    type = UnicodeAttribute()
    points = NumberAttribute(default=0)
    at = UtcTextAttribute()
    opportunity_id = UnicodeAttribute(null=True)
    subject = UnicodeAttribute(null=True)
    due_at = UtcTextAttribute(null=True)  # a scheduled activity (a next step on the calendar)
    done = BooleanAttribute(null=True)


class OrderItem(EventItem, discriminator="ORDER"):
    """An order: ``ORDER#<id>`` / ``ORDER``; gsi1 ``ORDERS#<yyyy>`` / ``<booked_at>#<id>``."""

    order_id = UnicodeAttribute()
    account_id = UnicodeAttribute()
    opportunity_id = UnicodeAttribute(null=True)
    amount = DecimalAttribute()
    currency = UnicodeAttribute(default="USD")
    booked_at = UtcTextAttribute()


class ImportDigestItem(CrmItem, discriminator="IMPORT_DIGEST"):
    """The leads one trade-show import assigned to one rep: ``IMPORT#<key>#<etag>`` / ``DIGEST#<rep_id>``,
    written once when the import is done (its INSERT is on the alerts' stream filter: one email)."""

    import_key = UnicodeAttribute()
    etag = UnicodeAttribute()
    rep_id = UnicodeAttribute()
    lead_count = NumberAttribute()  # every lead of the import assigned to the rep
    leads_json = (
        UnicodeAttribute()
    )  # the first MAX_DIGEST_LEADS of them: lead_id, name, company, email, country
    results_key = UnicodeAttribute(null=True)
    created_at = UTCDateTimeAttribute()
    rep_email = UnicodeAttribute(null=True)  # routing's address for the rep (when the CRM does not hold them)


class BoardReportItem(CrmItem, discriminator="BOARD_REPORT"):
    """The monthly export wrote the board report: ``BOARD_REPORT#<yyyy-mm>`` / ``BOARD_REPORT``, written once
    per month by ``plan_rollup`` (its INSERT is on the alerts' stream filter: one email with the links)."""

    year = NumberAttribute()
    month = UnicodeAttribute()  # yyyy-mm: where the export wrote it (reports/plan/<month>/plan-<year>.*)
    nodes = NumberAttribute()  # the nodes of the tree the report holds
    created_at = UTCDateTimeAttribute()


# ---------------------------------------------------------------------- alerts (issue 10): the record's item
class AlertItem(CrmItem, discriminator="ALERT"):
    """An alert: ``ALERT#<alert key>`` / ``ALERT``, claimed before sending, then marked.

    gsi1 ``ALERTS_TO#<recipient>`` / ``<created_at>#<key>``; gsi2 ``ALERTS#PENDING`` / ``<due_at>#<key>``
    while pending or held; gsi3 ``ALERTS#<day>`` / ``<created_at>#<key>``."""

    alert_id = UnicodeAttribute()  # the alert key
    kind = UnicodeAttribute()
    about = UnicodeAttribute()  # the entity it is about, e.g. OPPORTUNITY#o-1
    recipient = UnicodeAttribute()
    created_at = UnicodeAttribute()
    status = UnicodeAttribute()  # pending, held, sent, digested
    role = UnicodeAttribute(null=True)
    recipient_name = UnicodeAttribute(null=True)
    timezone = UnicodeAttribute(null=True)
    urgent = BooleanAttribute(default=False)
    claim_token = UnicodeAttribute(null=True)
    due_at = UnicodeAttribute(null=True)  # pending: the claim's lease end; held: when the hold ends
    attempts = NumberAttribute(default=1)
    sent_at = UnicodeAttribute(null=True)
    message_id = UnicodeAttribute(null=True)
    fallback_reason = UnicodeAttribute(null=True)
    hold_reason = UnicodeAttribute(null=True)
    digest_key = UnicodeAttribute(null=True)
    subject = UnicodeAttribute(null=True)
    facts_json = UnicodeAttribute(null=True)  # what the email tells, to render it again after a hold


# ====================================================================== records (what callers get)
class Record(BaseModel):
    # Built on first use (pydantic's defer_build): a function validates only the few records its requests use.
    model_config = ConfigDict(frozen=True, extra="ignore", defer_build=True)


class Lead(Record, LeadFields):
    """A lead as stored: the person's fields (``shared.leads.LeadFields``, the intake's too) and the
    store's. ``quarantine_reasons`` is kept as comma-separated text on the item."""

    lead_id: str
    marketing_status: str | None = None
    owner: str | None = None
    territory_id: str | None = None
    status: str = "New"
    closed: bool = False
    status_reason: str | None = None
    status_occurred_at: str | None = None
    status_event_id: str | None = None
    converted_account_id: str | None = None
    converted_contact_id: str | None = None
    source: str | None = None
    quarantined: bool = False
    quarantine_reasons: tuple[str, ...] = ()
    assignment: dict[str, Any] | None = None
    segments: dict[str, Any] | None = None
    mailchimp: dict[str, Any] | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    version: int = 0
    # The submission that created the lead, as kept on its item (``create_leads``); None for a lead stored
    # before that, whose first submission is an item of its own, and in a lead not written yet.
    first_submission: LeadSubmission | None = None

    @property
    def queue(self) -> str | None:
        """The queue holding the lead when no rep could take it (``owner`` is then empty)."""
        if self.assignment and self.assignment.get("owner_type") == "queue":
            return str(self.assignment.get("owner"))
        return None

    def first_is(self, submission_id: str) -> bool:
        """Whether ``submission_id`` is the submission kept on the lead item (the one that created it)."""
        return self.first_submission is not None and self.first_submission.submission_id == submission_id

    @property
    def status_version(self) -> Version | None:
        """The version of the external CRM's last status change, if any."""
        if self.status_occurred_at is None:
            return None
        return Version.of(self.status_occurred_at, self.status_event_id)


LEAD_FIELDS = frozenset(Lead.model_fields)
# What callers may change with ``update_lead`` (the id and the version are the store's).
_LEAD_UNCHANGEABLE = frozenset({"lead_id", "version", "first_submission"})
# What MailChimp may change on a CRM contact with ``update_contact`` (besides ``mailchimp.<k>``).
_CONTACT_CHANGEABLE = frozenset(
    {"first_name", "last_name", "email", "phone", "company", "country", "title", "marketing_opt_in",
     "marketing_status", "updated_at"}
)  # fmt: skip


class LeadSubmission(Record, SubmissionFields):
    """One submission in a lead's history (its fields: ``shared.leads.SubmissionFields``)."""


@dataclass(frozen=True)
class Person:
    """What the intake reads about an address: the lead it reaches (id, and the lead if stored) and
    what MailChimp said about the address before the person arrived."""

    lead_id: str
    lead: Lead | None
    suppression: Suppression | None


class Suppression(Record):
    """MailChimp's status for an address the hub had no person for, kept until that person arrives."""

    email: str
    status: Literal["unsubscribed", "cleaned", "subscribed"]
    at: datetime
    reason: str | None = None

    @property
    def suppressed(self) -> bool:
        return self.status != "subscribed"


class LeadStatusChange(Record):
    """One status change of a lead, as an external CRM sent it."""

    lead_id: str
    status: str
    at: datetime
    event_id: str
    source: str | None = None
    status_reason: str | None = None
    converted_account_id: str | None = None
    converted_contact_id: str | None = None


class Entity(Record):
    """What every entity from external CRMs carries: the event that last wrote it."""

    occurred_at: datetime | None = None
    last_event_id: str | None = None
    source: str | None = None


class AwayPeriod(Record):
    """Dates a rep is away, inclusive."""

    start: date
    end: date

    def covers(self, day: date) -> bool:
        return self.start <= day <= self.end


def _check_timezone(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {value!r} (an IANA name, like Europe/Berlin)") from exc
    return value


class Rep(Entity):
    rep_id: str
    name: str
    email: str | None = None
    manager_id: str | None = None
    territory_id: str | None = None
    capacity: int | None = None
    timezone: str | None = None
    quota: dict[str, Decimal] = Field(default_factory=dict)  # {"default": n} or {"2026-Q4": n, ...}
    activity_points_quota: int | None = None
    out_of_office: tuple[AwayPeriod, ...] = ()

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str | None) -> str | None:
        return _check_timezone(value)

    def away_on(self, day: date) -> bool:
        return any(period.covers(day) for period in self.out_of_office)

    def quota_for(self, year: int, quarter: int) -> Decimal | None:
        return self.quota.get(f"{year:04d}-Q{quarter}", self.quota.get("default"))


class Territory(Entity):
    territory_id: str
    name: str
    parent_id: str | None = None
    owner: str | None = None


class Account(Entity):
    account_id: str
    name: str
    territory_id: str | None = None
    owner: str | None = None
    key_account: bool = False
    aliases: tuple[str, ...] = ()
    name_key: str | None = None  # normalise_name(name): derived by the store
    alias_keys: tuple[str, ...] = ()


class Contact(Entity):
    contact_id: str
    account_id: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    phone: str | None = None
    title: str | None = None
    company: str | None = None
    country: str | None = None
    marketing_opt_in: bool | None = None
    marketing_status: str | None = None
    mailchimp: dict[str, Any] | None = None
    version: int = 0


class Opportunity(Entity):
    opportunity_id: str
    account_id: str
    name: str
    owner: str | None = None
    stage: str
    probability: int | None = None
    amount: Decimal | None = None
    close_date: date | None = None
    next_step: str | None = None
    next_step_date: date | None = None
    last_activity_at: datetime | None = None
    stage_entered_at: str | None = None  # derived by the store: when the current stage began
    previous_stage: str | None = None  # derived by the store
    outcome: str | None = None  # the stage's outcome (open, hold, won, lost); only open ones are chased

    @property
    def is_open(self) -> bool:
        return self.outcome in (None, "open")


@dataclass(frozen=True)
class StageChange:
    """One step of an opportunity's stage history."""

    from_stage: str | None
    to_stage: str
    at: datetime
    event_id: str

    def as_dict(self) -> dict[str, Any]:
        return {"from_stage": self.from_stage, "to_stage": self.to_stage, "at": format_time(self.at)}


class StageObservation(Record):
    opportunity_id: str
    stage: str
    probability: int | None = None


class Escalation(Entity):
    escalation_id: str
    account_id: str
    title: str
    severity: str
    status: str
    assignee: str | None = None
    due_at: datetime | None = None
    opened_at: datetime | None = None  # derived by the store: when the hub first saw it
    resolution: str | None = None
    contact_id: str | None = None

    @property
    def due(self) -> datetime | None:
        """When it is due: ``due_at``, else from its opening (``opened_at``)."""
        return self.due_at or self.opened_at


class Sample(Entity):
    sample_id: str
    account_id: str
    opportunity_id: str | None = None
    part_number: str
    quantity: int
    shipped_at: datetime | None = None
    follow_up_at: datetime | None = None
    status: str | None = None

    @property
    def follow_up_done(self) -> bool:
        return self.status in SAMPLE_DONE_STATUSES


class Activity(Entity):
    activity_id: str
    rep_id: str
    type: str
    points: int = 0
    at: datetime
    opportunity_id: str | None = None
    subject: str | None = None
    due_at: datetime | None = None
    done: bool | None = None


class Order(Entity):
    order_id: str
    account_id: str
    opportunity_id: str | None = None
    amount: Decimal
    currency: str = "USD"
    booked_at: datetime


class AlertRecord(Record):
    """An alert as recorded: the claim, what became of it, and why (fallback, hold)."""

    key: str
    kind: str
    entity: str
    recipient: str
    created_at: str
    status: str = "pending"
    role: str = ""
    recipient_name: str = ""
    timezone: str = "UTC"
    urgent: bool = False
    claim_token: str = ""
    due_at: str | None = None
    attempts: int = 1
    sent_at: str | None = None
    message_id: str | None = None
    fallback_reason: str | None = None
    hold_reason: str | None = None
    digest_key: str | None = None
    subject: str = ""
    facts: dict[str, Any] = Field(default_factory=dict)

    def view(self) -> dict[str, Any]:
        """As ``GET /alerts`` and ``hub alerts list`` show it."""
        return self.model_dump(exclude={"claim_token", "facts"})


class ImportDigest(Record):
    """What one trade-show import assigned to one rep (``CrmStore.record_import_digest``)."""

    MAX_LEADS: ClassVar[int] = 300  # listed in the record (and the email); ``count`` has them all

    import_key: str
    etag: str
    rep_id: str
    count: int
    leads: list[dict[str, str]] = Field(default_factory=list)
    results_key: str | None = None
    created_at: datetime
    rep_email: str | None = None  # routing's address for the rep, used when the CRM does not hold them


@dataclass(frozen=True)
class ContactRef:
    """A person MailChimp knows: a lead or a CRM contact, by id."""

    kind: Literal["LEAD", "CONTACT"]
    id: str


def normalise_name(name: str) -> str:
    """Company names as compared for matching: case, accents, punctuation and spacing folded."""
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii").casefold()
    kept = "".join(c if c.isalnum() else " " for c in folded)
    return " ".join(kept.split())


# ====================================================================== the protocol
class AlertStore(Protocol):
    """Alert records (issue 10): the claim before sending, then what became of it."""

    def claim_alert(self, record: AlertRecord) -> bool:
        """Create the record unless the key exists (the claim before sending)."""
        ...

    def get_alert(self, key: str) -> AlertRecord | None: ...

    def get_alerts(self, keys: list[str]) -> dict[str, AlertRecord]:
        """The records of those keys that exist (BatchGetItem)."""
        ...

    def take_over_alert(self, record: AlertRecord, new_token: str, due_at: str, now: str) -> bool:
        """Claim an open record again (its sender died, or its hold ended): only while it carries the
        token it was read with, has no message id and is due by ``now``."""
        ...

    def hold_alert(self, key: str, token: str, reason: str, due_at: str) -> bool: ...

    def release_alert(self, key: str, token: str, now: str) -> bool:
        """Give a claim up after a failed send, so a retry may take it over at once."""
        ...

    def mark_alert_sent(self, key: str, token: str, message_id: str, sent_at: str) -> bool: ...

    def claim_digest(self, digest: AlertRecord, members: list[tuple[str, str]]) -> list[str] | None:
        """Create the digest's record (None if it exists), then mark each member (key, token)
        ``digested`` into it; the keys marked. No transaction: the local hub's emulation copies
        every table for each one; a crash in between is finished by ``adopt_into_digest``."""
        ...

    def adopt_into_digest(self, key: str, digest_key: str, now: str) -> bool:
        """Mark an open member whose claim has run out ``digested`` into ``digest_key`` (a digest's
        retry after a crash); True when it is, or already was, in that digest."""
        ...

    def alerts_due(self, now: str, limit: int = 500) -> list[AlertRecord]:
        """Pending or held records whose ``due_at`` has passed, oldest first (gsi2)."""
        ...

    def record_import_digest(self, digest: ImportDigest) -> bool:
        """Write the digest record once (``attribute_not_exists``); False when it was already written."""
        ...

    def record_board_report(self, year: int, month: str, nodes: int, created_at: datetime) -> bool:
        """Write the notice that ``month``'s board report is written, once (``attribute_not_exists``): its
        INSERT tells the board; False when it was already written (a retried export tells nobody again)."""
        ...

    def import_digests(self, import_key: str, etag: str) -> list[ImportDigest]:
        """The digest records of one import, by rep."""
        ...

    def alerts_to(self, recipient: str, since: str, limit: int = 1000) -> list[AlertRecord]:
        """A recipient's alerts created since ``since``, oldest first (gsi1)."""
        ...

    def list_alerts(self, since: str, until: str, limit: int = 1000) -> list[AlertRecord]:
        """Every alert created in [since, until), oldest first (gsi3, one query per day)."""
        ...


class CrmStore(AlertStore, Protocol):
    """The access patterns of the CRM table (``docs/data-model.md`` names the method for each)."""

    # --- leads (intake, crm_events, MailChimp, reports)
    def get_lead(self, lead_id: str) -> Lead | None:
        """A lead by id (consistent read)."""
        ...

    def create_lead(self, lead: Lead, submission: LeadSubmission) -> Lead:
        """A new lead with its first submission kept on it (``Lead.first_submission``): one conditional put;
        ``LeadExists`` / ``SubmissionExists`` (the lead was created by this very submission)."""
        ...

    def update_lead(
        self,
        lead_id: str,
        changes: Mapping[str, Any],
        *,
        expected_version: int,
        submission: LeadSubmission | None = None,
        current: Lead | None = None,
    ) -> Lead:
        """The one writer of a lead: set ``changes`` (``Lead`` field names; ``None`` removes;
        ``"mailchimp.<k>"`` sets one key of the sync map) if the lead's version is still
        ``expected_version``; the version moves on by one, gsi1 keys follow owner, status, quarantine
        and queue. ``current`` (the lead as read at that version) saves a read. Raises ``NotFound``,
        ``Conflict`` (version moved), ``SubmissionExists`` (with ``submission``: already recorded)."""
        ...

    def lead_id_for_email(self, email: str) -> str:
        """The lead an address reaches: an alias's lead (an earlier email change), else the id the
        address itself gives (``shared.leads.lead_id_for``), whether or not that lead exists yet."""
        ...

    def add_email_alias(self, email: str, lead_id: str) -> bool:
        """Let ``email`` reach ``lead_id`` too (write-once); False when it already reaches another lead
        (an alias to another, or a lead whose own address it is)."""
        ...

    def record_suppression(self, suppression: Suppression) -> bool:
        """Keep MailChimp's status for an address without a person, if newer than the one kept."""
        ...

    def get_suppression(self, email: str) -> Suppression | None: ...

    def read_person(self, email: str) -> Person:
        """Everything the intake reads about an address in one call (BatchGetItem of the address's own
        lead, its alias and its suppression; a second read only when an alias names another lead)."""
        ...

    def read_people(
        self, emails: Iterable[str], *, remaining_ms: Callable[[], int] | None = None
    ) -> dict[str, Person]:
        """``read_person`` of many addresses, by ``email_key``: three keys an address, in BatchGetItems of
        100 keys, then the leads aliases name in one more. Unprocessed keys are retried with backoff for as
        long as ``remaining_ms`` (the invocation's remaining time) allows, else ``Throttled``."""
        ...

    def create_leads(self, new: Sequence[tuple[Lead, LeadSubmission]]) -> list[Conflict | None]:
        """``create_lead`` of many new leads in one TransactWriteItems (one item a lead, at most 100 leads
        a call): per lead, None when created, else why not (``LeadExists``, also for a transaction conflict:
        read it again, or ``SubmissionExists``; told apart by one read of the refused leads). Each lead's
        conditions hold as in ``create_lead``; one refused lead does not keep the others out (they are
        written without it)."""
        ...

    def add_lead_submission(self, submission: LeadSubmission, *, lead: Lead | None = None) -> None:
        """A submission kept without changing the lead; ``SubmissionExists`` when recorded before (as its
        own item, or as the first submission kept on the lead). ``lead``, the lead as read, saves reading
        it (its first submission never changes)."""
        ...

    def get_lead_submission(
        self, lead_id: str, submission_id: str, *, lead: Lead | None = None
    ) -> LeadSubmission | None:
        """One submission of a lead: the first kept on the lead (``lead`` as read saves reading it), or an
        item of its own (later submissions; a first one stored before first submissions were kept on the lead)."""
        ...

    def lead_submissions(self, lead_id: str) -> list[LeadSubmission]:
        """A lead's submission history, oldest first: the first one kept on the lead and the items of the
        others (one query of the lead's partition)."""
        ...

    def quarantined_leads(self, limit: int = 100) -> list[Lead]:
        """The quarantine, oldest first."""
        ...

    def recent_leads(self, limit: int = 100) -> list[Lead]:
        """The newest leads out of quarantine, newest first (an operator's scan)."""
        ...

    def open_lead_count(self, rep_id: str) -> int:
        """How many open leads a rep owns (routing's capacity check)."""
        ...

    def leads_of_owner(self, rep_id: str, *, open_only: bool = False) -> list[Lead]:
        """A rep's leads, newest first (open ones only when asked)."""
        ...

    def add_lead_status(self, change: LeadStatusChange) -> bool:
        """Keep one status change in the lead's status history (write-once); True when new."""
        ...

    def lead_status_history(self, lead_id: str) -> list[LeadStatusChange]:
        """A lead's status changes from external CRMs, in time order."""
        ...

    def opted_in_leads(self, after: str | None = None) -> Iterator[tuple[str, Lead]]:
        """Every lead with ``marketing_opt_in``, each with the cursor to resume after it (a scan)."""
        ...

    def record_sync_state(
        self, ref: ContactRef, values: Mapping[str, Any], *, map_exists: bool | None = None
    ) -> bool:
        """Set ``mailchimp.<k>`` (None removes) on a lead or contact, never ``version``; False when gone."""
        ...

    def record_sync_states(
        self, entries: Sequence[tuple[ContactRef, Mapping[str, Any], bool | None]]
    ) -> list[bool]:
        """``record_sync_state`` for several people (``(ref, values, map_exists)``), in few requests."""
        ...

    # --- reps, territories, accounts
    def get_rep(self, rep_id: str) -> Rep | None: ...

    def list_reps(self) -> list[Rep]: ...

    def get_reps(self, rep_ids: Iterable[str]) -> dict[str, Rep]:
        """The reps of these ids that exist, by id (one batch read)."""
        ...

    def get_territory(self, territory_id: str) -> Territory | None: ...

    def list_territories(self) -> list[Territory]: ...

    def get_account(self, account_id: str) -> Account | None: ...

    def get_reps_and_accounts(
        self, rep_ids: Iterable[str], account_ids: Iterable[str]
    ) -> tuple[dict[str, Rep], dict[str, Account]]:
        """The reps and the accounts of these ids that exist, by id, read together (one BatchGetItem
        for both kinds, 100 keys a call)."""
        ...

    def list_accounts(self) -> list[Account]:
        """Every account, with its aliases and matching keys (POS matching)."""
        ...

    # --- contacts
    def get_contact(self, contact_id: str) -> Contact | None: ...

    def contacts_of_account(self, account_id: str) -> list[Contact]: ...

    def contacts_by_email(self, email: str) -> list[Contact]:
        """The contacts whose current email is this address."""
        ...

    def update_contact(
        self, contact_id: str, changes: Mapping[str, Any], *, expected_version: int
    ) -> Contact:
        """MailChimp's writer of a contact: like ``update_lead`` (``marketing_status``, names, ``mailchimp.<k>``)."""
        ...

    # --- opportunities, escalations, samples, activities, orders
    def get_opportunity(self, opportunity_id: str) -> Opportunity | None: ...

    def list_opportunities_of_account(self, account_id: str) -> list[Opportunity]: ...

    def stage_history(self, opportunity_id: str) -> list[StageChange]:
        """The stage changes in time order, derived from the observations when read."""
        ...

    def get_escalation(self, escalation_id: str) -> Escalation | None: ...

    def open_escalations_due(self, before: datetime) -> list[Escalation]:
        """Open and in-progress escalations due at or before ``before`` (no ``due_at``: due from
        opening), most overdue first."""
        ...

    def get_sample(self, sample_id: str) -> Sample | None: ...

    def samples_due(self, before: datetime) -> list[Sample]:
        """Samples whose follow-up is at or before ``before``, earliest first (none without a follow-up)."""
        ...

    def activities_of_rep(self, rep_id: str, start: datetime, end: datetime) -> list[Activity]:
        """A rep's activities with ``start <= at < end``, in time order."""
        ...

    def orders_of_year(self, year: int) -> list[Order]:
        """Orders booked in a (UTC) year, in time order."""
        ...

    # --- writes from events (each only if newer than what is stored)
    def upsert_many(self, writes: Sequence[tuple[Entity, Version]]) -> list[Outcome | None]:
        """Territories, reps, accounts, opportunities, samples and orders from many events at once;
        None for each write to make alone (``upsert_*``)."""
        ...

    def upsert_territory(self, territory: Territory, version: Version) -> Outcome: ...

    def upsert_rep(self, rep: Rep, version: Version) -> Outcome: ...

    def upsert_account(self, account: Account, version: Version) -> Outcome: ...

    def upsert_contact(self, contact: Contact, version: Version) -> Outcome:
        """Keeps what MailChimp said (``marketing_status``, ``mailchimp``) across the CRM's updates."""
        ...

    def upsert_opportunity(self, opportunity: Opportunity, version: Version) -> Outcome:
        """Also keeps the stage observation (write-once, whatever the order of delivery)."""
        ...

    def upsert_escalation(self, escalation: Escalation, version: Version) -> Outcome: ...

    def upsert_sample(self, sample: Sample, version: Version) -> Outcome: ...

    def log_activity(self, activity: Activity, version: Version) -> Outcome: ...

    def book_order(self, order: Order, version: Version) -> Outcome: ...

    def touch_opportunity(self, opportunity_id: str, at: datetime) -> bool:
        """An activity at ``at``: ``last_activity_at`` moves forward (never back)."""
        ...

    # --- what the alert sweeps read (issue 10): index queries, never a scan
    def open_leads_created_between(self, rep_id: str, start: datetime, end: datetime) -> list[Lead]:
        """A rep's open leads created in [start, end] (gsi1 ``OWNER#<rep>``, ``OPEN#...``)."""
        ...

    def stale_opportunities(self, stage: str, touched_before: datetime) -> list[Opportunity]:
        """Open opportunities of ``stage`` last touched before the time (gsi2)."""
        ...

    def opportunities_next_step_due(self, before: date) -> list[Opportunity]:
        """Open opportunities with no next step, or one dated before ``before`` (gsi3)."""
        ...

    def activities_due(self, before: datetime) -> list[Activity]:
        """Scheduled activities due before the time and not done (gsi2)."""
        ...

    def get_opportunities(self, opportunity_ids: Iterable[str]) -> dict[str, Opportunity]:
        """Several opportunities at once (BatchGetItem)."""
        ...


# ====================================================================== conditions
@dataclass(frozen=True)
class _Absent:
    """The item does not exist."""

    def dynamo(self, model: type[CrmItem]) -> Condition:
        return model.pk.does_not_exist()

    def holds(self, stored: dict[str, Any] | None) -> bool:
        return stored is None


@dataclass(frozen=True)
class _OlderThan:
    """Absent, or written by an older event: ``(occurred_at, last_event_id) < version``."""

    version: Version

    def dynamo(self, model: type[CrmItem]) -> Condition:
        stamp, event_id = self.version.stamp, self.version.event_id
        return (
            model.pk.does_not_exist()
            | (EventItem.occurred_at < stamp)
            | ((EventItem.occurred_at == stamp) & (EventItem.last_event_id < event_id))
        )

    def holds(self, stored: dict[str, Any] | None) -> bool:
        if stored is None:
            return True
        at, event = _raw_text(stored, "occurred_at"), _raw_text(stored, "last_event_id")
        stamp = self.version.stamp
        if at is None:
            return False
        return at < stamp or (at == stamp and event is not None and event < self.version.event_id)


@dataclass(frozen=True)
class _VersionIs:
    """Exists with this ``version`` (0 also matches an item without one)."""

    version: int
    mailchimp_map: bool | None = None  # also require the sync map to exist (True) / not exist (False)

    def dynamo(self, model: type[CrmItem]) -> Condition:
        attribute = model.version  # type: ignore[attr-defined]
        matches = attribute == self.version
        if self.version == 0:
            matches = matches | attribute.does_not_exist()
        return model.pk.exists() & matches & _map_condition(model, self.mailchimp_map)

    def holds(self, stored: dict[str, Any] | None) -> bool:
        if stored is None:
            return False
        number = stored.get("version", {}).get("N")
        if (Decimal(number) if number is not None else Decimal(0)) != self.version:
            return False
        return self.mailchimp_map is None or ("mailchimp" in stored) == self.mailchimp_map


@dataclass(frozen=True)
class _Exists:
    """The item exists (and its sync map does, or does not)."""

    mailchimp_map: bool | None = None

    def dynamo(self, model: type[CrmItem]) -> Condition:
        return model.pk.exists() & _map_condition(model, self.mailchimp_map)

    def holds(self, stored: dict[str, Any] | None) -> bool:
        if stored is None:
            return False
        return self.mailchimp_map is None or ("mailchimp" in stored) == self.mailchimp_map


def _map_condition(model: type[CrmItem], exists: bool | None) -> Condition:
    if exists is None:
        return model.pk.exists()
    mailchimp = model.mailchimp  # type: ignore[attr-defined]
    return mailchimp.exists() if exists else mailchimp.does_not_exist()


@dataclass(frozen=True)
class _TextIs:
    """Exists with this text in ``name`` (the value read, for a read-then-write)."""

    name: str
    value: str

    def dynamo(self, model: type[CrmItem]) -> Condition:
        return model.pk.exists() & (getattr(model, self.name) == self.value)

    def holds(self, stored: dict[str, Any] | None) -> bool:
        return stored is not None and _raw_text(stored, self.name) == self.value


@dataclass(frozen=True)
class _AlertOpen:
    """An alert record still pending or held, and (with ``token``) claimed by that token; (with
    ``due_by``) without a message id and due by then: a claim whose sender died, a hold that ended."""

    token: str | None
    due_by: str | None = None

    def dynamo(self, model: type[CrmItem]) -> Condition:
        condition = model.pk.exists() & AlertItem.status.is_in(*ALERT_OPEN_STATUSES)
        if self.token is not None:
            condition = condition & (AlertItem.claim_token == self.token)
        if self.due_by is not None:
            condition = condition & AlertItem.message_id.does_not_exist() & (AlertItem.due_at <= self.due_by)
        return condition

    def holds(self, stored: dict[str, Any] | None) -> bool:
        if stored is None or _raw_text(stored, "status") not in ALERT_OPEN_STATUSES:
            return False
        if self.token is not None and _raw_text(stored, "claim_token") != self.token:
            return False
        if self.due_by is not None:
            due = _raw_text(stored, "due_at")
            return "message_id" not in stored and due is not None and due <= self.due_by
        return True


_Cond = _Absent | _OlderThan | _VersionIs | _Exists | _AlertOpen | _TextIs


def _raw_text(stored: dict[str, Any], name: str) -> str | None:
    value = stored.get(name)
    return value.get("S") if isinstance(value, dict) else None


@dataclass
class _Update:
    """SET / REMOVE of attributes (``"mailchimp.<k>"`` for one key of the sync map) on one item."""

    model: type[CrmItem]
    key: Key
    sets: dict[str, Any]
    removes: list[str]
    condition: _Cond


M = TypeVar("M", bound=CrmItem)


# ====================================================================== backends
class _Backend(Protocol):
    def get(self, model: type[M], key: Key) -> M | None: ...

    def put(self, item: CrmItem, condition: _Cond | None) -> bool:
        """False when the condition does not hold."""
        ...

    def update(self, update: _Update) -> bool: ...

    def transact(self, puts: list[tuple[CrmItem, _Cond]], updates: list[_Update]) -> set[str]:
        """All or nothing; empty when done, else the refused conditions (``"put:<i>"``, ``"update:<i>"``;
        ``"conflict"`` for a transaction conflict)."""
        ...

    def query(self, pk: str, sk_prefix: str = "") -> Iterator[CrmItem]: ...

    def query_index(
        self,
        gsi1pk: str,
        *,
        low: str | None = None,
        high: str | None = None,
        prefix: str | None = None,
        limit: int | None = None,
        index: str = "gsi1",
    ) -> Iterator[CrmItem]:
        """Items on gsi1 (or ``index``: gsi2, gsi3) under the partition key, in sort-key order:
        ``low <= sort <= high``, or a prefix."""
        ...

    def count_index(self, gsi1pk: str, prefix: str) -> int: ...

    def scan_leads(self, *, opted_in: bool, after: Key | None) -> Iterator[LeadItem]: ...

    def batch_get(self, model: type[M], keys: list[Key], retry: BoundedRetry | None = None) -> list[M]:
        """Any number of keys (read 100 a call), each once; what is absent is left out."""
        ...


def _path(model: type[CrmItem], name: str) -> Any:
    """An attribute, or one key of a map attribute (``"mailchimp.state"``), for an update action."""
    if "." in name:
        top, sub = name.split(".", 1)
        return getattr(model, top)[sub]
    return getattr(model, name)


class _DynamoBackend:
    """pynamodb for every item, condition and transaction."""

    def get(self, model: type[M], key: Key) -> M | None:
        with translated():
            try:
                return model.get(*key, consistent_read=True)
            except model.DoesNotExist:
                return None

    def put(self, item: CrmItem, condition: _Cond | None) -> bool:
        try:
            with translated():
                item.save(condition=condition.dynamo(type(item)) if condition is not None else None)
        except Conflict:
            return False
        return True

    @staticmethod
    def _actions(update: _Update) -> list[Any]:
        sets = [_path(update.model, name).set(value) for name, value in update.sets.items()]
        return sets + [_path(update.model, name).remove() for name in update.removes]

    def update(self, update: _Update) -> bool:
        try:
            with translated():
                update.model(*update.key).update(
                    actions=self._actions(update), condition=update.condition.dynamo(update.model)
                )
        except Conflict:
            return False
        return True

    def transact(self, puts: list[tuple[CrmItem, _Cond]], updates: list[_Update]) -> set[str]:
        from pynamodb.exceptions import TransactWriteError
        from pynamodb.transactions import TransactWrite

        try:
            connection = CrmItem._get_connection().connection
            with translated(), TransactWrite(connection=connection) as transaction:
                for item, condition in puts:
                    transaction.save(item, condition=condition.dynamo(type(item)))
                for update in updates:
                    transaction.update(
                        update.model(*update.key),
                        actions=self._actions(update),
                        condition=update.condition.dynamo(update.model),
                    )
        except Conflict as exc:
            cause = exc.__cause__
            reasons = cause.cancellation_reasons if isinstance(cause, TransactWriteError) else None
            # pynamodb sends the puts, then the updates: the reasons come in that order.
            codes = [reason.code if reason else None for reason in (reasons or [])]
            refused = {
                f"put:{index}" if index < len(puts) else f"update:{index - len(puts)}"
                for index, code in enumerate(codes)
                if code == "ConditionalCheckFailed"
            }
            return refused or {"conflict"}  # a transaction conflict: the caller reads again
        return set()

    def query(self, pk: str, sk_prefix: str = "") -> Iterator[CrmItem]:
        condition = CrmItem.sk.startswith(sk_prefix) if sk_prefix else None
        with translated():
            yield from CrmItem.query(pk, condition, consistent_read=True)  # type: ignore[misc]

    def query_index(
        self, gsi1pk: str, *, low: str | None = None, high: str | None = None, prefix: str | None = None,
        limit: int | None = None, index: str = "gsi1",
    ) -> Iterator[CrmItem]:  # fmt: skip
        condition = _range_condition(low, high, prefix, getattr(CrmItem, f"{index}sk"))
        with translated():
            yield from getattr(CrmItem, f"by_{index}").query(gsi1pk, condition, limit=limit)

    def count_index(self, gsi1pk: str, prefix: str) -> int:
        with translated():
            return int(CrmItem.by_gsi1.count(gsi1pk, CrmItem.gsi1sk.startswith(prefix)))

    def scan_leads(self, *, opted_in: bool, after: Key | None) -> Iterator[LeadItem]:
        condition = (LeadItem.marketing_opt_in == True) if opted_in else None  # noqa: E712
        start = {"pk": {"S": after[0]}, "sk": {"S": after[1]}} if after else None
        with translated():
            for item in LeadItem.scan(condition, last_evaluated_key=start):
                if isinstance(item, LeadItem):
                    yield item

    def batch_get(self, model: type[M], keys: list[Key], retry: BoundedRetry | None = None) -> list[M]:
        raws = batch_get_raw(CrmItem.Meta.table_name, keys, retry or BoundedRetry()) if keys else ()
        return [item for raw in raws if isinstance(item := CrmItem.from_raw_data(raw), model)]


def _range_condition(
    low: str | None, high: str | None, prefix: str | None, attribute: Any = None
) -> Condition | None:
    attribute = attribute if attribute is not None else CrmItem.gsi1sk
    if prefix is not None:
        return attribute.startswith(prefix)
    if low is not None and high is not None:
        return attribute.between(low, high)
    if low is not None:
        return attribute >= low
    if high is not None:
        return attribute <= high
    return None


class _MemoryBackend:
    """A dict of serialized items (as DynamoDB keeps them), with the same conditions."""

    def __init__(self) -> None:
        self.items: dict[Key, dict[str, Any]] = {}
        self.lock = threading.RLock()
        self.writes = 0

    @staticmethod
    def _key_of(item: CrmItem) -> Key:
        return str(item.pk), str(item.sk)

    @staticmethod
    def _load(raw: dict[str, Any]) -> CrmItem:
        return CrmItem.from_raw_data(json.loads(json.dumps(raw)))

    def get(self, model: type[M], key: Key) -> M | None:
        with self.lock:
            raw = self.items.get(key)
        if raw is None:
            return None
        item = self._load(raw)
        return item if isinstance(item, model) else None

    def put(self, item: CrmItem, condition: _Cond | None) -> bool:
        with self.lock:
            key = self._key_of(item)
            if condition is not None and not condition.holds(self.items.get(key)):
                return False
            raw = item.serialize()
            refuse_oversized(raw)
            self.items[key] = raw
            self.writes += 1
            return True

    def _apply(self, update: _Update) -> dict[str, Any]:
        raw = self.items.get(update.key)
        item: Any = self._load(raw) if raw is not None else update.model(*update.key)
        changes = [(name, value) for name, value in update.sets.items()] + [(n, None) for n in update.removes]
        for name, value in changes:
            if "." in name:
                top, sub = name.split(".", 1)
                current = getattr(item, top)
                mapping = current.as_dict() if isinstance(current, MapAttribute) else dict(current or {})
                if value is None:
                    mapping.pop(sub, None)
                else:
                    mapping[sub] = value
                setattr(item, top, mapping)
            else:
                setattr(item, name, value)
        raw = dict(item.serialize(null_check=False))
        refuse_oversized(raw)
        return raw

    def update(self, update: _Update) -> bool:
        with self.lock:
            if not update.condition.holds(self.items.get(update.key)):
                return False
            self.items[update.key] = self._apply(update)
            self.writes += 1
            return True

    def transact(self, puts: list[tuple[CrmItem, _Cond]], updates: list[_Update]) -> set[str]:
        with self.lock:
            refused = {
                f"put:{index}"
                for index, (item, condition) in enumerate(puts)
                if not condition.holds(self.items.get(self._key_of(item)))
            } | {
                f"update:{index}"
                for index, update in enumerate(updates)
                if not update.condition.holds(self.items.get(update.key))
            }
            if refused:
                return refused
            written = [(self._key_of(item), item.serialize()) for item, _ in puts]
            for _key, raw in written:
                refuse_oversized(raw)
            written += [(update.key, self._apply(update)) for update in updates]  # all checked, then kept
            self.items.update(written)
            self.writes += len(puts) + len(updates)
            return set()

    def _all(self) -> list[CrmItem]:
        with self.lock:
            raws = list(self.items.values())
        return [self._load(raw) for raw in raws]

    def query(self, pk: str, sk_prefix: str = "") -> Iterator[CrmItem]:
        found = [i for i in self._all() if i.pk == pk and str(i.sk).startswith(sk_prefix)]
        yield from sorted(found, key=lambda i: str(i.sk))

    def query_index(
        self, gsi1pk: str, *, low: str | None = None, high: str | None = None, prefix: str | None = None,
        limit: int | None = None, index: str = "gsi1",
    ) -> Iterator[CrmItem]:  # fmt: skip
        def within(sort: str) -> bool:
            if prefix is not None:
                return sort.startswith(prefix)
            return (low is None or sort >= low) and (high is None or sort <= high)

        def sort_of(item: CrmItem) -> str | None:
            return getattr(item, f"{index}sk")  # type: ignore[no-any-return]

        found = [
            i for i in self._all()
            if getattr(i, f"{index}pk") == gsi1pk and sort_of(i) is not None and within(str(sort_of(i)))
        ]  # fmt: skip
        found.sort(key=lambda i: str(sort_of(i)))
        yield from found[:limit] if limit is not None else found

    def count_index(self, gsi1pk: str, prefix: str) -> int:
        return sum(1 for _ in self.query_index(gsi1pk, prefix=prefix))

    def scan_leads(self, *, opted_in: bool, after: Key | None) -> Iterator[LeadItem]:
        leads = sorted((i for i in self._all() if isinstance(i, LeadItem)), key=self._key_of)
        for item in leads:
            if after is not None and self._key_of(item) <= after:
                continue
            if opted_in and item.marketing_opt_in is not True:
                continue
            yield item

    def batch_get(self, model: type[M], keys: list[Key], retry: BoundedRetry | None = None) -> list[M]:
        return [found for key in keys if (found := self.get(model, key)) is not None]


# ====================================================================== mapping
def _map(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    return plain(value) if isinstance(value, MapAttribute | dict) else None


_LEAD_TEXT_FIELDS = (
    "first_name", "last_name", "company", "title", "phone", "phone_raw", "country", "state", "postal_code",
    "employee_band", "revenue_band", "industry", "product_interest", "campaign", "utm_source", "utm_medium",
    "utm_campaign", "message", "marketing_status", "owner", "territory_id", "status_reason",
    "status_occurred_at", "status_event_id", "converted_account_id", "converted_contact_id", "source",
)  # fmt: skip
_LEAD_CONVERTED = (
    "quarantine_reasons", "annual_revenue", "closed", "assignment", "segments", "mailchimp", "first_submission",
)  # fmt: skip


def _suppression_from_item(item: SuppressionItem) -> Suppression:
    return Suppression.model_validate(
        {"email": item.email, "status": item.status, "at": parse_time(item.at), "reason": item.reason}
    )


def _lead_from_item(item: LeadItem) -> Lead:
    return Lead(
        lead_id=item.lead_id,
        email=item.email,
        **{name: getattr(item, name) for name in _LEAD_TEXT_FIELDS},
        employees=None if item.employees is None else int(item.employees),
        annual_revenue=None if item.annual_revenue is None else Decimal(item.annual_revenue),
        marketing_opt_in=item.marketing_opt_in,
        status=item.status or "New",
        closed=bool(item.closed),
        quarantined=bool(item.quarantined),
        quarantine_reasons=tuple(r for r in (item.quarantine_reason or "").split(",") if r),
        assignment=_map(item.assignment),
        segments=_map(item.segments),
        mailchimp=_map(item.mailchimp),
        created_at=item.created_at,
        updated_at=item.updated_at,
        version=int(item.version or 0),
        first_submission=_first_submission(item),
    )


def _first_submission(item: LeadItem) -> LeadSubmission | None:
    kept = _map(item.first_submission)
    if not kept:
        return None
    return LeadSubmission.model_validate(
        {**kept, "lead_id": item.lead_id, "quarantine_reasons": tuple(kept.get("quarantine_reasons") or ())}
    )


def _lead_attribute(name: str, value: Any) -> tuple[str, Any]:
    """A ``Lead`` field as the item keeps it: (attribute name, value)."""
    if name == "quarantine_reasons":
        return "quarantine_reason", ",".join(value) or None
    if name == "annual_revenue":
        return name, None if value is None else str(value)
    if name == "closed":
        return name, True if value else None
    if name in ("assignment", "segments", "mailchimp"):
        return name, storable(dict(value)) if value else None
    if name == "first_submission":
        return name, None if value is None else storable(
            value.model_dump(exclude={"lead_id"}, exclude_none=True)
        )
    return name, value


def lead_index(lead: Lead) -> tuple[str | None, str | None]:
    """The lead's gsi1 keys: the quarantine, its owner (``OPEN#`` until a closed outcome), or its queue."""
    created = lead.created_at or lead.updated_at
    order = f"{created.isoformat() if created else ''}#{lead.lead_id}"
    if lead.quarantined:
        return QUARANTINE_INDEX, order
    if lead.owner is not None:
        # Open leads sort under OPEN#, so the capacity check counts them by key, never reading closed ones.
        return owner_index(lead.owner), (CLOSED_PREFIX if lead.closed else OPEN_PREFIX) + order
    if lead.queue is not None:
        return queue_index(lead.queue), order
    return None, None


def _lead_item(lead: Lead, first: LeadSubmission | None = None) -> LeadItem:
    """The lead's item; a new lead's with ``first``, the submission that creates it, kept on it."""
    if first is not None:
        lead = lead.model_copy(update={"first_submission": first})
    gsi1pk, gsi1sk = lead_index(lead)
    values: dict[str, Any] = {name: getattr(lead, name) for name in LEAD_FIELDS - set(_LEAD_CONVERTED)}
    for name in _LEAD_CONVERTED:
        attribute, value = _lead_attribute(name, getattr(lead, name))
        values[attribute] = value
    values.update(gsi1pk=gsi1pk, gsi1sk=gsi1sk)
    if lead.source and lead.source.startswith(IMPORT_SOURCE_PREFIX):
        values["imported_from"] = lead.source.removeprefix(IMPORT_SOURCE_PREFIX)
    return LeadItem(*lead_key(lead.lead_id), **{k: v for k, v in values.items() if v is not None})


def _submission_item(submission: LeadSubmission) -> LeadSubmissionItem:
    return LeadSubmissionItem(
        *lead_submission_key(submission.lead_id, submission.submission_id),
        **{k: v for k, v in submission if k != "quarantine_reasons" and k != "fields" and v is not None},
        quarantine_reasons=list(submission.quarantine_reasons) or None,
        fields=storable(submission.fields) or None,
        updated_at=submission.received_at,
    )


def _submission_from_item(item: LeadSubmissionItem) -> LeadSubmission:
    return LeadSubmission.model_validate(
        {
            **{name: getattr(item, name) for name in LeadSubmission.model_fields},
            "quarantine_reasons": tuple(item.quarantine_reasons or ()),
            "fields": _map(item.fields) or {},
        }
    )


_META = frozenset({"occurred_at", "last_event_id", "source", "version", "updated_at"})


def _entity_values(item: EventItem) -> dict[str, Any]:
    occurred = item.occurred_at
    return {
        "occurred_at": parse_time(occurred) if occurred else None,
        "last_event_id": item.last_event_id,
        "source": item.source,
    }


def _item_fields(item: CrmItem, record: type[Record]) -> dict[str, Any]:
    """The record's fields the item has, as plain values, with the version of the event that wrote it."""
    attributes = type(item).get_attributes()
    values: dict[str, Any] = {}
    for name in record.model_fields:
        if name in attributes and name not in _META:
            value = getattr(item, name)
            values[name] = plain(value) if isinstance(value, MapAttribute) else value
    if isinstance(item, EventItem):
        values.update(_entity_values(item))
    if "version" in record.model_fields:
        values["version"] = int(getattr(item, "version", 0) or 0)
    return values


def _rep_from_item(item: RepItem) -> Rep:
    periods = item.out_of_office.periods if item.out_of_office is not None else []
    quota = dict(item.quota or {})
    fields = _item_fields(item, Rep) | {"quota": quota, "out_of_office": ()}
    fields["out_of_office"] = tuple(AwayPeriod(start=p.start, end=p.end) for p in periods or [])
    return Rep.model_validate(fields)


def _record_fields(
    record: Record, model: type[CrmItem], *, derived: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """The item attributes a record gives (none of the store's own: versions, derived fields)."""
    attributes = model.get_attributes()
    return {
        name: list(value) if isinstance(value, tuple) else value
        for name, value in record
        if name in attributes and name not in _META and name not in derived and value is not None
    }


_RECORDS: dict[type[CrmItem], type[Record]] = {}


def _from_item(item: CrmItem) -> Any:
    """The record of an entity item."""
    if isinstance(item, RepItem):
        return _rep_from_item(item)
    record = _RECORDS[type(item)]
    return record.model_validate(_item_fields(item, record))


def _stamp(item: EventItem, version: Version, source: str | None) -> None:
    item.occurred_at = version.stamp
    item.last_event_id = version.event_id
    item.source = source
    item.updated_at = datetime.now(UTC)


def _by_creation(lead: Lead) -> datetime:
    return lead.created_at or lead.updated_at or datetime.min.replace(tzinfo=UTC)


# ---------------------------------------------------------------------- items written from events
# One builder per entity kind, shared by the one-at-a-time writers and ``upsert_many``.
def _territory_item(territory: Territory, version: Version) -> EventItem:
    item = TerritoryItem(
        *territory_key(territory.territory_id),
        **_record_fields(territory, TerritoryItem),
        gsi1pk=TERRITORIES_INDEX,
        gsi1sk=territory.territory_id,
    )
    _stamp(item, version, territory.source)
    return item


def _rep_item(rep: Rep, version: Version) -> EventItem:
    item = RepItem(
        *rep_key(rep.rep_id),
        **_record_fields(rep, RepItem, derived=frozenset({"quota", "out_of_office"})),
        quota=dict(rep.quota) or None,
        out_of_office=OutOfOfficeMap(
            periods=[PeriodMap(start=p.start.isoformat(), end=p.end.isoformat()) for p in rep.out_of_office]
        ),
        gsi1pk=REPS_INDEX,
        gsi1sk=rep.rep_id,
    )
    _stamp(item, version, rep.source)
    return item


def _account_item(account: Account, version: Version) -> EventItem:
    item = AccountItem(
        *account_key(account.account_id),
        **_record_fields(account, AccountItem, derived=frozenset({"name_key", "alias_keys"})),
        name_key=normalise_name(account.name),
        alias_keys=sorted({normalise_name(a) for a in account.aliases} - {""}),
        gsi1pk=ACCOUNTS_INDEX,
        gsi1sk=account.account_id,
    )
    _stamp(item, version, account.source)
    return item


def _sample_item(sample: Sample, version: Version) -> EventItem:
    item = SampleItem(*sample_key(sample.sample_id), **_record_fields(sample, SampleItem))
    if sample.follow_up_at is not None:  # sparse: only samples with a follow-up are ever due
        item.gsi1pk = SAMPLES_INDEX
        item.gsi1sk = f"{format_time(sample.follow_up_at)}#{sample.sample_id}"
        if not sample.follow_up_done:  # and only while the follow-up is not done
            item.gsi2pk = SAMPLES_DUE_INDEX
            item.gsi2sk = f"{format_time(sample.follow_up_at)}#{sample.sample_id}"
    _stamp(item, version, sample.source)
    return item


def _order_item(order: Order, version: Version) -> EventItem:
    booked = order.booked_at.astimezone(UTC)
    item = OrderItem(
        *order_key(order.order_id),
        **_record_fields(order, OrderItem),
        gsi1pk=orders_index(booked.year),
        gsi1sk=f"{format_time(booked)}#{order.order_id}",
    )
    _stamp(item, version, order.source)
    return item


def _stage_observation_item(opportunity: Opportunity, version: Version) -> OpportunityStageItem:
    return OpportunityStageItem(
        *stage_observation_key(opportunity.opportunity_id, version),
        opportunity_id=opportunity.opportunity_id,
        stage=opportunity.stage,
        probability=opportunity.probability,
        at=version.stamp,
        event_id=version.event_id,
        updated_at=datetime.now(UTC),
    )


def _opportunity_item(opportunity: Opportunity, version: Version) -> OpportunityItem:
    """Without what is derived from the stored item and the stage history (stage entry, last activity)."""
    derived = frozenset({"stage_entered_at", "previous_stage"})
    item = OpportunityItem(
        *opportunity_key(opportunity.opportunity_id),
        **_record_fields(opportunity, OpportunityItem, derived=derived),
        gsi1pk=account_children_index(opportunity.account_id),
        gsi1sk=_child_sort("OPPORTUNITY", opportunity.opportunity_id),
    )
    _stamp(item, version, opportunity.source)
    return item


# Entity kinds ``upsert_many`` writes in transactions: a conditional put on the event's version
# (``_OlderThan``), or, for opportunities, a put on the version number read with their observations.
_ITEMS: dict[type[Entity], Callable[[Any, Version], EventItem]] = {
    Opportunity: _opportunity_item,
    Territory: _territory_item,
    Rep: _rep_item,
    Account: _account_item,
    Sample: _sample_item,
    Order: _order_item,
}
TRANSACTION_ITEMS = 100  # DynamoDB's limit per TransactWriteItems


def _carry_last_activity(previous: OpportunityItem | None, new: OpportunityItem) -> None:
    """Activities logged for it move last_activity_at forward (log_activity); never back."""
    carried = previous.last_activity_at if previous is not None else None
    if carried is not None and (new.last_activity_at is None or new.last_activity_at < carried):
        new.last_activity_at = carried


@dataclass
class _Planned:
    """One entity's share of ``upsert_many``: its puts (the entity's own last) and its events' outcomes."""

    puts: list[tuple[CrmItem, _Cond]]
    outcomes: dict[int, Outcome]


def _chunks(plans: list[_Planned]) -> Iterator[list[_Planned]]:
    """Plans in groups of at most ``TRANSACTION_ITEMS`` puts (a larger plan is left to the caller)."""
    chunk: list[_Planned] = []
    size = 0
    for plan in plans:
        if len(plan.puts) > TRANSACTION_ITEMS:
            continue
        if size + len(plan.puts) > TRANSACTION_ITEMS:
            yield chunk
            chunk, size = [], 0
        chunk.append(plan)
        size += len(plan.puts)
    if chunk:
        yield chunk


def _plan_writes(
    writes: Sequence[tuple[Entity, Version]],
    items: dict[int, EventItem],
    indexes: list[int],
    stored: Any,
    observed: set[Key],
) -> _Planned | None:
    """What one entity's events (``indexes``, in the order given) write over ``stored``: the newest's
    item, on condition that the entity is as read; None to leave them to the one-at-a-time writers."""
    stored_version = Version.of(stored.occurred_at, stored.last_event_id) if stored is not None else None
    current, newest = stored_version, None
    outcomes: dict[int, Outcome] = {}
    for index in indexes:  # what writing them one by one would say of each
        version = writes[index][1]
        refused = outcome_against(current, version)
        outcomes[index] = refused or Outcome.APPLIED
        if refused is None:
            current, newest = version, index
    item = items[indexes[0]] if newest is None else items[newest]
    if not isinstance(item, OpportunityItem):
        return _Planned([] if newest is None else [(item, _OlderThan(writes[newest][1]))], outcomes)
    # An opportunity: its stage entry comes from the stage history. Exact from the stored item only
    # when that was written by an event and every event here is newer (a late one restates the entry).
    if stored is not None and stored.last_event_id is None:
        return None
    if newest is None:  # none newer than what is stored: nothing to write if each was observed before
        seen = all(stage_observation_key(str(item.opportunity_id), writes[i][1]) in observed for i in indexes)
        return _Planned([], outcomes) if seen else None
    if stored_version is not None and any(writes[i][1] <= stored_version for i in indexes):
        return None
    observations: dict[Version, Opportunity] = {}
    for index in indexes:
        record, version = writes[index]
        observations.setdefault(version, record)  # type: ignore[arg-type]
    stage, entered, before = (
        (stored.stage, stored.stage_entered_at, stored.previous_stage)
        if stored is not None
        else (None, None, None)
    )
    for version in sorted(observations):
        if observations[version].stage != stage:
            before, stage, entered = stage, observations[version].stage, version.stamp
    item.stage_entered_at, item.previous_stage = entered, before
    _carry_last_activity(stored, item)
    sweep_index_opportunity(item)
    read = None if stored is None else int(stored.version or 0)
    item.version = (read or 0) + 1
    puts: list[tuple[CrmItem, _Cond]] = [
        (_stage_observation_item(record, version), _Absent())
        for version, record in sorted(observations.items())
    ]
    puts.append((item, _Absent() if read is None else _VersionIs(read)))
    return _Planned(puts, outcomes)


# ====================================================================== the logic, over a backend
class _CrmLogic:
    """Every ``CrmStore`` method, over a backend of primitive operations."""

    _backend: _Backend
    MAX_TRIES: ClassVar[int] = 8

    # ------------------------------------------------------------ leads
    def get_lead(self, lead_id: str) -> Lead | None:
        item = self._backend.get(LeadItem, lead_key(lead_id))
        return _lead_from_item(item) if item is not None else None

    def create_lead(self, lead: Lead, submission: LeadSubmission) -> Lead:
        refused = self.create_leads([(lead, submission)])[0]
        if refused is not None:
            raise refused
        return lead

    def update_lead(
        self,
        lead_id: str,
        changes: Mapping[str, Any],
        *,
        expected_version: int,
        submission: LeadSubmission | None = None,
        current: Lead | None = None,
    ) -> Lead:
        if current is None or current.version != expected_version or current.lead_id != lead_id:
            current = self.get_lead(lead_id)
        if current is None:
            raise NotFound(f"no lead {lead_id}")
        if current.version != expected_version:
            raise Conflict(f"lead {lead_id} is at version {current.version}, not {expected_version}")
        if submission is not None and current.first_is(submission.submission_id):
            # the submission that created the lead, kept on it (never changed after): a repeat delivery
            raise SubmissionExists(f"submission {submission.submission_id} of lead {lead_id}")
        top = {k: v for k, v in changes.items() if "." not in k}
        nested = {k.split(".", 1)[1]: v for k, v in changes.items() if k.startswith("mailchimp.")}
        refused = (set(top) - LEAD_FIELDS) | (set(top) & _LEAD_UNCHANGEABLE)
        if refused or len(nested) + len(top) != len(changes):
            raise ValueError(f"not lead attributes one may change: {sorted(changes)}")
        now = top.get("updated_at") or datetime.now(UTC)
        new = current.model_copy(update={**top, "version": expected_version + 1, "updated_at": now})
        if nested:
            new = new.model_copy(update={"mailchimp": {**(current.mailchimp or {}), **nested}})
        sets: dict[str, Any] = {}
        removes: list[str] = []

        def change(attribute: str, value: Any) -> None:
            if value is None:
                removes.append(attribute)
            else:
                sets[attribute] = value

        for name in {*top, "updated_at"}:
            attribute, value = _lead_attribute(name, getattr(new, name))
            if name == "updated_at" or value != _lead_attribute(name, getattr(current, name))[1]:
                change(attribute, value)
        # Whoever changes owner, status, quarantine or queue moves the lead in the index with it.
        for attribute, value, before in zip(
            ("gsi1pk", "gsi1sk"), lead_index(new), lead_index(current), strict=True
        ):
            if value != before:
                change(attribute, value)
        map_exists: bool | None = None
        if nested:
            map_exists = current.mailchimp is not None
            if map_exists:
                for name, value in nested.items():
                    change(f"mailchimp.{name}", storable(value))
            else:
                sets["mailchimp"] = storable(nested)
        sets["version"] = expected_version + 1
        update = _Update(LeadItem, lead_key(lead_id), sets, removes, _VersionIs(expected_version, map_exists))
        if submission is None:
            if not self._backend.update(update):
                raise Conflict(f"lead {lead_id} changed since version {expected_version}")
            return new
        refused_at = self._backend.transact([(_submission_item(submission), _Absent())], [update])
        if "put:0" in refused_at:
            raise SubmissionExists(f"submission {submission.submission_id} of lead {lead_id}")
        if refused_at:
            raise Conflict(f"lead {lead_id} changed since version {expected_version}")
        return new

    def lead_id_for_email(self, email: str) -> str:
        alias = self._backend.get(EmailAliasItem, email_alias_key(email))
        return alias.lead_id if alias is not None else lead_id_for(email_key(email))

    def add_email_alias(self, email: str, lead_id: str) -> bool:
        own = lead_id_for(email_key(email))
        if own == lead_id:
            return True  # the address's own id: no alias needed
        if self._backend.get(LeadItem, lead_key(own)) is not None:
            return False  # someone's lead has this address as its own
        item = EmailAliasItem(
            *email_alias_key(email), email=email_key(email), lead_id=lead_id, updated_at=datetime.now(UTC)
        )
        if self._backend.put(item, _Absent()):
            return True
        stored = self._backend.get(EmailAliasItem, email_alias_key(email))
        return stored is not None and stored.lead_id == lead_id

    def record_suppression(self, suppression: Suppression) -> bool:
        key = suppression_key(suppression.email)
        item = SuppressionItem(
            *key,
            email=email_key(suppression.email),
            status=suppression.status,
            at=format_time(suppression.at),
            reason=suppression.reason,
            updated_at=datetime.now(UTC),
        )
        for _ in range(self.MAX_TRIES):
            stored = self._backend.get(SuppressionItem, key)
            if stored is not None and stored.at >= item.at:
                return False  # what is kept is as new or newer
            if self._backend.put(item, _Absent() if stored is None else _TextIs("at", stored.at)):
                return True
        raise Conflict(f"suppression of {key[0]} kept changing under {self.MAX_TRIES} attempts")

    def get_suppression(self, email: str) -> Suppression | None:
        item = self._backend.get(SuppressionItem, suppression_key(email))
        return _suppression_from_item(item) if item is not None else None

    def read_person(self, email: str) -> Person:
        return self.read_people([email])[email_key(email)]

    def read_people(
        self, emails: Iterable[str], *, remaining_ms: Callable[[], int] | None = None
    ) -> dict[str, Person]:
        addresses = list(dict.fromkeys(email_key(e) for e in emails))
        own = {a: lead_id_for(a) for a in addresses}
        keys = [k for a in addresses for k in (lead_key(own[a]), email_alias_key(a), suppression_key(a))]
        retry = BoundedRetry(remaining_ms)
        found = {(str(i.pk), str(i.sk)): i for i in self._backend.batch_get(CrmItem, keys, retry)}  # type: ignore[type-abstract]
        aliases = {
            a: alias.lead_id
            for a in addresses
            if isinstance(alias := found.get(email_alias_key(a)), EmailAliasItem)
        }
        elsewhere = [lead_key(lead_id) for a, lead_id in aliases.items() if lead_id != own[a]]
        found.update({(str(i.pk), str(i.sk)): i for i in self._backend.batch_get(LeadItem, elsewhere, retry)})
        people = {}
        for a in addresses:
            lead_id = aliases.get(a, own[a])
            lead, kept = found.get(lead_key(lead_id)), found.get(suppression_key(a))
            people[a] = Person(
                lead_id,
                _lead_from_item(lead) if isinstance(lead, LeadItem) else None,
                _suppression_from_item(kept) if isinstance(kept, SuppressionItem) else None,
            )
        return people

    def create_leads(self, new: Sequence[tuple[Lead, LeadSubmission]]) -> list[Conflict | None]:
        outcome: list[Conflict | None] = [None] * len(new)
        for start in range(0, len(new), LEADS_PER_TRANSACTION):
            waiting = list(range(start, min(start + LEADS_PER_TRANSACTION, len(new))))
            while waiting:
                puts: list[tuple[CrmItem, _Cond]] = [(_lead_item(*new[i]), _Absent()) for i in waiting]
                if len(puts) == 1:  # one lead: a conditional put (a transaction costs twice the capacity)
                    refused = set() if self._backend.put(*puts[0]) else {"put:0"}
                else:
                    refused = self._backend.transact(puts, [])
                if not refused:
                    break
                if "conflict" in refused:  # a concurrent transaction, no condition refused: read again
                    for i in waiting:
                        outcome[i] = LeadExists(f"lead {new[i][0].lead_id}: written meanwhile")
                    break
                taken = [i for position, i in enumerate(waiting) if f"put:{position}" in refused]
                for i, why in zip(taken, self._why_refused([new[i] for i in taken]), strict=True):
                    outcome[i] = why
                waiting = [i for i in waiting if outcome[i] is None]
        return outcome

    def _why_refused(self, refused: Sequence[tuple[Lead, LeadSubmission]]) -> list[Conflict]:
        """Why each of these leads' creation was refused (its lead exists): read (one BatchGetItem per 100),
        ``SubmissionExists`` when the stored lead was created by this very submission (or, for a lead stored
        before first submissions were kept on the lead, has it as its own item), else ``LeadExists``."""
        keys = [lead_key(lead.lead_id) for lead, _ in refused]
        keys += [lead_submission_key(s.lead_id, s.submission_id) for _, s in refused]
        found = {(str(i.pk), str(i.sk)): i for i in self._backend.batch_get(CrmItem, keys)}  # type: ignore[type-abstract]
        out: list[Conflict] = []
        for lead, submission in refused:
            stored = found.get(lead_key(lead.lead_id))
            seen = isinstance(stored, LeadItem) and _lead_from_item(stored).first_is(submission.submission_id)
            if seen or lead_submission_key(lead.lead_id, submission.submission_id) in found:
                out.append(SubmissionExists(f"submission {submission.submission_id} of lead {lead.lead_id}"))
            else:
                out.append(LeadExists(f"lead {lead.lead_id} exists"))
        return out

    def add_lead_submission(self, submission: LeadSubmission, *, lead: Lead | None = None) -> None:
        stored = lead if lead is not None and lead.lead_id == submission.lead_id else None
        if stored is None:
            stored = self.get_lead(submission.lead_id)
        if stored is not None and stored.first_is(submission.submission_id):
            raise SubmissionExists(f"submission {submission.submission_id} of lead {submission.lead_id}")
        if not self._backend.put(_submission_item(submission), _Absent()):
            raise SubmissionExists(f"submission {submission.submission_id} of lead {submission.lead_id}")

    def get_lead_submission(
        self, lead_id: str, submission_id: str, *, lead: Lead | None = None
    ) -> LeadSubmission | None:
        if lead is not None and lead.lead_id == lead_id:
            if lead.first_is(submission_id):
                return lead.first_submission
            item = self._backend.get(LeadSubmissionItem, lead_submission_key(lead_id, submission_id))
            return _submission_from_item(item) if item is not None else None
        keys = [lead_key(lead_id), lead_submission_key(lead_id, submission_id)]
        for found in self._backend.batch_get(CrmItem, keys):  # type: ignore[type-abstract]
            if isinstance(found, LeadSubmissionItem):
                return _submission_from_item(found)
            if isinstance(found, LeadItem) and (read := _lead_from_item(found)).first_is(submission_id):
                return read.first_submission
        return None

    def lead_submissions(self, lead_id: str) -> list[LeadSubmission]:
        # The lead's partition: the lead (the first submission kept on it) and the later submissions' items.
        found: list[LeadSubmission] = []
        for item in self._backend.query(lead_key(lead_id)[0]):
            if isinstance(item, LeadSubmissionItem):
                found.append(_submission_from_item(item))
            elif isinstance(item, LeadItem) and (first := _first_submission(item)) is not None:
                found.append(first)
        return sorted(found, key=lambda s: (s.received_at, s.submission_id))

    def quarantined_leads(self, limit: int = 100) -> list[Lead]:
        items = self._backend.query_index(QUARANTINE_INDEX, limit=limit)
        return [_lead_from_item(i) for i in items if isinstance(i, LeadItem)]

    def recent_leads(self, limit: int = 100) -> list[Lead]:
        items = self._backend.scan_leads(opted_in=False, after=None)
        found = [_lead_from_item(i) for i in items if not i.quarantined]
        return sorted(found, key=_by_creation, reverse=True)[:limit]

    def open_lead_count(self, rep_id: str) -> int:
        return self._backend.count_index(owner_index(rep_id), OPEN_PREFIX)

    def leads_of_owner(self, rep_id: str, *, open_only: bool = False) -> list[Lead]:
        items = self._backend.query_index(owner_index(rep_id), prefix=OPEN_PREFIX if open_only else None)
        return sorted(
            (_lead_from_item(i) for i in items if isinstance(i, LeadItem)), key=_by_creation, reverse=True
        )

    def add_lead_status(self, change: LeadStatusChange) -> bool:
        version = Version(change.at, change.event_id)
        item = LeadStatusItem(
            *lead_status_key(change.lead_id, version),
            **{k: v for k, v in change if k != "at" and v is not None},
            at=version.stamp,
            updated_at=datetime.now(UTC),
        )
        return self._backend.put(item, _Absent())

    def lead_status_history(self, lead_id: str) -> list[LeadStatusChange]:
        items = self._backend.query(_lead_status_partition(lead_id))
        return [
            LeadStatusChange.model_validate(
                {**{name: getattr(i, name) for name in LeadStatusChange.model_fields}, "at": parse_time(i.at)}
            )
            for i in items
            if isinstance(i, LeadStatusItem)
        ]

    def opted_in_leads(self, after: str | None = None) -> Iterator[tuple[str, Lead]]:
        start: Key | None = None
        if after:
            data = json.loads(after)
            start = (str(data["pk"]), str(data["sk"]))
        for item in self._backend.scan_leads(opted_in=True, after=start):
            cursor = json.dumps({"pk": item.pk, "sk": item.sk}, separators=(",", ":"))
            yield cursor, _lead_from_item(item)

    @staticmethod
    def _sync_state_attempts(
        ref: ContactRef, values: Mapping[str, Any], map_exists: bool | None
    ) -> list[_Update]:
        """The two ways to set the sync map (its keys into the map there, or the whole map where there is none),
        the likelier first."""
        model: type[CrmItem] = LeadItem if ref.kind == LEAD else ContactItem
        key = lead_key(ref.id) if ref.kind == LEAD else contact_key(ref.id)
        nested = _Update(
            model,
            key,
            {f"mailchimp.{k}": storable(v) for k, v in values.items() if v is not None},
            [f"mailchimp.{k}" for k, v in values.items() if v is None],
            _Exists(mailchimp_map=True),
        )
        whole = _Update(model, key, {"mailchimp": storable(dict(values))}, [], _Exists(mailchimp_map=False))
        return [whole, nested] if map_exists is False else [nested, whole]

    def record_sync_state(
        self, ref: ContactRef, values: Mapping[str, Any], *, map_exists: bool | None = None
    ) -> bool:
        attempts = self._sync_state_attempts(ref, values, map_exists)
        for _ in range(3):  # the map may appear between the two attempts
            for attempt in attempts:
                if self._backend.update(attempt):
                    return True
            if self._backend.get(attempts[0].model, attempts[0].key) is None:
                return False
        return False

    def record_sync_states(
        self, entries: Sequence[tuple[ContactRef, Mapping[str, Any], bool | None]]
    ) -> list[bool]:
        """Several people's sync state (``(ref, values, map_exists)``, each person once), as ``record_sync_state``
        each but in transactions of up to 100: one request for a stream batch instead of one per person. A
        transaction is all or nothing, so when one is refused (a map appeared or went meanwhile, a person is
        gone, a conflict; or refused as sent, an item over 400 KB) its entries are written one by one, each
        with both of its conditions as ``record_sync_state`` writes it. True per entry written, False when
        gone. ``Throttled`` (busy, unreachable) is raised: nothing was written, and the stream retries the
        batch rather than the same busy table taking a write per person."""
        written: list[bool] = []
        for start in range(0, len(entries), TRANSACTION_ITEMS):
            chunk = entries[start : start + TRANSACTION_ITEMS]
            updates = [self._sync_state_attempts(ref, values, exists)[0] for ref, values, exists in chunk]
            try:
                refused = self._backend.transact([], updates) if len(chunk) > 1 else {"one"}
            except Throttled:
                raise
            except StoreError:  # refused as sent (Conflict is reported in `refused`): one by one
                refused = {"refused as sent"}
            if not refused:
                written += [True] * len(chunk)
                continue
            written += [
                self.record_sync_state(ref, values, map_exists=exists) for ref, values, exists in chunk
            ]
        return written

    # ------------------------------------------------------------ reps, territories, accounts
    def _get(self, model: type[M], key: Key) -> Any:
        item = self._backend.get(model, key)
        return _from_item(item) if item is not None else None

    def _listed(self, gsi1pk: str, model: type[CrmItem], prefix: str | None = None) -> list[Any]:
        return [
            _from_item(i) for i in self._backend.query_index(gsi1pk, prefix=prefix) if isinstance(i, model)
        ]

    def get_rep(self, rep_id: str) -> Rep | None:
        return self._get(RepItem, rep_key(rep_id))  # type: ignore[no-any-return]

    def list_reps(self) -> list[Rep]:
        return self._listed(REPS_INDEX, RepItem)

    def get_reps(self, rep_ids: Iterable[str]) -> dict[str, Rep]:
        keys = [rep_key(i) for i in dict.fromkeys(rep_ids)]
        return {item.rep_id: _rep_from_item(item) for item in self._backend.batch_get(RepItem, keys)}

    def get_territory(self, territory_id: str) -> Territory | None:
        return self._get(TerritoryItem, territory_key(territory_id))  # type: ignore[no-any-return]

    def list_territories(self) -> list[Territory]:
        return self._listed(TERRITORIES_INDEX, TerritoryItem)

    def get_account(self, account_id: str) -> Account | None:
        return self._get(AccountItem, account_key(account_id))  # type: ignore[no-any-return]

    def get_reps_and_accounts(
        self, rep_ids: Iterable[str], account_ids: Iterable[str]
    ) -> tuple[dict[str, Rep], dict[str, Account]]:
        keys = [rep_key(i) for i in dict.fromkeys(rep_ids)] + [
            account_key(i) for i in dict.fromkeys(account_ids)
        ]
        reps: dict[str, Rep] = {}
        accounts: dict[str, Account] = {}
        for item in self._backend.batch_get(CrmItem, keys):
            if isinstance(item, RepItem):
                reps[item.rep_id] = _rep_from_item(item)
            elif isinstance(item, AccountItem):
                accounts[item.account_id] = _from_item(item)
        return reps, accounts

    def list_accounts(self) -> list[Account]:
        return self._listed(ACCOUNTS_INDEX, AccountItem)

    # ------------------------------------------------------------ contacts
    def get_contact(self, contact_id: str) -> Contact | None:
        return self._get(ContactItem, contact_key(contact_id))  # type: ignore[no-any-return]

    def contacts_of_account(self, account_id: str) -> list[Contact]:
        return self._listed(account_children_index(account_id), ContactItem, prefix=_child_sort(CONTACT, ""))

    def contacts_by_email(self, email: str) -> list[Contact]:
        pk, _ = contact_email_key(email, "")
        found = []
        for pointer in self._backend.query(pk):
            if not isinstance(pointer, ContactEmailItem):
                continue
            contact = self.get_contact(pointer.contact_id)
            if contact is not None and (contact.email or "").strip().lower() == email.strip().lower():
                found.append(contact)
        return found

    def update_contact(
        self, contact_id: str, changes: Mapping[str, Any], *, expected_version: int
    ) -> Contact:
        current = self.get_contact(contact_id)
        if current is None:
            raise NotFound(f"no contact {contact_id}")
        if current.version != expected_version:
            raise Conflict(f"contact {contact_id} is at version {current.version}, not {expected_version}")
        top = {k: v for k, v in changes.items() if "." not in k}
        nested = {k.split(".", 1)[1]: v for k, v in changes.items() if k.startswith("mailchimp.")}
        if set(top) - _CONTACT_CHANGEABLE or len(nested) + len(top) != len(changes):
            raise ValueError(f"not contact attributes MailChimp may change: {sorted(changes)}")
        sets: dict[str, Any] = {k: v for k, v in top.items() if v is not None}
        sets.setdefault("updated_at", datetime.now(UTC))
        removes = [k for k, v in top.items() if v is None]
        map_exists: bool | None = None
        if nested:
            map_exists = current.mailchimp is not None
            if map_exists:
                sets.update({f"mailchimp.{k}": storable(v) for k, v in nested.items() if v is not None})
                removes += [f"mailchimp.{k}" for k, v in nested.items() if v is None]
            else:
                sets["mailchimp"] = storable(nested)
        sets["version"] = expected_version + 1
        condition = _VersionIs(expected_version, map_exists)
        if not self._backend.update(_Update(ContactItem, contact_key(contact_id), sets, removes, condition)):
            raise Conflict(f"contact {contact_id} changed since version {expected_version}")
        if top.get("email"):
            pointer = ContactEmailItem(*contact_email_key(top["email"], contact_id), contact_id=contact_id)
            self._backend.put(pointer, None)
        updated = self.get_contact(contact_id)
        if updated is None:
            raise NotFound(f"no contact {contact_id}")
        return updated

    # ------------------------------------------------------------ opportunities and the rest
    def get_opportunity(self, opportunity_id: str) -> Opportunity | None:
        return self._get(OpportunityItem, opportunity_key(opportunity_id))  # type: ignore[no-any-return]

    def list_opportunities_of_account(self, account_id: str) -> list[Opportunity]:
        prefix = _child_sort(OPPORTUNITY, "")
        return self._listed(account_children_index(account_id), OpportunityItem, prefix=prefix)

    def stage_history(self, opportunity_id: str) -> list[StageChange]:
        changes: list[StageChange] = []
        last: str | None = None
        for observation in self._backend.query(opportunity_key(opportunity_id)[0], STAGE_PREFIX):
            if not isinstance(observation, OpportunityStageItem) or observation.stage == last:
                continue
            changes.append(
                StageChange(last, observation.stage, parse_time(observation.at), observation.event_id)
            )
            last = observation.stage
        return changes

    def get_escalation(self, escalation_id: str) -> Escalation | None:
        return self._get(EscalationItem, escalation_key(escalation_id))  # type: ignore[no-any-return]

    def open_escalations_due(self, before: datetime) -> list[Escalation]:
        found: list[Escalation] = []
        for status in OPEN_ESCALATION_STATUSES:
            low, high = f"{status}#", f"{status}#{format_time(before)}#{_HIGHEST}"
            items = self._backend.query_index(ESCALATIONS_INDEX, low=low, high=high)
            found += [_from_item(i) for i in items if isinstance(i, EscalationItem)]
        return sorted(found, key=lambda e: (e.due or before, e.escalation_id))

    def get_sample(self, sample_id: str) -> Sample | None:
        return self._get(SampleItem, sample_key(sample_id))  # type: ignore[no-any-return]

    def samples_due(self, before: datetime) -> list[Sample]:
        # gsi2: only samples whose follow-up is not done are there (gsi1 SAMPLES keeps every one).
        high = f"{format_time(before)}#{_HIGHEST}"
        items = self._backend.query_index(SAMPLES_DUE_INDEX, high=high, index="gsi2")
        return [_from_item(i) for i in items if isinstance(i, SampleItem)]

    def activities_of_rep(self, rep_id: str, start: datetime, end: datetime) -> list[Activity]:
        low, high = format_time(start), format_time(end)
        items = self._backend.query_index(rep_activities_index(rep_id), low=low, high=high)
        activities = [_from_item(i) for i in items if isinstance(i, ActivityItem)]
        return [a for a in activities if start <= a.at < end]

    def orders_of_year(self, year: int) -> list[Order]:
        return self._listed(orders_index(year), OrderItem)

    # ------------------------------------------------------------ writes from events
    def _upsert(self, item: EventItem, version: Version) -> Outcome:
        """One conditional put: only over an item written by an older event (or none)."""
        for _ in range(self.MAX_TRIES):
            if self._backend.put(item, _OlderThan(version)):
                return Outcome.APPLIED
            stored = self._backend.get(type(item), (str(item.pk), str(item.sk)))
            if stored is not None:
                stored_version = Version.of(stored.occurred_at, stored.last_event_id)
                return outcome_against(stored_version, version) or Outcome.STALE
        raise Conflict(f"{item.pk} kept changing under {self.MAX_TRIES} attempts")

    def _upsert_merged(self, item: EventItem, version: Version, merge: Callable[[Any, Any], None]) -> Outcome:
        """Read, derive from what is stored (``merge(previous, item)``), put on the version read."""
        for _ in range(self.MAX_TRIES):
            previous = self._backend.get(type(item), (str(item.pk), str(item.sk)))
            if previous is not None:
                refused = outcome_against(Version.of(previous.occurred_at, previous.last_event_id), version)
                if refused is not None:
                    return refused
            merge(previous, item)
            read = None if previous is None else int(getattr(previous, "version", 0) or 0)
            item.version = (read or 0) + 1  # type: ignore[attr-defined]
            if self._backend.put(item, _Absent() if read is None else _VersionIs(read)):
                return Outcome.APPLIED
        raise Conflict(f"{item.pk} kept changing under {self.MAX_TRIES} attempts")

    # ------------------------------------------------------------ writes from events, many at once
    def upsert_many(self, writes: Sequence[tuple[Entity, Version]]) -> list[Outcome | None]:
        """Many events' writes at once: one BatchGetItem (per 100 entities) for what is stored, then
        transactions of up to 100 conditional puts. The events of one entity collapse to the newest,
        and each event's outcome is what writing them one by one, in the order given, would say.

        ``None`` where the caller should write the event alone (``upsert_*``): a kind not written
        here, an opportunity with an event not newer than what is stored or stored without a version
        (its stage history decides), and an entity whose condition another writer broke meanwhile."""
        outcomes: list[Outcome | None] = [None] * len(writes)
        groups: dict[Key, list[int]] = {}
        items: dict[int, EventItem] = {}
        for index, (record, version) in enumerate(writes):
            build = _ITEMS.get(Opportunity if isinstance(record, Opportunity) else type(record))
            if build is not None:
                items[index] = item = build(record, version)
                groups.setdefault((str(item.pk), str(item.sk)), []).append(index)
        keys = list(groups)
        stored: dict[Key, CrmItem] = {
            (str(found.pk), str(found.sk)): found
            for found in self._backend.batch_get(CrmItem, keys)  # type: ignore[type-abstract]
        }
        # A redelivery: opportunities' events not newer than what is stored need their observations
        # to be stored too (read at once) to change nothing; otherwise the one-by-one writer restates.
        late: list[Key] = []
        for key, indexes in groups.items():
            previous = stored.get(key)
            if isinstance(previous, OpportunityItem):
                at = Version.of(previous.occurred_at, previous.last_event_id)
                if any(writes[i][1] <= at for i in indexes):
                    opportunity_id = str(previous.opportunity_id)
                    late += [stage_observation_key(opportunity_id, writes[i][1]) for i in indexes]
        observed = {
            (str(found.pk), str(found.sk)) for found in self._backend.batch_get(OpportunityStageItem, late)
        }
        planned: list[_Planned] = []
        for key, indexes in groups.items():
            plan = _plan_writes(writes, items, indexes, stored.get(key), observed)
            if plan is not None and plan.puts:
                planned.append(plan)
            elif plan is not None:
                for index, outcome in plan.outcomes.items():
                    outcomes[index] = outcome
        for chunk in _chunks(planned):
            for plan in self._transact_plans(chunk):
                for index, outcome in plan.outcomes.items():
                    outcomes[index] = outcome
        return outcomes

    def _transact_plans(self, plans: list[_Planned]) -> list[_Planned]:
        """Write the plans in one transaction; those written. A plan whose entity condition is refused
        is dropped (written alone by the caller), an observation already stored is left out, and the
        rest go again; after ``MAX_TRIES`` or a refusal no item can be blamed for, none is written."""
        for _ in range(self.MAX_TRIES):
            if not plans:
                return []
            puts = [put for plan in plans for put in plan.puts]
            try:
                refused = self._backend.transact(puts, [])
            except Throttled:
                raise
            except StoreError:
                return []  # refused as sent (an item too large?): each event alone finds out which
            if not refused:
                return plans
            if "conflict" in refused:
                continue
            at = {int(name.split(":")[1]) for name in refused}
            kept: list[_Planned] = []
            start = 0
            for plan in plans:
                mine = {i - start for i in at if start <= i < start + len(plan.puts)}
                start += len(plan.puts)
                if len(plan.puts) - 1 in mine:
                    continue  # the entity's own put (always last): another writer came first
                # the others are stage observations already stored (write-once): nothing to write
                kept.append(_Planned([p for i, p in enumerate(plan.puts) if i not in mine], plan.outcomes))
            plans = kept
        return []

    def upsert_territory(self, territory: Territory, version: Version) -> Outcome:
        return self._upsert(_territory_item(territory, version), version)

    def upsert_rep(self, rep: Rep, version: Version) -> Outcome:
        return self._upsert(_rep_item(rep, version), version)

    def upsert_account(self, account: Account, version: Version) -> Outcome:
        return self._upsert(_account_item(account, version), version)

    def upsert_contact(self, contact: Contact, version: Version) -> Outcome:
        marketing = frozenset({"marketing_status", "mailchimp"})  # MailChimp's, never the CRM's
        item = ContactItem(
            *contact_key(contact.contact_id), **_record_fields(contact, ContactItem, derived=marketing)
        )
        if contact.account_id:
            item.gsi1pk = account_children_index(contact.account_id)
            item.gsi1sk = _child_sort(CONTACT, contact.contact_id)
        _stamp(item, version, contact.source)

        def keep_marketing(previous: ContactItem | None, new: ContactItem) -> None:
            # What MailChimp said about the person outlives the CRM's next description of them.
            if previous is not None:
                new.marketing_status = previous.marketing_status
                new.mailchimp = previous.mailchimp
                if new.marketing_opt_in is None:
                    new.marketing_opt_in = previous.marketing_opt_in

        outcome = self._upsert_merged(item, version, keep_marketing)
        if outcome is Outcome.APPLIED and contact.email:
            pointer = ContactEmailItem(
                *contact_email_key(contact.email, contact.contact_id), contact_id=contact.contact_id
            )
            self._backend.put(pointer, None)
        return outcome

    def upsert_opportunity(self, opportunity: Opportunity, version: Version) -> Outcome:
        # Joins the history whatever the order of delivery.
        self._backend.put(_stage_observation_item(opportunity, version), _Absent())
        item = _opportunity_item(opportunity, version)

        def carry_stage(previous: OpportunityItem | None, new: OpportunityItem) -> None:
            """Since when the stage holds and what it was before: from the observations, as the history."""
            new.stage_entered_at, new.previous_stage = self._stage_entry(
                opportunity.opportunity_id, new.stage, default=new.occurred_at
            )
            _carry_last_activity(previous, new)
            sweep_index_opportunity(new)

        outcome = self._upsert_merged(item, version, carry_stage)
        if outcome is not Outcome.APPLIED:
            # A late observation can move when the current stage began (shuffled delivery).
            self._restate_stage_entry(opportunity.opportunity_id)
        return outcome

    def _stage_entry(
        self, opportunity_id: str, stage: str, *, default: str | None
    ) -> tuple[str | None, str | None]:
        """When ``stage`` began and the stage before it, by the stage history (the observations)."""
        history = self.stage_history(opportunity_id)
        if history and history[-1].to_stage == stage:
            return format_time(history[-1].at), history[-1].from_stage
        return default, None

    def _restate_stage_entry(self, opportunity_id: str) -> None:
        for _ in range(self.MAX_TRIES):
            stored = self._backend.get(OpportunityItem, opportunity_key(opportunity_id))
            if stored is None:
                return
            entered, before = self._stage_entry(opportunity_id, stored.stage, default=stored.stage_entered_at)
            if (entered, before) == (stored.stage_entered_at, stored.previous_stage):
                return
            stored.stage_entered_at, stored.previous_stage = entered, before
            sweep_index_opportunity(stored)  # the sweeps' last-touch order falls back on stage_entered_at
            values = {
                "stage_entered_at": entered,
                "previous_stage": before,
                "gsi2pk": stored.gsi2pk,
                "gsi2sk": stored.gsi2sk,
            }
            sets: dict[str, Any] = {k: v for k, v in values.items() if v is not None}
            removes = [k for k, v in values.items() if v is None]
            read = int(stored.version or 0)
            sets["version"] = read + 1
            update = _Update(
                OpportunityItem, opportunity_key(opportunity_id), sets, removes, _VersionIs(read)
            )
            if self._backend.update(update):
                return
        raise Conflict(f"opportunity {opportunity_id} kept changing under {self.MAX_TRIES} attempts")

    def upsert_escalation(self, escalation: Escalation, version: Version) -> Outcome:
        item = EscalationItem(
            *escalation_key(escalation.escalation_id),
            **_record_fields(escalation, EscalationItem, derived=frozenset({"opened_at"})),
        )
        _stamp(item, version, escalation.source)

        def opened(previous: EscalationItem | None, new: EscalationItem) -> None:
            # An escalation without a due time is due from its opening: the first event the hub saw.
            if previous is not None:
                new.opened_at = previous.opened_at or min(
                    version.occurred_at, _when(previous.occurred_at, version)
                )
            else:
                new.opened_at = version.occurred_at
            due = new.due_at or new.opened_at
            new.gsi1pk = ESCALATIONS_INDEX
            new.gsi1sk = f"{new.status}#{format_time(due)}#{new.escalation_id}"

        return self._upsert_merged(item, version, opened)

    def upsert_sample(self, sample: Sample, version: Version) -> Outcome:
        return self._upsert(_sample_item(sample, version), version)

    def log_activity(self, activity: Activity, version: Version) -> Outcome:
        item = ActivityItem(
            *activity_key(activity.activity_id),
            **_record_fields(activity, ActivityItem),
            gsi1pk=rep_activities_index(activity.rep_id),
            gsi1sk=f"{format_time(activity.at)}#{activity.activity_id}",
        )
        if activity.due_at is not None and not activity.done:  # scheduled and not done: may fall due
            item.gsi2pk = ACTIVITIES_DUE_INDEX
            item.gsi2sk = f"{format_time(activity.due_at)}#{activity.activity_id}"
        _stamp(item, version, activity.source)
        outcome = self._upsert(item, version)
        if (
            outcome is Outcome.APPLIED
            and activity.opportunity_id
            and (activity.due_at is None or activity.done)
        ):
            self.touch_opportunity(activity.opportunity_id, activity.at)
        return outcome

    def touch_opportunity(self, opportunity_id: str, at: datetime) -> bool:
        """An activity for the opportunity: its ``last_activity_at`` moves forward to ``at`` (never
        back), with its place in the stale-opportunity index. On the version read, so a concurrent
        upsert reads again and carries it."""
        for _ in range(self.MAX_TRIES):
            current = self._backend.get(OpportunityItem, opportunity_key(opportunity_id))
            if current is None:
                return False
            if current.last_activity_at is not None and current.last_activity_at >= at:
                return False
            read = int(current.version or 0)
            current.last_activity_at = at
            sweep_index_opportunity(current)
            sets = {"last_activity_at": at, "version": read + 1}
            removes: list[str] = []
            for name in ("gsi2pk", "gsi2sk", "gsi3pk", "gsi3sk"):
                value = getattr(current, name)
                if value is None:
                    removes.append(name)
                else:
                    sets[name] = value
            update = _Update(
                OpportunityItem, opportunity_key(opportunity_id), sets, removes, _VersionIs(read)
            )
            if self._backend.update(update):
                return True
        raise Conflict(f"opportunity {opportunity_id} kept changing under {self.MAX_TRIES} attempts")

    def book_order(self, order: Order, version: Version) -> Outcome:
        return self._upsert(_order_item(order, version), version)

    # ------------------------------------------------------------ alerts (issue 10): sweep reads
    def open_leads_created_between(self, rep_id: str, start: datetime, end: datetime) -> list[Lead]:
        low, high = f"{OPEN_PREFIX}{start.isoformat()}", f"{OPEN_PREFIX}{end.isoformat()}"
        items = self._backend.query_index(owner_index(rep_id), low=low, high=high)
        return [_lead_from_item(i) for i in items if isinstance(i, LeadItem)]

    def stale_opportunities(self, stage: str, touched_before: datetime) -> list[Opportunity]:
        high = format_time(touched_before)
        items = self._backend.query_index(open_opportunities_index(stage), high=high, index="gsi2")
        return [_from_item(i) for i in items if isinstance(i, OpportunityItem)]

    def opportunities_next_step_due(self, before: date) -> list[Opportunity]:
        items = self._backend.query_index(NEXT_STEPS_INDEX, high=before.isoformat(), index="gsi3")
        return [_from_item(i) for i in items if isinstance(i, OpportunityItem)]

    def activities_due(self, before: datetime) -> list[Activity]:
        high = f"{format_time(before)}#{_HIGHEST}"
        items = self._backend.query_index(ACTIVITIES_DUE_INDEX, high=high, index="gsi2")
        return [_from_item(i) for i in items if isinstance(i, ActivityItem)]

    def get_opportunities(self, opportunity_ids: Iterable[str]) -> dict[str, Opportunity]:
        keys = [opportunity_key(i) for i in sorted(set(opportunity_ids))]
        return {
            item.opportunity_id: _from_item(item) for item in self._backend.batch_get(OpportunityItem, keys)
        }

    # ------------------------------------------------------------ alerts (issue 10): alert records
    def claim_alert(self, record: AlertRecord) -> bool:
        return self._backend.put(_alert_item(record), _Absent())

    def record_import_digest(self, digest: ImportDigest) -> bool:
        item = ImportDigestItem(
            *import_digest_key(digest.import_key, digest.etag, digest.rep_id), import_key=digest.import_key,
            etag=digest.etag, rep_id=digest.rep_id, lead_count=digest.count,
            leads_json=json.dumps(digest.leads[: ImportDigest.MAX_LEADS], separators=(",", ":")),
            results_key=digest.results_key, created_at=digest.created_at, updated_at=digest.created_at,
            rep_email=digest.rep_email,
            expires_at=digest.created_at + timedelta(days=IMPORT_DIGEST_RETENTION_DAYS),
        )  # fmt: skip
        return self._backend.put(item, _Absent())

    def record_board_report(self, year: int, month: str, nodes: int, created_at: datetime) -> bool:
        item = BoardReportItem(
            *board_report_key(month), year=year, month=month, nodes=nodes, created_at=created_at,
            updated_at=created_at, expires_at=created_at + timedelta(days=ALERT_RETENTION_DAYS),
        )  # fmt: skip
        return self._backend.put(item, _Absent())

    def import_digests(self, import_key: str, etag: str) -> list[ImportDigest]:
        pk = import_digest_key(import_key, etag, "")[0]
        items = [i for i in self._backend.query(pk, "DIGEST#") if isinstance(i, ImportDigestItem)]
        return [_import_digest_from_item(item) for item in items]

    def get_alert(self, key: str) -> AlertRecord | None:
        item = self._backend.get(AlertItem, alert_key(key))
        return _alert_from_item(item) if item is not None else None

    def get_alerts(self, keys: list[str]) -> dict[str, AlertRecord]:
        unique = [alert_key(k) for k in sorted(set(keys))]
        return {item.alert_id: _alert_from_item(item) for item in self._backend.batch_get(AlertItem, unique)}

    def _alert_update(
        self, key: str, condition: _Cond, sets: dict[str, Any], removes: Iterable[str] = ()
    ) -> bool:
        return self._backend.update(_Update(AlertItem, alert_key(key), sets, list(removes), condition))

    def take_over_alert(self, record: AlertRecord, new_token: str, due_at: str, now: str) -> bool:
        sets = {"claim_token": new_token, "status": "pending", "due_at": due_at, "attempts": record.attempts + 1,
                "gsi2pk": ALERTS_PENDING_INDEX, "gsi2sk": f"{due_at}#{record.key}"}  # fmt: skip
        return self._alert_update(record.key, _AlertOpen(record.claim_token, due_by=now), sets)

    def hold_alert(self, key: str, token: str, reason: str, due_at: str) -> bool:
        sets = {"status": "held", "hold_reason": reason, "due_at": due_at, "gsi2pk": ALERTS_PENDING_INDEX,
                "gsi2sk": f"{due_at}#{key}"}  # fmt: skip
        return self._alert_update(key, _AlertOpen(token), sets)

    def release_alert(self, key: str, token: str, now: str) -> bool:
        return self._alert_update(key, _AlertOpen(token), {"due_at": now, "gsi2sk": f"{now}#{key}"})

    def mark_alert_sent(self, key: str, token: str, message_id: str, sent_at: str) -> bool:
        sets = {"status": "sent", "message_id": message_id, "sent_at": sent_at}
        return self._alert_update(key, _AlertOpen(token), sets, ["due_at", "gsi2pk", "gsi2sk"])

    def _digested(self, key: str, condition: _Cond, digest_key: str) -> bool:
        sets = {"status": "digested", "digest_key": digest_key}
        return self._alert_update(key, condition, sets, ["due_at", "gsi2pk", "gsi2sk"])

    def claim_digest(self, digest: AlertRecord, members: list[tuple[str, str]]) -> list[str] | None:
        if not self.claim_alert(digest):
            return None
        return [key for key, token in members if self._digested(key, _AlertOpen(token), digest.key)]

    def adopt_into_digest(self, key: str, digest_key: str, now: str) -> bool:
        if self._digested(key, _AlertOpen(None, due_by=now), digest_key):
            return True
        record = self.get_alert(key)
        return record is not None and record.status == "digested" and record.digest_key == digest_key

    def alerts_due(self, now: str, limit: int = 500) -> list[AlertRecord]:
        items = self._backend.query_index(
            ALERTS_PENDING_INDEX, high=f"{now}#{_HIGHEST}", limit=limit, index="gsi2"
        )
        return [_alert_from_item(i) for i in items if isinstance(i, AlertItem)]

    def alerts_to(self, recipient: str, since: str, limit: int = 1000) -> list[AlertRecord]:
        items = self._backend.query_index(alerts_to_index(recipient), low=since, high=_HIGHEST, limit=limit)
        return [_alert_from_item(i) for i in items if isinstance(i, AlertItem)]

    def list_alerts(self, since: str, until: str, limit: int = 1000) -> list[AlertRecord]:
        found: list[AlertRecord] = []
        day, last = parse_time(since).date(), parse_time(until).date()
        while day <= last and len(found) < limit:
            items = self._backend.query_index(
                alerts_day_index(day.isoformat()), low=since, high=until, index="gsi3"
            )
            found += [_alert_from_item(i) for i in items if isinstance(i, AlertItem) and i.created_at < until]
            day += timedelta(days=1)
        return found[:limit]


def _alert_item(record: AlertRecord) -> AlertItem:
    is_open = record.status in ALERT_OPEN_STATUSES and record.due_at is not None
    return AlertItem(
        *alert_key(record.key),
        alert_id=record.key, kind=record.kind, about=record.entity, recipient=record.recipient.lower(),
        created_at=record.created_at, status=record.status, role=record.role or None,
        recipient_name=record.recipient_name or None, timezone=record.timezone, urgent=record.urgent,
        claim_token=record.claim_token or None, due_at=record.due_at, attempts=record.attempts,
        sent_at=record.sent_at, message_id=record.message_id, fallback_reason=record.fallback_reason,
        hold_reason=record.hold_reason, digest_key=record.digest_key, subject=record.subject[:500] or None,
        facts_json=json.dumps(record.facts, default=str, sort_keys=True) if record.facts else None,
        gsi1pk=alerts_to_index(record.recipient), gsi1sk=f"{record.created_at}#{record.key}",
        gsi2pk=ALERTS_PENDING_INDEX if is_open else None, gsi2sk=f"{record.due_at}#{record.key}" if is_open else None,
        gsi3pk=alerts_day_index(record.created_at[:10]), gsi3sk=f"{record.created_at}#{record.key}",
        updated_at=datetime.now(UTC), expires_at=parse_time(record.created_at) + timedelta(days=ALERT_RETENTION_DAYS),
    )  # fmt: skip


def _alert_from_item(item: AlertItem) -> AlertRecord:
    return AlertRecord(
        key=item.alert_id, kind=item.kind, entity=item.about, recipient=item.recipient, created_at=item.created_at,
        status=item.status, role=item.role or "", recipient_name=item.recipient_name or "",
        timezone=item.timezone or "UTC", urgent=bool(item.urgent), claim_token=item.claim_token or "",
        due_at=item.due_at, attempts=int(item.attempts or 1), sent_at=item.sent_at, message_id=item.message_id,
        fallback_reason=item.fallback_reason, hold_reason=item.hold_reason, digest_key=item.digest_key,
        subject=item.subject or "", facts=json.loads(item.facts_json) if item.facts_json else {},
    )  # fmt: skip


def _when(stored: str | None, version: Version) -> datetime:
    return parse_time(stored) if stored else version.occurred_at


def sweep_index_opportunity(item: OpportunityItem) -> None:
    """The alert sweeps' index entries of an opportunity: while its stage is open, by last touch
    (gsi2, per stage) and by next-step date (gsi3; a next step without a date is not chased)."""
    item.gsi2pk = item.gsi2sk = item.gsi3pk = item.gsi3sk = None
    if item.outcome not in (None, "open"):
        return  # won, lost or on hold: not chased
    touched = item.last_activity_at
    touched_text = (
        format_time(touched) if touched is not None else (item.stage_entered_at or item.occurred_at or "")
    )
    item.gsi2pk = open_opportunities_index(str(item.stage))
    item.gsi2sk = f"{touched_text}#{item.opportunity_id}"
    if item.next_step_date is not None:
        item.gsi3pk, item.gsi3sk = (
            NEXT_STEPS_INDEX,
            f"{item.next_step_date.isoformat()}#{item.opportunity_id}",
        )
    elif not (item.next_step or "").strip():
        item.gsi3pk, item.gsi3sk = NEXT_STEPS_INDEX, f"{NO_NEXT_STEP}#{item.opportunity_id}"


def _import_digest_from_item(item: ImportDigestItem) -> ImportDigest:
    return ImportDigest(
        import_key=item.import_key, etag=item.etag, rep_id=item.rep_id, count=int(item.lead_count),
        leads=json.loads(item.leads_json), results_key=item.results_key, created_at=item.created_at,
        rep_email=item.rep_email,
    )  # fmt: skip


class DynamoCrmStore(_CrmLogic):
    """``CrmStore`` on the CRM table (the table name comes from settings when this module is imported)."""

    def __init__(self) -> None:
        self._backend = _DynamoBackend()


class InMemoryCrmStore(_CrmLogic):
    """``CrmStore`` in a dict, with DynamoDB's conditions (unit tests, what-ifs)."""

    def __init__(self) -> None:
        self._memory = _MemoryBackend()
        self._backend = self._memory

    @property
    def writes(self) -> int:
        """How many items were written (a refused condition writes nothing)."""
        return self._memory.writes

    @property
    def items(self) -> dict[Key, dict[str, Any]]:
        """Every stored item, as DynamoDB JSON, by key (tests)."""
        return self._memory.items

    def raw(self, key: Key) -> dict[str, Any] | None:
        """One stored item as plain Python (numbers as Decimal; None for its model's absent attributes),
        or None when there is no such item (tests)."""
        from boto3.dynamodb.types import TypeDeserializer

        stored = self._memory.items.get(key)
        if stored is None:
            return None
        deserialize = TypeDeserializer().deserialize
        model = type(self._memory._load(stored))
        absent = dict.fromkeys(model.get_attributes())  # None where the item has no value, as a model reads
        return absent | {name: deserialize(value) for name, value in stored.items()}


_RECORDS.update(
    {
        TerritoryItem: Territory,
        AccountItem: Account,
        ContactItem: Contact,
        OpportunityItem: Opportunity,
        EscalationItem: Escalation,
        SampleItem: Sample,
        ActivityItem: Activity,
        OrderItem: Order,
    }
)
