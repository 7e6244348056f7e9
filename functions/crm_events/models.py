"""What external CRMs send to ``POST /events``: the envelope, each event type, and batch parsing.

A body is one event or ``{"events": [...]}`` (at most 100). Each event is validated on its own:
a bad event is an error for that event only, with its reasons, and the good ones go on. Stage and
status names are checked against the stage catalogue (``config/stages.yaml``) and stored in its
canonical spelling; an opportunity without a probability takes its stage's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from shared.config_schemas.stages import StageCatalog
from shared.signing import SOURCE_PATTERN

MAX_BODY_BYTES = 1024 * 1024
MAX_EVENTS_PER_BATCH = 100
# An event stamped further ahead than this would win every later ordering check: refuse it.
MAX_FUTURE_SKEW = timedelta(hours=1)

# Ids end up in DynamoDB keys after a "<KIND>#" prefix: no whitespace, no "#".
EntityId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:@/+=-]{0,127}$")]
EventId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:@/+=-]{0,199}$")]
Source = Annotated[str, StringConstraints(pattern=SOURCE_PATTERN)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=256)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]
Money = Annotated[
    Decimal, Field(ge=0, le=Decimal("1e15"), max_digits=20, decimal_places=4, allow_inf_nan=False)
]
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
Email = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[^@\s]{1,64}@[^@\s]{1,255}$")]


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


Timestamp = Annotated[AwareDatetime, AfterValidator(_utc)]


def _catalog(info: ValidationInfo) -> StageCatalog:
    context = info.context or {}
    catalog = context.get("stages")
    if catalog is None:
        raise ValueError("no stage catalogue to check against")
    return catalog


class EventData(BaseModel):
    """Fields unknown to a type are ignored (never stored); known fields are checked strictly."""

    model_config = ConfigDict(extra="ignore", frozen=True, str_max_length=2000, defer_build=True)


class TerritoryData(EventData):
    id: EntityId
    name: Name
    parent_id: EntityId | None = None
    owner: Name | None = None

    @model_validator(mode="after")
    def _not_own_parent(self) -> TerritoryData:
        if self.parent_id == self.id:
            raise ValueError("a territory cannot be its own parent")
        return self


class OutOfOffice(EventData):
    """Dates a rep is away, inclusive: lead routing skips the rep on these days (the rep record is the
    one rep registry)."""

    start: date
    end: date

    @model_validator(mode="after")
    def _ordered(self) -> OutOfOffice:
        if self.end < self.start:
            raise ValueError("end is before start")
        return self


QuarterKey = Annotated[str, StringConstraints(pattern=r"^(20\d\d-Q[1-4]|default)$")]


class RepData(EventData):
    id: EntityId
    name: Name
    email: Email | None = None
    manager_id: EntityId | None = None
    territory_id: EntityId | None = None
    capacity: int | None = Field(default=None, ge=0, le=1_000_000)
    quota: dict[QuarterKey, Money] | Money | None = Field(
        default=None,
        description='Sales quota per quarter: one amount for every quarter, or {"2026-Q4": amount, ...}',
    )
    activity_points_quota: int | None = Field(default=None, ge=0, le=1_000_000)
    out_of_office: list[OutOfOffice] = Field(default_factory=list, max_length=50)
    timezone: Annotated[str, StringConstraints(max_length=64)] | None = Field(
        default=None, description="IANA time zone name, e.g. Europe/Berlin"
    )

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}: an IANA name, like Europe/Berlin") from exc
        return value

    @model_validator(mode="after")
    def _not_own_manager(self) -> RepData:
        if self.manager_id == self.id:
            raise ValueError("a rep cannot be their own manager")
        return self


class AccountData(EventData):
    id: EntityId
    name: Name
    territory_id: EntityId | None = None
    owner: Name | None = None
    key_account: bool = False
    aliases: list[Name] = Field(default_factory=list, max_length=50)


class ContactData(EventData):
    id: EntityId
    account_id: EntityId | None = None
    first_name: Name | None = None
    last_name: Name | None = None
    email: Email | None = None
    phone: Annotated[str, StringConstraints(strip_whitespace=True, max_length=40)] | None = None
    title: Name | None = None
    company: Name | None = None
    country: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")] | None = None
    marketing_opt_in: bool | None = None


class OpportunityData(EventData):
    id: EntityId
    account_id: EntityId
    name: Name
    owner: Name | None = None
    stage: Name
    probability: int | None = Field(default=None, ge=0, le=100)
    amount: Money | None = None
    close_date: date | None = None
    next_step: Text | None = None
    next_step_date: date | None = None
    last_activity_at: Timestamp | None = None
    outcome: Literal["open", "hold", "won", "lost"] | None = Field(
        default=None, description="Derived from the stage catalogue (whatever the sender says)"
    )

    @field_validator("stage")
    @classmethod
    def _known_stage(cls, value: str, info: ValidationInfo) -> str:
        return _catalog(info).require_opportunity_stage(value).name

    @model_validator(mode="after")
    def _default_probability(self, info: ValidationInfo) -> OpportunityData:
        stage = _catalog(info).opportunity_stage(self.stage)
        if self.probability is None and stage is not None:
            object.__setattr__(self, "probability", stage.probability)
        # The stage's outcome in the catalogue (open, hold, won, lost): the alert sweeps chase open ones.
        object.__setattr__(self, "outcome", stage.outcome if stage is not None else None)
        return self


class EscalationData(EventData):
    id: EntityId
    account_id: EntityId
    title: Name
    severity: Literal["low", "medium", "high", "critical"]
    status: Literal["open", "in_progress", "resolved", "closed"]
    assignee: Name | None = None
    due_at: Timestamp | None = None
    resolution: Text | None = None  # what was done: the account owner and the contact are told
    contact_id: EntityId | None = None  # the customer contact who raised it (told the outcome)


class SampleData(EventData):
    id: EntityId
    account_id: EntityId
    opportunity_id: EntityId | None = None
    part_number: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)]
    quantity: int = Field(ge=1, le=10_000_000)
    shipped_at: Timestamp | None = None
    follow_up_at: Timestamp | None = None
    status: Literal["shipped", "followed_up", "closed"] | None = None  # followed_up / closed: nothing due


class ActivityData(EventData):
    id: EntityId
    rep_id: EntityId
    type: Name
    points: int = Field(default=0, ge=0, le=10_000)
    at: Timestamp
    opportunity_id: EntityId | None = None
    subject: Text | None = None
    due_at: Timestamp | None = None  # a scheduled activity (a next step on the calendar) falls due then
    done: bool | None = None


class OrderData(EventData):
    id: EntityId
    account_id: EntityId
    opportunity_id: EntityId | None = None
    amount: Money
    currency: Currency = "USD"
    booked_at: Timestamp


class PlanData(EventData):
    node_type: Literal["territory", "account", "opportunity"]
    node_id: EntityId
    year: int = Field(ge=2000, le=2100)
    quarter: int = Field(ge=1, le=4)
    amount: Money


class LeadStatusData(EventData):
    lead_id: EntityId
    status: Name
    reason: Text | None = None

    @field_validator("status")
    @classmethod
    def _known_status(cls, value: str, info: ValidationInfo) -> str:
        return _catalog(info).require_lead_status(value).name


class LeadConvertedData(EventData):
    lead_id: EntityId
    account_id: EntityId
    contact_id: EntityId | None = None


class EventBase(BaseModel):
    """The envelope every event shares."""

    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)

    event_id: EventId
    type: str
    occurred_at: Timestamp
    source: Source

    @field_validator("occurred_at")
    @classmethod
    def _not_in_future(cls, value: datetime, info: ValidationInfo) -> datetime:
        now = (info.context or {}).get("now") or datetime.now(UTC)
        if value - now > MAX_FUTURE_SKEW:
            raise ValueError(f"occurred_at is more than {MAX_FUTURE_SKEW} in the future")
        return value

    @property
    def entity_kind(self) -> str:
        return self.type.split(".", 1)[0]


class TerritoryUpserted(EventBase):
    type: Literal["territory.upserted"]
    data: TerritoryData


class RepUpserted(EventBase):
    type: Literal["rep.upserted"]
    data: RepData


class AccountUpserted(EventBase):
    type: Literal["account.upserted"]
    data: AccountData


class ContactUpserted(EventBase):
    type: Literal["contact.upserted"]
    data: ContactData


class OpportunityUpserted(EventBase):
    type: Literal["opportunity.upserted"]
    data: OpportunityData


class EscalationUpserted(EventBase):
    type: Literal["escalation.upserted"]
    data: EscalationData


class SampleUpserted(EventBase):
    type: Literal["sample.upserted"]
    data: SampleData


class ActivityLogged(EventBase):
    type: Literal["activity.logged"]
    data: ActivityData


class OrderBooked(EventBase):
    type: Literal["order.booked"]
    data: OrderData


class PlanUpserted(EventBase):
    type: Literal["plan.upserted"]
    data: PlanData


class LeadStatusChanged(EventBase):
    type: Literal["lead.status_changed"]
    data: LeadStatusData


class LeadConverted(EventBase):
    type: Literal["lead.converted"]
    data: LeadConvertedData


EVENT_MODELS: dict[str, type[EventBase]] = {
    get_args(model.model_fields["type"].annotation)[0]: model
    for model in (
        TerritoryUpserted, RepUpserted, AccountUpserted, ContactUpserted, OpportunityUpserted,
        EscalationUpserted, SampleUpserted, ActivityLogged, OrderBooked, PlanUpserted, LeadStatusChanged,
        LeadConverted,
    )
}  # fmt: skip
EVENT_TYPES: tuple[str, ...] = tuple(EVENT_MODELS)


class BodyError(ValueError):
    """The body as a whole cannot be read (answered 400, or 413 when ``too_large``)."""

    def __init__(self, message: str, *, too_large: bool = False) -> None:
        super().__init__(message)
        self.too_large = too_large


@dataclass(frozen=True)
class EventResult:
    """The verdict on one event of a body, in the order it came."""

    index: int
    event_id: str | None
    event: BaseModel | None = None
    errors: list[dict[str, str]] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return self.event is not None


def _errors(exc: ValidationError, prefix: tuple[str | int, ...] = ()) -> list[dict[str, str]]:
    out = []
    for err in exc.errors(include_url=False):
        loc = [str(p) for p in (*prefix, *err["loc"])]
        message = err["msg"].removeprefix("Value error, ")
        out.append({"field": ".".join(loc), "message": message})
    return out


def validate_event(
    obj: Any, stages: StageCatalog, *, now: datetime | None = None, index: int = 0
) -> EventResult:
    """Validate one event (a decoded JSON value) against its type's model."""
    event_id = obj.get("event_id") if isinstance(obj, dict) else None
    event_id = event_id if isinstance(event_id, str) and len(event_id) <= 200 else None
    if not isinstance(obj, dict):
        return EventResult(index, None, errors=[{"field": "", "message": "an event must be a JSON object"}])
    # The type picks the model (a discriminated union would build all twelve at import; each model
    # is built when the first event of its type comes: ``defer_build``).
    if "type" not in obj:
        return EventResult(index, event_id, errors=[{"field": "type", "message": "type is required"}])
    tag = obj["type"]
    model = EVENT_MODELS.get(tag) if isinstance(tag, str) else None
    if model is None:
        message = f"unknown event type {tag!r}; known: {', '.join(EVENT_TYPES)}"
        return EventResult(index, event_id, errors=[{"field": "type", "message": message}])
    try:
        event = model.model_validate(obj, context={"stages": stages, "now": now or datetime.now(UTC)})
    except ValidationError as exc:
        return EventResult(index, event_id, errors=_errors(exc))
    return EventResult(index, event.event_id, event=event)


def decode_body(body: bytes | str) -> list[Any]:
    """The events of a body: one event, or ``{"events": [...]}``. Raises ``BodyError``."""
    raw = body.encode("utf-8") if isinstance(body, str) else body
    if len(raw) > MAX_BODY_BYTES:
        raise BodyError(f"body is larger than {MAX_BODY_BYTES} bytes", too_large=True)
    try:
        payload = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise BodyError("body is not valid UTF-8 JSON") from exc
    if not isinstance(payload, dict):
        raise BodyError('body must be one event or {"events": [...]}')
    if "events" not in payload:
        return [payload]
    events = payload["events"]
    if not isinstance(events, list):
        raise BodyError('"events" must be a list')
    if not events:
        raise BodyError('"events" is empty')
    if len(events) > MAX_EVENTS_PER_BATCH:
        raise BodyError(f"at most {MAX_EVENTS_PER_BATCH} events per request, got {len(events)}")
    return events


def parse_events(
    body: bytes | str, stages: StageCatalog, *, now: datetime | None = None
) -> list[EventResult]:
    """Decode a body and validate each of its events; raises ``BodyError`` only for the body as a whole."""
    when = now or datetime.now(UTC)
    return [validate_event(obj, stages, now=when, index=i) for i, obj in enumerate(decode_body(body))]
