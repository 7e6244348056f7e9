"""The leads storage on DynamoDB (moto, tables from the template): conditional writes hold."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


@pytest.fixture
def atomic_moto(monkeypatch):
    """DynamoDB applies each request atomically; in-process moto does not, so serialise its requests."""
    from moto.core.botocore_stubber import BotocoreStubber

    lock = threading.RLock()
    original = BotocoreStubber.process_request

    def process_request(self, request):
        with lock:
            return original(self, request)

    monkeypatch.setattr(BotocoreStubber, "process_request", process_request)


@pytest.fixture
def storage(aws, atomic_moto):
    from leads_webhook.storage import DynamoLeadRepository

    from shared.store.state import DynamoStateStore

    return DynamoLeadRepository(), DynamoStateStore(), DynamoStateStore()


def normalised(**fields):
    from leads_webhook.submission import normalise_lead, parse_lead_fields

    from shared.config_schemas.leads import default_leads_config

    return normalise_lead(
        parse_lead_fields({"email": "ann@example.com", **fields}).submission, default_leads_config()
    )


def test_create_get_update_and_history(storage):
    from leads_webhook.intake import WriteResult
    from leads_webhook.records import merge_lead, new_lead, submission_record

    leads, _, _ = storage
    # Given a new lead with its first submission
    lead = new_lead(
        normalised(annual_revenue="1500000.50", employees=12), source="web_form", at=NOW, quarantine=()
    )
    first = submission_record(normalised(), lead_id=lead.lead_id, source="web_form", at=NOW, outcome="created",
                              quarantine=(), submission_id="s1")  # fmt: skip
    assert leads.create(lead, first) is WriteResult.DONE
    # Then a second create of the same lead, or the same submission, is refused
    assert leads.create(lead, first.model_copy(update={"submission_id": "s2"})) is WriteResult.LEAD_EXISTS
    assert leads.create(lead, first) is WriteResult.SUBMISSION_EXISTS
    stored = leads.get(lead.lead_id)
    assert stored == lead
    # When it is merged with the right version, then with a stale one
    merged = merge_lead(stored, normalised(company="Acme"), at=NOW + timedelta(hours=1))
    second = first.model_copy(update={"submission_id": "s2", "outcome": "merged"})
    assert leads.update(merged, expected_version=0, submission=second) is WriteResult.DONE
    assert leads.update(merged, expected_version=0) is WriteResult.VERSION_CONFLICT
    assert leads.update(merged, expected_version=1, submission=second) is WriteResult.SUBMISSION_EXISTS
    # Then the lead and its history read back as written
    assert leads.get(lead.lead_id).company == "Acme"
    assert [s.submission_id for s in leads.history(lead.lead_id)] == ["s1", "s2"]
    assert leads.get("missing") is None


def test_update_leaves_other_functions_attributes_alone(storage):
    from leads_webhook.intake import WriteResult
    from leads_webhook.records import new_lead, submission_record

    from shared.store.crm import LeadItem, lead_key

    leads, _, _ = storage
    lead = new_lead(normalised(), source="web_form", at=NOW, quarantine=())
    sub = submission_record(normalised(), lead_id=lead.lead_id, source="web_form", at=NOW, outcome="created",
                            quarantine=(), submission_id="s1")  # fmt: skip
    leads.create(lead, sub)
    item = LeadItem.get(*lead_key(lead.lead_id))
    item.update(actions=[LeadItem.mailchimp.set({"state": "synced"})])
    routed = lead.model_copy(
        update={"owner": "alice", "assignment": {"reason": "rule", "turn": 3}, "version": 1}
    )
    assert leads.update(routed, expected_version=0) is WriteResult.DONE
    item = LeadItem.get(*lead_key(lead.lead_id))
    assert item.mailchimp.as_dict() == {"state": "synced"}
    assert (item.owner, item.gsi1pk) == ("alice", "OWNER#alice")
    assert leads.get(lead.lead_id).assignment == {"reason": "rule", "turn": 3}
    assert leads.open_leads("alice") == 1
    assert leads.open_leads("bob") == 0
    closed = routed.model_copy(update={"status": "Closed", "version": 2})
    assert leads.update(closed, expected_version=1, previous=routed) is WriteResult.DONE
    assert leads.open_leads("alice") == 0


def test_quarantine_is_listed(storage):
    from leads_webhook.records import new_lead, submission_record

    leads, _, _ = storage
    spam = new_lead(normalised(), source="web_form", at=NOW, quarantine=("honeypot",))
    leads.create(spam, submission_record(normalised(), lead_id=spam.lead_id, source="web_form", at=NOW,
                                         outcome="quarantined", quarantine=("honeypot",), submission_id="q"))  # fmt: skip
    listed = leads.quarantined()
    assert [(x.lead_id, x.quarantine_reasons) for x in listed] == [(spam.lead_id, ("honeypot",))]


def test_rotation_counter_is_a_compare_and_set(storage):
    _, rotation, _ = storage
    assert rotation.current_turn("p") == 0
    assert rotation.advance("p", 0, 1)
    assert not rotation.advance("p", 0, 1)
    assert rotation.advance("p", 1, 3)
    assert rotation.current_turn("p") == 3


def test_rate_limit_window_counts_across_callers(storage):
    from shared.store.state import StateItem, rate_windows_pk

    _, _, limiter = storage
    allowed = [limiter.allow("ip#1", limit=3, window_seconds=60, now=NOW) for _ in range(4)]
    assert allowed == [True, True, True, False]
    assert limiter.allow("ip#1", limit=3, window_seconds=60, now=NOW + timedelta(seconds=60))
    item = next(iter(StateItem.query(rate_windows_pk("ip#1"))))
    assert item.expires_at > NOW


def test_concurrent_rotation_on_dynamodb_hands_out_each_turn_once(storage):
    from leads_webhook.routing import FixedWorkload, route_lead

    from shared.config_schemas.routing import RoutingConfig
    from tests.unit.leads.leads_fakes import InMemoryReps, crm_rep

    _, rotation, _ = storage
    reps = InMemoryReps(crm_rep("a"), crm_rep("b"))
    config = RoutingConfig.model_validate(
        {"pools": {"p": {"members": [{"rep": "a", "weight": 2}, {"rep": "b"}]}},
         "rules": [{"id": "all", "when": {"country": "US"}, "pool": "p"}], "fallback": {"queue": "q"}}
    )  # fmt: skip

    class Lead:
        country, state, postal_code, product_interest = "US", None, None, None
        employee_band = revenue_band = industry = campaign = None

    turns: list[int] = []

    def work():
        for _ in range(10):
            turns.append(
                route_lead(
                    Lead(), config, rotation=rotation, workload=FixedWorkload(), reps=reps, now=NOW
                ).turn
            )

    threads = [threading.Thread(target=work) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(turns) == list(range(50))
