"""Lead routing: ordered rules, weighted pools, a fallback, and an explanation for every assignment.

config/routing.yaml is validated by `shared.config_schemas.routing.RoutingConfig`. Rules are tried in order;
a rule matches when every criterion it names matches (each criterion lists accepted values, any one of which
will do). A rule targets one rep or a pool. A pool is a smooth weighted round robin (nginx's algorithm): the
order of turns is a fixed function of the weights, so the rotation's state is one counter per pool, kept
behind `RotationRepository` and advanced with a compare-and-set (a DynamoDB conditional write in
production). Reps are the CRM's rep records (`RepDirectory`): those out of office or at capacity (open
leads >= capacity) are skipped. A rule whose rep or pool has nobody available is passed over; when no rule
assigns the lead, the fallback does (a rep, or a queue when the rep is unavailable).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any, Literal, Protocol

from shared.config_schemas.routing import CRITERIA, Criteria, Pool, PostalRange, RoutingConfig, postal_key


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


def criteria_match(criteria: Criteria, lead: RoutingFacts) -> bool:
    """Every criterion the rule names matches (any one of its listed values will do)."""
    return all(_matches(criteria, name, lead) for name in CRITERIA if getattr(criteria, name) is not None)


def _matches(criteria: Criteria, name: str, lead: RoutingFacts) -> bool:
    if name == "postal_prefix":
        code = lead.postal_code
        return code is not None and any(
            postal_key(code).startswith(postal_key(p)) for p in criteria.postal_prefix or []
        )
    if name == "postal_range":
        code = lead.postal_code
        return code is not None and any(_in_range(r, code) for r in criteria.postal_range or [])
    value = getattr(lead, name)
    if value is None:
        return False
    accepted: list[str] = getattr(criteria, name)
    if name in ("employee_band", "revenue_band"):
        return value in accepted
    return str(value).casefold() in {a.casefold() for a in accepted}


def _in_range(postal_range: PostalRange, postal_code: str) -> bool:
    code = postal_key(postal_code)[: len(postal_range.start)]
    return len(code) == len(postal_range.start) and postal_range.start <= code <= postal_range.end


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


class RepRecord(Protocol):
    """What routing reads of a CRM rep record (`shared.store.crm.Rep` has these)."""

    @property
    def rep_id(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def email(self) -> str | None: ...

    @property
    def capacity(self) -> int | None: ...

    def away_on(self, day: date) -> bool:
        """Out of office that day (one of the rep's out-of-office periods covers it)."""
        ...


class RepDirectory(Protocol):
    """The CRM's rep records: the one rep registry (the CRM store implements it)."""

    def get_reps(self, rep_ids: Iterable[str]) -> Mapping[str, RepRecord]:
        """The records of these ids that exist, by id (one batch read)."""
        ...


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


# Why a rep was passed over: away that day, holding `capacity` open leads, or no CRM record of that id
# (routing.yaml is checked against the CRM's reps when uploaded; a record removed since is skipped).
SkipReason = Literal["out_of_office", "at_capacity", "no_rep_record"]


@dataclass(frozen=True)
class Skip:
    rep: str
    why: SkipReason
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
    owner_name: str | None = None  # the rep record's, for the stored reason (who to tell)
    owner_email: str | None = None

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
    """Each rep's availability for one routing decision: the CRM's records read once, in one batch."""

    def __init__(self, config: RoutingConfig, reps: RepDirectory, workload: RepWorkload, today: date) -> None:
        self._config, self._reps, self._workload, self._today = config, reps, workload, today
        self._records: Mapping[str, RepRecord] | None = None
        self._seen: dict[str, SkipReason | None] = {}

    def record(self, rep_id: str) -> RepRecord | None:
        if self._records is None:
            self._records = self._reps.get_reps(self._config.rep_ids())
        return self._records.get(rep_id)

    def why_not(self, rep_id: str) -> SkipReason | None:
        if rep_id not in self._seen:
            rep = self.record(rep_id)
            why: SkipReason | None = None
            if rep is None:
                why = "no_rep_record"
            elif rep.away_on(self._today):
                why = "out_of_office"
            elif rep.capacity is not None and self._workload.open_leads(rep_id) >= rep.capacity:
                why = "at_capacity"
            self._seen[rep_id] = why
        return self._seen[rep_id]

    def to_rep(self, rep_id: str, reason: Literal["rule", "fallback"], **why: Any) -> Assignment:
        rep = self.record(rep_id)
        name, email = (rep.name, rep.email) if rep is not None else (None, None)
        return Assignment("rep", rep_id, reason, owner_name=name, owner_email=email, **why)


def route_lead(
    lead: RoutingFacts,
    config: RoutingConfig,
    *,
    rotation: RotationRepository,
    workload: RepWorkload,
    reps: RepDirectory,
    now: datetime | None = None,
    max_attempts: int = 50,
) -> Assignment:
    """Assign a lead by the first rule that can take it, else the fallback; never nobody.

    Availability is the CRM's rep records (`reps`): out of office on the day, and capacity against the open
    leads `workload` counts."""
    today = (now or datetime.now(UTC)).date()
    available = _Availability(config, reps, workload, today)
    skipped: list[Skip] = []
    for rule in config.rules:
        if not criteria_match(rule.when, lead):
            continue
        if rule.rep is not None:
            why = available.why_not(rule.rep)
            if why is None:
                return available.to_rep(rule.rep, "rule", rule_id=rule.id, skipped=tuple(skipped))
            skipped.append(Skip(rule.rep, why, rule.id))
            continue
        assert rule.pool is not None
        pick = _take_turn(rule.pool, config.pools[rule.pool], rotation, available, max_attempts)
        skipped.extend(Skip(rep, why, rule.id) for rep, why in pick.skipped)
        if pick.rep is not None:
            pool = config.pools[rule.pool]
            return available.to_rep(
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
            return available.to_rep(fallback.rep, "fallback", skipped=tuple(skipped))
        skipped.append(Skip(fallback.rep, why, None))
    assert fallback.queue is not None
    return Assignment("queue", fallback.queue, "fallback", skipped=tuple(skipped))


@dataclass
class _Pick:
    rep: str | None = None
    turn: int | None = None
    skipped: list[tuple[str, SkipReason]] = field(default_factory=list)


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
