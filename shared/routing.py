"""Lead routing: ordered rules, weighted pools, a fallback, and an explanation for every assignment.

config/routing.yaml is validated by `RoutingConfig`. Rules are tried in order; a rule matches when every
criterion it names matches (each criterion lists accepted values, any one of which will do). A rule targets
one rep or a pool. A pool is a smooth weighted round robin (nginx's algorithm): the order of turns is a fixed
function of the weights, so the rotation's state is one counter per pool, kept behind `RotationRepository`
and advanced with a compare-and-set (a DynamoDB conditional write in production). Reps out of office or at
capacity (open leads >= capacity) are skipped. A rule whose rep or pool has nobody available is passed over;
when no rule assigns the lead, the fallback does (a rep, or a queue when the rep is unavailable).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from shared.leads import ConfigDocumentError, FieldError, LeadsConfig, country_code, validate_yaml_document

_CRITERIA = (
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


class RoutingFacts(Protocol):
    """What routing reads of a lead (NormalisedLead and the stored lead both have these)."""

    @property
    def country(self) -> str | None: ...

    @property
    def state(self) -> str | None: ...

    @property
    def postal_code(self) -> str | None: ...

    @property
    def product_interest(self) -> str | None: ...

    @property
    def employee_band(self) -> str | None: ...

    @property
    def revenue_band(self) -> str | None: ...

    @property
    def industry(self) -> str | None: ...

    @property
    def campaign(self) -> str | None: ...


def _as_list(value: Any) -> Any:
    if value is None or isinstance(value, list):
        return value
    return [value]


def _postal(value: str) -> str:
    return "".join(value.split()).upper()


class PostalRange(BaseModel):
    """Postal codes from `start` to `end` inclusive, compared on their first len(start) characters."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start: str = Field(min_length=1, max_length=20)
    end: str = Field(min_length=1, max_length=20)

    @model_validator(mode="after")
    def _ordered(self) -> PostalRange:
        start, end = _postal(self.start), _postal(self.end)
        if len(start) != len(end):
            raise ValueError("start and end must have the same length")
        if start > end:
            raise ValueError("start must not be after end")
        object.__setattr__(self, "start", start)
        object.__setattr__(self, "end", end)
        return self

    def contains(self, postal_code: str) -> bool:
        code = _postal(postal_code)[: len(self.start)]
        return len(code) == len(self.start) and self.start <= code <= self.end


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

    @field_validator(*_CRITERIA, mode="before")
    @classmethod
    def _listify(cls, value: Any) -> Any:
        return _as_list(value)

    @field_validator(*_CRITERIA)
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
        if all(getattr(self, name) is None for name in _CRITERIA):
            raise ValueError(f"a rule needs at least one criterion ({', '.join(_CRITERIA)})")
        return self

    def matches(self, lead: RoutingFacts) -> bool:
        return all(self._matches(name, lead) for name in _CRITERIA if getattr(self, name) is not None)

    def _matches(self, name: str, lead: RoutingFacts) -> bool:
        if name == "postal_prefix":
            code = lead.postal_code
            return code is not None and any(
                _postal(code).startswith(_postal(p)) for p in self.postal_prefix or []
            )
        if name == "postal_range":
            code = lead.postal_code
            return code is not None and any(r.contains(code) for r in self.postal_range or [])
        value = getattr(lead, name)
        if value is None:
            return False
        accepted: list[str] = getattr(self, name)
        if name in ("employee_band", "revenue_band"):
            return value in accepted
        return str(value).casefold() in {a.casefold() for a in accepted}


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


# ------------------------------------------------------------------------------------------ rotation


class RotationConflictError(RuntimeError):
    """The rotation's counter kept moving under us (too much contention)."""


class RotationRepository(Protocol):
    """Where each pool's rotation counter lives."""

    def current_turn(self, pool_id: str) -> int:
        """The next turn to hand out (0 for a pool never used)."""
        ...

    def advance(self, pool_id: str, expected: int, new: int) -> bool:
        """Set the counter to `new` only if it is still `expected` (a conditional write)."""
        ...


class InMemoryRotationRepository:
    """A thread-safe fake for tests and what-if runs."""

    def __init__(self, turns: dict[str, int] | None = None) -> None:
        self.turns: dict[str, int] = dict(turns or {})
        self._lock = threading.Lock()

    def current_turn(self, pool_id: str) -> int:
        with self._lock:
            return self.turns.get(pool_id, 0)

    def advance(self, pool_id: str, expected: int, new: int) -> bool:
        with self._lock:
            if self.turns.get(pool_id, 0) != expected:
                return False
            self.turns[pool_id] = new
            return True


class PreviewRotationRepository(InMemoryRotationRepository):
    """Starts from another repository's counters and never writes to it (what-if runs)."""

    def __init__(self, base: RotationRepository) -> None:
        super().__init__()
        self._base = base

    def current_turn(self, pool_id: str) -> int:
        with self._lock:
            if pool_id not in self.turns:
                self.turns[pool_id] = self._base.current_turn(pool_id)
            return self.turns[pool_id]


class RepWorkload(Protocol):
    def open_leads(self, rep_id: str) -> int:
        """How many open leads the rep holds now."""
        ...


class FixedWorkload:
    """Open-lead counts from a dict (tests, what-if runs, or a snapshot)."""

    def __init__(self, counts: dict[str, int] | None = None) -> None:
        self.counts = dict(counts or {})

    def open_leads(self, rep_id: str) -> int:
        return self.counts.get(rep_id, 0)


@lru_cache(maxsize=256)
def weighted_order(weights: tuple[tuple[str, int], ...]) -> tuple[str, ...]:
    """One full cycle of nginx's smooth weighted round robin: each rep appears `weight` times, spread out."""
    current = [0] * len(weights)
    total = sum(w for _, w in weights)
    order: list[str] = []
    for _ in range(total):
        for i, (_, weight) in enumerate(weights):
            current[i] += weight
        best = max(range(len(weights)), key=lambda i: current[i])  # first of equals wins
        current[best] -= total
        order.append(weights[best][0])
    return tuple(order)


# ------------------------------------------------------------------------------------------- routing


@dataclass(frozen=True)
class Skip:
    rep: str
    why: Literal["out_of_office", "at_capacity"]
    rule: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"rep": self.rep, "why": self.why, "rule": self.rule}


@dataclass(frozen=True)
class Assignment:
    """Who owns the lead now, and why."""

    owner_type: Literal["rep", "queue"]
    owner: str
    reason: Literal["rule", "fallback"]
    rule_id: str | None = None
    pool: str | None = None
    weights: dict[str, int] | None = None
    turn: int | None = None
    skipped: tuple[Skip, ...] = field(default_factory=tuple)

    def explanation(self) -> dict[str, Any]:
        """The stored reason: the rule (or fallback), and for a pool the pool, the weights and the turn."""
        found: dict[str, Any] = {"reason": self.reason, "owner_type": self.owner_type, "owner": self.owner}
        if self.rule_id is not None:
            found["rule_id"] = self.rule_id
        if self.pool is not None:
            found.update(pool=self.pool, weights=dict(self.weights or {}), turn=self.turn)
        if self.skipped:
            found["skipped"] = [s.as_dict() for s in self.skipped]
        return found

    def why(self) -> str:
        """Why this owner, in words: the rule (and pool, weights and turn), or the fallback; who was skipped."""
        if self.reason == "fallback":
            why = "fallback (no rule assigned it)"
        else:
            why = f"rule {self.rule_id}"
            if self.pool is not None:
                weights = ", ".join(f"{rep}={w}" for rep, w in (self.weights or {}).items())
                why += f" via pool {self.pool} [{weights}] turn {self.turn}"
        skipped = f"; skipped {', '.join(f'{s.rep} ({s.why})' for s in self.skipped)}" if self.skipped else ""
        return why + skipped

    def describe(self) -> str:
        """One line for people (the what-if command): the owner, then why."""
        return f"{self.owner_type} {self.owner}: {self.why()}"


class _Availability:
    """Caches each rep's availability for one routing decision."""

    def __init__(self, config: RoutingConfig, workload: RepWorkload, today: date) -> None:
        self._config, self._workload, self._today = config, workload, today
        self._seen: dict[str, Literal["out_of_office", "at_capacity"] | None] = {}

    def why_not(self, rep_id: str) -> Literal["out_of_office", "at_capacity"] | None:
        if rep_id not in self._seen:
            rep = self._config.reps[rep_id]
            why: Literal["out_of_office", "at_capacity"] | None = None
            if rep.is_away(self._today):
                why = "out_of_office"
            elif rep.capacity is not None and self._workload.open_leads(rep_id) >= rep.capacity:
                why = "at_capacity"
            self._seen[rep_id] = why
        return self._seen[rep_id]


def route_lead(
    lead: RoutingFacts,
    config: RoutingConfig,
    *,
    rotation: RotationRepository,
    workload: RepWorkload,
    now: datetime | None = None,
    max_attempts: int = 50,
) -> Assignment:
    """Assign a lead by the first rule that can take it, else the fallback; never nobody."""
    today = (now or datetime.now(UTC)).date()
    available = _Availability(config, workload, today)
    skipped: list[Skip] = []
    for rule in config.rules:
        if not rule.when.matches(lead):
            continue
        if rule.rep is not None:
            why = available.why_not(rule.rep)
            if why is None:
                return Assignment("rep", rule.rep, "rule", rule_id=rule.id, skipped=tuple(skipped))
            skipped.append(Skip(rule.rep, why, rule.id))
            continue
        assert rule.pool is not None
        pick = _take_turn(rule.pool, config.pools[rule.pool], rotation, available, max_attempts)
        skipped.extend(Skip(rep, why, rule.id) for rep, why in pick.skipped)
        if pick.rep is not None:
            pool = config.pools[rule.pool]
            return Assignment(
                "rep",
                pick.rep,
                "rule",
                rule_id=rule.id,
                pool=rule.pool,
                weights=pool.weights,
                turn=pick.turn,
                skipped=tuple(skipped),
            )
    fallback = config.fallback
    if fallback.rep is not None:
        why = available.why_not(fallback.rep)
        if why is None or fallback.queue is None:
            return Assignment("rep", fallback.rep, "fallback", skipped=tuple(skipped))
        skipped.append(Skip(fallback.rep, why, None))
    assert fallback.queue is not None
    return Assignment("queue", fallback.queue, "fallback", skipped=tuple(skipped))


@dataclass
class _Pick:
    rep: str | None = None
    turn: int | None = None
    skipped: list[tuple[str, Literal["out_of_office", "at_capacity"]]] = field(default_factory=list)


def _take_turn(
    pool_id: str, pool: Pool, rotation: RotationRepository, available: _Availability, max_attempts: int
) -> _Pick:
    """Claim the pool's next turn whose rep is available; skipped turns are used up with it."""
    order = weighted_order(tuple((m.rep, m.weight) for m in pool.members))
    for _ in range(max_attempts):
        pick = _Pick()
        start = rotation.current_turn(pool_id)
        for offset in range(len(order)):
            rep = order[(start + offset) % len(order)]
            why = available.why_not(rep)
            if why is None:
                pick.rep, pick.turn = rep, start + offset
                break
            if (rep, why) not in pick.skipped:
                pick.skipped.append((rep, why))
        if pick.rep is None:
            return pick  # nobody in the pool can take it; the counter stays where it is
        assert pick.turn is not None
        if rotation.advance(pool_id, start, pick.turn + 1):
            return pick
    raise RotationConflictError(f"pool {pool_id}: the rotation kept changing ({max_attempts} attempts)")
