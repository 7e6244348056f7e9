"""config/routing.yaml: ordered rules, weighted pools and a fallback (`leads_webhook.routing` applies them).

Rules are tried in order; a rule matches when every criterion it names matches (each criterion lists
accepted values, any one of which will do). A rule targets one rep or a pool; the fallback a rep or a queue.
"""

from __future__ import annotations

from collections.abc import Collection
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


REP_IDS = "rep_ids"  # the validation context's key: the rep ids the CRM knows


class RoutingConfig(BaseModel):
    """config/routing.yaml: rules and pools naming reps by their CRM id.

    A rep's email, capacity and out-of-office are the CRM's rep record (`rep.upserted`), read when routing;
    this document holds none of them. Validated with the CRM's rep ids in the context (`REP_IDS`), an unknown
    rep is refused; without them (loading the last good document) only the document itself is checked.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    reps: None = Field(default=None, exclude=True, description="retired: rep records live in the CRM")
    pools: dict[str, Pool] = Field(default_factory=dict)
    rules: list[Rule] = Field(default_factory=list)
    fallback: Fallback

    @field_validator("reps", mode="before")
    @classmethod
    def _reps_are_the_crms(cls, value: Any) -> None:
        if value is not None:
            raise ValueError(
                "reps are the CRM's records (rep.upserted: email, capacity, out_of_office); "
                "name them by id in rules, pools and the fallback and leave this section out"
            )
        return None

    @model_validator(mode="after")
    def _references(self, info: ValidationInfo) -> RoutingConfig:
        # load_routing_config reports these one field at a time; a plain model_validate (config_store,
        # config_validator) gets them here, in one message.
        context = info.context or {}
        if not context.get("references_checked_by_caller"):
            problems = self.reference_errors(context.get(REP_IDS))
            if problems:
                raise ValueError("; ".join(f"{p.field}: {p.message}" for p in problems))
        return self

    def rep_ids(self) -> list[str]:
        """Every rep id the document names (rules, pools, fallback), once each, in document order."""
        named = [rule.rep for rule in self.rules if rule.rep is not None]
        named += [member.rep for pool in self.pools.values() for member in pool.members]
        if self.fallback.rep is not None:
            named.append(self.fallback.rep)
        return list(dict.fromkeys(named))

    def reference_errors(self, known_reps: Collection[str] | None = None) -> list[FieldError]:
        """Rules name pools that exist and rule ids are unique; with `known_reps`, every rep named is one."""
        problems: list[FieldError] = []
        seen: set[str] = set()

        def check_rep(field: str, rep: str | None) -> None:
            if known_reps is not None and rep is not None and rep not in known_reps:
                problems.append(
                    FieldError(field, f"unknown rep {rep!r} (no rep record of this id in the CRM)")
                )

        for index, rule in enumerate(self.rules):
            if rule.id in seen:
                problems.append(FieldError(f"rules.{index}.id", f"rule id {rule.id!r} is used twice"))
            seen.add(rule.id)
            check_rep(f"rules.{index}.rep", rule.rep)
            if rule.pool is not None and rule.pool not in self.pools:
                problems.append(FieldError(f"rules.{index}.pool", f"unknown pool {rule.pool!r}"))
        for pool_id, pool in self.pools.items():
            for index, member in enumerate(pool.members):
                check_rep(f"pools.{pool_id}.members.{index}.rep", member.rep)
        check_rep("fallback.rep", self.fallback.rep)
        return problems


def load_routing_config(
    text: str | bytes, leads_config: LeadsConfig | None = None, rep_ids: Collection[str] | None = None
) -> RoutingConfig:
    """Validate a routing document, naming every bad field: band names against the leads configuration and
    rep ids against the CRM's (`rep_ids`), each when given."""
    context: dict[str, Any] = {"references_checked_by_caller": True}
    if leads_config is not None:
        context |= {
            "employee_band": [b.name for b in leads_config.employee_bands],
            "revenue_band": [b.name for b in leads_config.revenue_bands],
        }
    config = validate_yaml_document(text, RoutingConfig, document="routing.yaml", context=context)
    problems = config.reference_errors(rep_ids)
    if problems:
        raise ConfigDocumentError("routing.yaml", problems)
    return config
