"""Routing: ordered rules, weighted pools that skip unavailable reps, the fallback, the explanation."""

import threading
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime

import pytest
import yaml
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
from tests.unit.leads.leads_fakes import ALWAYS, InMemoryReps, crm_rep

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


REPS = InMemoryReps(*(crm_rep(name) for name in ("alice", "bob", "carol", "dan", "erin")))


def config(**overrides) -> RoutingConfig:
    data = {
        "pools": {"p": {"members": [{"rep": "alice", "weight": 3}, {"rep": "bob", "weight": 1}]}},
        "rules": [
            {"id": "de", "when": {"country": "DE"}, "rep": "erin"},
            {"id": "us-big", "when": {"country": "US", "employee_band": "1000+"}, "pool": "p"},
        ],
        "fallback": {"queue": "unassigned"},
    }
    data.update(overrides)
    return RoutingConfig.model_validate(data)


def route(lead, cfg=None, *, rotation=None, workload=None, reps=None):
    return route_lead(
        lead,
        cfg or config(),
        rotation=rotation or InMemoryRotationRepository(),
        workload=workload or FixedWorkload(),
        reps=reps or REPS,
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
    reps = REPS.with_reps(crm_rep("bob", out_of_office=ALWAYS))
    cfg = config(fallback={"rep": "bob", "queue": "unassigned"})
    assignment = route(Lead(), cfg, reps=reps)
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
    reps = REPS.with_reps(
        crm_rep("alice", out_of_office=((date(2026, 11, 20), date(2026, 11, 30)),)),
        crm_rep("bob", capacity=5),
        crm_rep("carol"),
    )
    pools = {"p": {"members": [{"rep": "alice", "weight": 2}, {"rep": "bob"}, {"rep": "carol"}]}}
    cfg = config(pools=pools)
    lead = Lead(country="US", employee_band="1000+")
    rot = InMemoryRotationRepository()
    # When alice is away and bob holds 5 open leads of a capacity of 5
    assignment = route(lead, cfg, workload=FixedWorkload({"bob": 5}), rotation=rot, reps=reps)
    # Then carol takes it, and the explanation names who was skipped and why
    assert assignment.owner == "carol"
    skipped = {s["rep"]: s["why"] for s in assignment.explanation()["skipped"]}
    assert skipped == {"alice": "out_of_office", "bob": "at_capacity"}
    # Bob below capacity takes turns again
    more = Counter(
        route(lead, cfg, workload=FixedWorkload({"bob": 4}), rotation=rot, reps=reps).owner for _ in range(40)
    )
    assert set(more) == {"bob", "carol"}


def test_a_pool_with_nobody_available_falls_through_to_later_rules_then_fallback():
    reps = REPS.with_reps(*(crm_rep(name, out_of_office=ALWAYS) for name in ("alice", "bob")))
    cfg = config(rules=[*config().rules, {"id": "any-us", "when": {"country": "US"}, "rep": "dan"}])
    rotation = InMemoryRotationRepository()
    assignment = route(Lead(country="US", employee_band="1000+"), cfg, rotation=rotation, reps=reps)
    assert (assignment.owner, assignment.rule_id) == ("dan", "any-us")
    assert rotation.turns == {}  # no turn consumed


def test_a_rep_rule_with_the_rep_away_is_passed_over():
    reps = REPS.with_reps(crm_rep("erin", out_of_office=ALWAYS))
    assignment = route(Lead(country="DE"), config(), reps=reps)
    assert assignment.reason == "fallback"
    assert assignment.skipped[0].rule == "de"


def test_availability_and_capacity_come_from_the_crm_rep_records_read_once():
    # Given erin's CRM record says she is away today, and the rules' reps are all CRM records
    reps = REPS.with_reps(crm_rep("erin", out_of_office=((date(2026, 11, 23), date(2026, 11, 23)),)))
    cfg = config(fallback={"rep": "dan", "queue": "unassigned"})
    # When a DE lead is routed
    assignment = route(Lead(country="DE"), cfg, reps=reps)
    # Then erin is skipped for the fallback rep, whose name and address are the record's; one batch read
    assert (assignment.owner, assignment.reason) == ("dan", "fallback")
    assert [s.as_dict() for s in assignment.skipped] == [
        {"rep": "erin", "why": "out_of_office", "rule": "de"}
    ]
    assert (assignment.owner_name, assignment.owner_email) == ("Dan", "dan@example.com")
    assert reps.reads == 1
    # And the next day she takes it
    back = route_lead(Lead(country="DE"), cfg, rotation=InMemoryRotationRepository(), workload=FixedWorkload(),
                      reps=reps, now=datetime(2026, 11, 24, 9, 0, tzinfo=UTC))  # fmt: skip
    assert back.owner == "erin"


def test_a_rep_without_a_crm_record_is_skipped_and_says_so():
    # Given routing names carol, whose CRM record is gone since the document was accepted
    reps = InMemoryReps(*(r for r in REPS.reps.values() if r.rep_id != "carol"))
    cfg = config(rules=[{"id": "r", "when": {"country": "FR"}, "rep": "carol"}])
    assignment = route(Lead(country="FR"), cfg, reps=reps)
    assert (assignment.owner_type, assignment.owner) == ("queue", "unassigned")
    assert assignment.explanation()["skipped"] == [{"rep": "carol", "why": "no_rep_record", "rule": "r"}]


def test_unknown_rep_ids_are_refused_when_validated_with_the_crms_reps():
    # Given the CRM knows alice and bob only
    text = "fallback: {rep: alice}\nrules: [{id: r, when: {country: US}, rep: zed}]\n" + (
        "pools: {p: {members: [{rep: bob}, {rep: yan}]}}"
    )
    # When the document is validated with those ids (load_routing_config, or the model as the validator does)
    with pytest.raises(ConfigDocumentError) as caught:
        load_routing_config(text, rep_ids={"alice", "bob"})
    # Then each unknown rep is named with the reason
    errors = {e.field: e.message for e in caught.value.errors}
    assert errors == {
        "rules.0.rep": "unknown rep 'zed' (no rep record of this id in the CRM)",
        "pools.p.members.1.rep": "unknown rep 'yan' (no rep record of this id in the CRM)",
    }
    with pytest.raises(ValueError, match=r"rules\.0\.rep: unknown rep 'zed'"):
        RoutingConfig.model_validate(yaml.safe_load(text), context={"rep_ids": {"alice", "bob"}})
    # And without the CRM's ids (loading the last good document) only the document itself is checked
    assert RoutingConfig.model_validate(yaml.safe_load(text)).rep_ids() == ["zed", "bob", "yan", "alice"]


def test_a_reps_section_is_refused_saying_where_reps_live():
    with pytest.raises(ConfigDocumentError) as caught:
        load_routing_config("fallback: {queue: q}\nreps: {a: {name: A, email: a@x.com}}\n")
    (error,) = caught.value.errors
    assert error.field == "reps"
    assert "reps are the CRM's records" in error.message


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

    root = Path(__file__).resolve().parents[3]
    text = (root / "config" / "routing.yaml").read_text()
    demo_reps = {r["id"] for r in yaml.safe_load((root / "demo" / "demo.yaml").read_text())["reps"]}
    cfg = load_routing_config(text, default_leads_config(), rep_ids=demo_reps)
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
            "fallback: {queue: q}\npools: {p: {members: [{rep: a, weight: 0}]}}",
            "pools.p.members.0.weight",
            "greater than or equal",
        ),
        ("fallback: {rep: ghost}", "fallback.rep", "unknown rep"),
        ("rules: []", "fallback", "Field required"),
    ],
)
def test_bad_routing_file_is_refused_naming_field_and_reason(text, field, fragment):
    with pytest.raises(ConfigDocumentError) as caught:
        load_routing_config(text, default_leads_config(), rep_ids={"a"})
    errors = {e.field: e.message for e in caught.value.errors}
    assert field in errors, errors
    assert fragment in errors[field]
