"""config/routing.yaml: ordered rules, weighted pools and a fallback (`leads_webhook.routing` applies them).

Rules are tried in order; a rule matches when every criterion it names matches (each criterion lists
accepted values, any one of which will do). A rule targets one rep or a pool; the fallback a rep or a queue.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from shared.config_schemas.leads import LeadsConfig
from shared.countries import country_code
from shared.validation import ConfigDocumentError, FieldError, validate_yaml_document

CRITERIA = (
    "country",
    "state",
    "postal_prefix",
    "postal_range",
    "product_interest",
    "employee_band",
    "revenue_band",
    "industry",
    "campaign",
)
MAX_POOL_WEIGHT = 10_000


def _as_list(value: Any) -> Any:
    if value is None or isinstance(value, list):
        return value
    return [value]


def postal_key(value: str) -> str:
    """A postal code as rules compare it: no spaces, upper case."""
    return "".join(value.split()).upper()


class PostalRange(BaseModel):
    """Postal codes from `start` to `end` inclusive, compared on their first len(start) characters (kept
    as `postal_key`s)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start: str = Field(min_length=1, max_length=20)
    end: str = Field(min_length=1, max_length=20)

    @model_validator(mode="after")
    def _ordered(self) -> PostalRange:
        start, end = postal_key(self.start), postal_key(self.end)
        if len(start) != len(end):
            raise ValueError("start and end must have the same length")
        if start > end:
            raise ValueError("start must not be after end")
        object.__setattr__(self, "start", start)
        object.__setattr__(self, "end", end)
        return self


class Criteria(BaseModel):
    """What a rule matches on; a single value may be written for a one-item list."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    country: list[str] | None = None
    state: list[str] | None = None
    postal_prefix: list[str] | None = None
    postal_range: list[PostalRange] | None = None
    product_interest: list[str] | None = None
    employee_band: list[str] | None = None
    revenue_band: list[str] | None = None
    industry: list[str] | None = None
    campaign: list[str] | None = None

    @field_validator(*CRITERIA, mode="before")
    @classmethod
    def _listify(cls, value: Any) -> Any:
        return _as_list(value)

    @field_validator(*CRITERIA)
    @classmethod
    def _not_empty(cls, value: list[Any] | None) -> list[Any] | None:
        if value is not None and not value:
            raise ValueError("must list at least one value (or be left out)")
        return value

    @field_validator("country")
    @classmethod
    def _countries(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else [country_code(v) for v in value]

    @field_validator("employee_band", "revenue_band")
    @classmethod
    def _known_bands(cls, value: list[str] | None, info: ValidationInfo) -> list[str] | None:
        known = (info.context or {}).get(str(info.field_name))
        if value is not None and known is not None:
            unknown = [v for v in value if v not in known]
            if unknown:
                raise ValueError(f"unknown band {unknown[0]!r} (known: {', '.join(known)})")
        return value

    @model_validator(mode="after")
    def _something(self) -> Criteria:
        if all(getattr(self, name) is None for name in CRITERIA):
            raise ValueError(f"a rule needs at least one criterion ({', '.join(CRITERIA)})")
        return self


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, max_length=100)
    when: Criteria
    rep: str | None = None
    pool: str | None = None

    @model_validator(mode="after")
    def _one_target(self) -> Rule:
        if (self.rep is None) == (self.pool is None):
            raise ValueError("a rule targets exactly one of rep or pool")
        return self


class AwayPeriod(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    start: date
    end: date

    @model_validator(mode="after")
    def _ordered(self) -> AwayPeriod:
        if self.end < self.start:
            raise ValueError("end must not be before start")
        return self


class Rep(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=200)
    email: str = Field(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")
    capacity: int | None = Field(default=None, ge=0)
    out_of_office: bool = False
    away: list[AwayPeriod] = Field(default_factory=list)

    def is_away(self, today: date) -> bool:
        return self.out_of_office or any(p.start <= today <= p.end for p in self.away)


class PoolMember(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    rep: str
    weight: int = Field(default=1, ge=1, le=1000)


class Pool(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    members: list[PoolMember] = Field(min_length=1)

    @field_validator("members")
    @classmethod
    def _unique(cls, members: list[PoolMember]) -> list[PoolMember]:
        reps = [m.rep for m in members]
        if len(set(reps)) != len(reps):
            raise ValueError("a rep appears twice in the pool")
        if sum(m.weight for m in members) > MAX_POOL_WEIGHT:
            raise ValueError(f"the weights add up to more than {MAX_POOL_WEIGHT}")
        return members

    @property
    def weights(self) -> dict[str, int]:
        return {m.rep: m.weight for m in self.members}


class Fallback(BaseModel):
    """Where a lead goes when no rule assigns it: the rep when available, else the queue."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rep: str | None = None
    queue: str | None = Field(default=None, min_length=1, max_length=100)

    @model_validator(mode="after")
    def _something(self) -> Fallback:
        if self.rep is None and self.queue is None:
            raise ValueError("the fallback needs a rep or a queue")
        return self


class RoutingConfig(BaseModel):
    """config/routing.yaml."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    reps: dict[str, Rep] = Field(default_factory=dict)
    pools: dict[str, Pool] = Field(default_factory=dict)
    rules: list[Rule] = Field(default_factory=list)
    fallback: Fallback

    @model_validator(mode="after")
    def _references(self, info: ValidationInfo) -> RoutingConfig:
        # load_routing_config reports these one field at a time; a plain model_validate (config_store)
        # gets them here, in one message.
        if not (info.context or {}).get("references_checked_by_caller"):
            problems = self.reference_errors()
            if problems:
                raise ValueError("; ".join(f"{p.field}: {p.message}" for p in problems))
        return self

    def reference_errors(self) -> list[FieldError]:
        """Rules, pools and the fallback must name reps and pools that exist; rule ids are unique."""
        problems: list[FieldError] = []
        seen: set[str] = set()
        for index, rule in enumerate(self.rules):
            if rule.id in seen:
                problems.append(FieldError(f"rules.{index}.id", f"rule id {rule.id!r} is used twice"))
            seen.add(rule.id)
            if rule.rep is not None and rule.rep not in self.reps:
                problems.append(FieldError(f"rules.{index}.rep", f"unknown rep {rule.rep!r}"))
            if rule.pool is not None and rule.pool not in self.pools:
                problems.append(FieldError(f"rules.{index}.pool", f"unknown pool {rule.pool!r}"))
        for pool_id, pool in self.pools.items():
            for index, member in enumerate(pool.members):
                if member.rep not in self.reps:
                    problems.append(
                        FieldError(f"pools.{pool_id}.members.{index}.rep", f"unknown rep {member.rep!r}")
                    )
        if self.fallback.rep is not None and self.fallback.rep not in self.reps:
            problems.append(FieldError("fallback.rep", f"unknown rep {self.fallback.rep!r}"))
        return problems


def load_routing_config(text: str | bytes, leads_config: LeadsConfig | None = None) -> RoutingConfig:
    """Validate a routing document; band names are checked against the leads configuration if given."""
    context: dict[str, Any] = {"references_checked_by_caller": True}
    if leads_config is not None:
        context |= {
            "employee_band": [b.name for b in leads_config.employee_bands],
            "revenue_band": [b.name for b in leads_config.revenue_bands],
        }
    config = validate_yaml_document(text, RoutingConfig, document="routing.yaml", context=context)
    problems = config.reference_errors()
    if problems:
        raise ConfigDocumentError("routing.yaml", problems)
    return config
