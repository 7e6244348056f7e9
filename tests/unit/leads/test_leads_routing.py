"""Routing: ordered rules, weighted pools that skip unavailable reps, the fallback, the explanation."""

import threading
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from leads_webhook.routing import (
    FixedWorkload,
    InMemoryRotationRepository,
    PreviewRotationRepository,
    RotationConflictError,
    route_lead,
    weighted_order,
)

from shared.config_schemas.leads import default_leads_config
from shared.config_schemas.routing import RoutingConfig, load_routing_config
from shared.validation import ConfigDocumentError

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


@dataclass
class Lead:
    country: str | None = None
    state: str | None = None
    postal_code: str | None = None
    product_interest: str | None = None
    employee_band: str | None = None
    revenue_band: str | None = None
    industry: str | None = None
    campaign: str | None = None


def config(**overrides) -> RoutingConfig:
    data = {
        "reps": {
            name: {"name": name.title(), "email": f"{name}@example.com"}
            for name in ("alice", "bob", "carol", "dan", "erin")
        },
        "pools": {"p": {"members": [{"rep": "alice", "weight": 3}, {"rep": "bob", "weight": 1}]}},
        "rules": [
            {"id": "de", "when": {"country": "DE"}, "rep": "erin"},
            {"id": "us-big", "when": {"country": "US", "employee_band": "1000+"}, "pool": "p"},
        ],
        "fallback": {"queue": "unassigned"},
    }
    data.update(overrides)
    return RoutingConfig.model_validate(data)


def route(lead, cfg=None, *, rotation=None, workload=None):
    return route_lead(
        lead,
        cfg or config(),
        rotation=rotation or InMemoryRotationRepository(),
        workload=workload or FixedWorkload(),
        now=NOW,
    )


@pytest.mark.parametrize(
    ("when", "lead", "matches"),
    [
        ({"country": "Germany"}, Lead(country="DE"), True),
        ({"country": ["FR", "DE"]}, Lead(country="FR"), True),
        ({"country": "FR"}, Lead(country=None), False),
        ({"state": ["CA", "OR"]}, Lead(state="ca"), True),
        ({"postal_prefix": ["94", "95"]}, Lead(postal_code="94107"), True),
        ({"postal_prefix": "SW1"}, Lead(postal_code="sw1a 1aa"), True),
        ({"postal_prefix": "94"}, Lead(postal_code="10001"), False),
        ({"postal_range": {"start": "90000", "end": "96199"}}, Lead(postal_code="94107-1234"), True),
        ({"postal_range": {"start": "90000", "end": "96199"}}, Lead(postal_code="96200"), False),
        ({"postal_range": {"start": "90000", "end": "96199"}}, Lead(postal_code="9010"), False),
        ({"product_interest": "Sensors"}, Lead(product_interest="sensors"), True),
        ({"employee_band": ["1000+"]}, Lead(employee_band="1000+"), True),
        ({"revenue_band": "1B+"}, Lead(revenue_band="<1M"), False),
        ({"industry": "Robotics"}, Lead(industry="ROBOTICS"), True),
        ({"campaign": "expo-2026"}, Lead(campaign="Expo-2026"), True),
        ({"country": "US", "industry": "Robotics"}, Lead(country="US", industry="Food"), False),
    ],
)
def test_rule_criteria(when, lead, matches):
    cfg = config(rules=[{"id": "r", "when": when, "rep": "carol"}])
    assignment = route(lead, cfg)
    assert (assignment.rule_id == "r") is matches


def test_first_matching_rule_wins_and_says_so():
    cfg = config(
        rules=[
            {"id": "a", "when": {"country": "DE"}, "rep": "carol"},
            {"id": "b", "when": {"country": "DE"}, "rep": "dan"},
        ]
    )
    assignment = route(Lead(country="DE"), cfg)
    assert (assignment.owner, assignment.rule_id) == ("carol", "a")
    assert assignment.explanation() == {
        "reason": "rule",
        "owner_type": "rep",
        "owner": "carol",
        "rule_id": "a",
    }


def test_nothing_matches_goes_to_the_fallback_queue():
    assignment = route(Lead(country="FR"))
    assert (assignment.owner_type, assignment.owner, assignment.reason) == ("queue", "unassigned", "fallback")


def test_fallback_rep_or_queue_when_the_rep_is_away():
    reps = config().reps | {"bob": {"name": "Bob", "email": "bob@example.com", "out_of_office": True}}
    cfg = config(reps=reps, fallback={"rep": "bob", "queue": "unassigned"})
    assignment = route(Lead(), cfg)
    assert (assignment.owner_type, assignment.owner) == ("queue", "unassigned")
    assert assignment.explanation()["skipped"] == [{"rep": "bob", "why": "out_of_office", "rule": None}]
    assert route(Lead(), config(fallback={"rep": "carol"})).owner == "carol"


def test_pool_assignment_explains_pool_weights_and_turn():
    assignment = route(Lead(country="US", employee_band="1000+"))
    assert assignment.explanation() == {
        "reason": "rule",
        "owner_type": "rep",
        "owner": "alice",
        "rule_id": "us-big",
        "pool": "p",
        "weights": {"alice": 3, "bob": 1},
        "turn": 0,
    }
    assert "pool p [alice=3, bob=1] turn 0" in assignment.describe()


def test_smooth_weighted_order_spreads_turns():
    assert weighted_order((("a", 5), ("b", 1), ("c", 1))) == ("a", "a", "b", "a", "c", "a", "a")


def test_weights_are_honoured_over_1000_leads_within_2_percent():
    # Given a pool weighted 5:3:2
    cfg = config(
        pools={
            "p": {
                "members": [
                    {"rep": "alice", "weight": 5},
                    {"rep": "bob", "weight": 3},
                    {"rep": "carol", "weight": 2},
                ]
            }
        },
        rules=[{"id": "all", "when": {"country": "US"}, "pool": "p"}],
    )
    rotation = InMemoryRotationRepository()
    # When 1,000 leads are routed
    owners = Counter(route(Lead(country="US"), cfg, rotation=rotation).owner for _ in range(1000))
    # Then each rep's share is within 2 points of its weight's share
    for rep, share in {"alice": 0.5, "bob": 0.3, "carol": 0.2}.items():
        assert abs(owners[rep] / 1000 - share) <= 0.02
    assert rotation.turns["p"] == 1000


def test_out_of_office_and_at_capacity_reps_are_skipped_in_a_pool():
    reps = config().reps | {
        "alice": {
            "name": "A",
            "email": "a@example.com",
            "away": [{"start": "2026-11-20", "end": "2026-11-30"}],
        },
        "bob": {"name": "B", "email": "b@example.com", "capacity": 5},
        "carol": {"name": "C", "email": "c@example.com"},
    }
    pools = {"p": {"members": [{"rep": "alice", "weight": 2}, {"rep": "bob"}, {"rep": "carol"}]}}
    cfg = config(reps=reps, pools=pools)
    lead = Lead(country="US", employee_band="1000+")
    rot = InMemoryRotationRepository()
    # When alice is away and bob holds 5 open leads of a capacity of 5
    assignment = route(lead, cfg, workload=FixedWorkload({"bob": 5}), rotation=rot)
    # Then carol takes it, and the explanation names who was skipped and why
    assert assignment.owner == "carol"
    skipped = {s["rep"]: s["why"] for s in assignment.explanation()["skipped"]}
    assert skipped == {"alice": "out_of_office", "bob": "at_capacity"}
    # Bob below capacity takes turns again
    more = Counter(
        route(lead, cfg, workload=FixedWorkload({"bob": 4}), rotation=rot).owner for _ in range(40)
    )
    assert set(more) == {"bob", "carol"}


def test_a_pool_with_nobody_available_falls_through_to_later_rules_then_fallback():
    reps = config().reps | {
        name: {"name": name, "email": f"{name}@x.com", "out_of_office": True} for name in ("alice", "bob")
    }
    cfg = config(
        reps=reps, rules=[*config().rules, {"id": "any-us", "when": {"country": "US"}, "rep": "dan"}]
    )
    rotation = InMemoryRotationRepository()
    assignment = route(Lead(country="US", employee_band="1000+"), cfg, rotation=rotation)
    assert (assignment.owner, assignment.rule_id) == ("dan", "any-us")
    assert rotation.turns == {}  # no turn consumed


def test_a_rep_rule_with_the_rep_away_is_passed_over():
    reps = config().reps | {"erin": {"name": "E", "email": "e@x.com", "out_of_office": True}}
    assignment = route(Lead(country="DE"), config(reps=reps))
    assert assignment.reason == "fallback"
    assert assignment.skipped[0].rule == "de"


def test_concurrent_routing_hands_out_each_turn_once():
    # Given one rotation shared by eight threads
    rotation = InMemoryRotationRepository()
    cfg = config()
    turns: list[int] = []
    lock = threading.Lock()

    def work():
        for _ in range(50):
            a = route(Lead(country="US", employee_band="1000+"), cfg, rotation=rotation)
            with lock:
                turns.append(a.turn)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Then 400 leads took 400 distinct turns
    assert sorted(turns) == list(range(400))


def test_a_rotation_that_never_settles_raises():
    class Jumpy(InMemoryRotationRepository):
        def advance(self, pool_id, expected, new):
            return False

    with pytest.raises(RotationConflictError):
        route(Lead(country="US", employee_band="1000+"), rotation=Jumpy())


def test_preview_rotation_reads_but_never_writes_the_real_counters():
    real = InMemoryRotationRepository({"p": 7})
    preview = PreviewRotationRepository(real)
    first = route(Lead(country="US", employee_band="1000+"), rotation=preview)
    assert first.turn == 7
    assert route(Lead(country="US", employee_band="1000+"), rotation=preview).turn == 8
    assert real.turns == {"p": 7}


def test_shipped_routing_config_validates_against_shipped_bands():
    from pathlib import Path

    text = (Path(__file__).resolve().parents[3] / "config" / "routing.yaml").read_text()
    cfg = load_routing_config(text, default_leads_config())
    assert cfg.rules


@pytest.mark.parametrize(
    ("text", "field", "fragment"),
    [
        (
            "fallback: {queue: q}\nrules: [{id: r, when: {}, rep: a}]",
            "rules.0.when",
            "at least one criterion",
        ),
        (
            "fallback: {queue: q}\nrules: [{id: r, when: {country: Narnia}, rep: a}]",
            "rules.0.when.country",
            "unknown country",
        ),
        (
            "fallback: {queue: q}\nrules: [{id: r, when: {employee_band: huge}, rep: a}]",
            "rules.0.when.employee_band",
            "unknown band",
        ),
        (
            "fallback: {queue: q}\nrules: [{id: r, when: {country: US}}]",
            "rules.0",
            "exactly one of rep or pool",
        ),
        (
            "fallback: {queue: q}\nrules: [{id: r, when: {country: US}, rep: ghost}]",
            "rules.0.rep",
            "unknown rep",
        ),
        (
            "fallback: {queue: q}\nrules: [{id: r, when: {country: US}, pool: ghost}]",
            "rules.0.pool",
            "unknown pool",
        ),
        (
            "fallback: {queue: q}\nrules: [{id: r, when: {postal_range: {start: '9', end: '10'}}, rep: a}]",
            "rules.0.when.postal_range.0",
            "same length",
        ),
        ("fallback: {}", "fallback", "rep or a queue"),
        ("fallback: {queue: q}\npools: {p: {members: []}}", "pools.p.members", "at least 1"),
        (
            "fallback: {queue: q}\nreps: {a: {name: A, email: a@x.com}}\n"
            "pools: {p: {members: [{rep: a, weight: 0}]}}",
            "pools.p.members.0.weight",
            "greater than or equal",
        ),
        ("fallback: {rep: ghost}", "fallback.rep", "unknown rep"),
        ("rules: []", "fallback", "Field required"),
    ],
)
def test_bad_routing_file_is_refused_naming_field_and_reason(text, field, fragment):
    with pytest.raises(ConfigDocumentError) as caught:
        load_routing_config(text, default_leads_config())
    errors = {e.field: e.message for e in caught.value.errors}
    assert field in errors, errors
    assert fragment in errors[field]
