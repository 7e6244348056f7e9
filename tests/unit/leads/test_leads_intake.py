"""The intake logic with in-memory storage: answers, dedupe and merge, quarantine, idempotency, signing."""

import json
import threading
from datetime import timedelta

import pytest
from leads_webhook.intake import LeadPost, accept_submission, receive_lead_post, release_from_quarantine
from leads_webhook.records import CONTACT_FIELDS, FILL_FIELDS, StoredLead, lead_id_for
from leads_webhook.submission import parse_lead_fields

from shared.leads import LeadFields
from shared.signing import sign
from shared.store import crm
from tests.unit.leads.leads_fakes import services

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"


def post(svc, body, *, content_type=JSON, ip="203.0.113.9", headers=None):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return receive_lead_post(LeadPost(raw, content_type, ip, headers or {}), svc)


def test_new_lead_is_stored_routed_and_answered_202():
    # Given
    svc = services()
    # When a German lead posts the form
    answer = post(svc, {"email": "Ann@Example.com", "country": "Germany", "first_name": "Ann"})
    # Then 202 with the id, and the lead belongs to erin by rule "de", with the reason stored
    assert answer.status == 202
    assert answer.body == {"lead_id": lead_id_for("ann@example.com"), "status": "received"}
    lead = svc.leads.get(answer.body["lead_id"])
    assert lead.email == "ann@example.com"
    assert lead.owner == "erin"
    assert lead.assignment["rule_id"] == "de"
    assert lead.assignment["summary"] == "rep erin: rule de"
    assert lead.assignment["owner_email"] == "erin@example.com"
    assert [s.outcome for s in svc.leads.history(lead.lead_id)] == ["created"]


def test_unrouted_lead_goes_to_the_fallback_queue():
    svc = services()
    lead = svc.leads.get(post(svc, {"email": "x@example.com", "country": "FR"}).body["lead_id"])
    assert (lead.owner, lead.queue, lead.assignment["reason"]) == (None, "unassigned", "fallback")
    assert not lead.needs_routing


def test_repeat_of_the_same_email_merges_and_keeps_history():
    # Given a lead from a first submission
    svc = services()
    first = post(
        svc, {"email": "ann@example.com", "phone": "+49 30 1234567", "industry": "Food", "campaign": "a"}
    )
    svc.clock.now += timedelta(days=2)
    # When the same person (other case) posts again with new details
    second = post(
        svc,
        {
            "email": "ANN@example.com",
            "phone": "+49 30 7654321",
            "company": "Acme",
            "industry": "Robotics",
            "campaign": "b",
        },
    )
    # Then the same lead: newer contact details win, empty fields are filled, the first industry stays
    assert second.body["lead_id"] == first.body["lead_id"]
    lead = svc.leads.get(first.body["lead_id"])
    assert (lead.phone, lead.company, lead.industry, lead.campaign) == ("+49307654321", "Acme", "Food", "a")
    history = svc.leads.history(lead.lead_id)
    assert [(s.outcome, s.campaign, s.source) for s in history] == [
        ("created", "a", "web_form"),
        ("merged", "b", "web_form"),
    ]
    assert len(svc.leads.leads) == 1


def test_the_merge_rules_name_each_lead_field_once_and_the_store_keeps_them_all():
    # Given the person's fields of a lead (one list: ``shared.leads.LeadFields``)
    fields = list(LeadFields.model_fields)
    # When the merge rules group them (contact details, fill-only, and the identity and consent)
    groups = [*CONTACT_FIELDS, *FILL_FIELDS, "email", "marketing_opt_in"]
    # Then each field is in one group, and both the intake's and the store's lead carry every one
    assert sorted(groups) == sorted(fields)
    assert set(fields) <= set(StoredLead.model_fields) & set(crm.Lead.model_fields)


def test_ten_threads_posting_one_new_email_make_one_lead():
    svc = services()
    answers = []

    def send(i):
        answers.append(
            post(svc, {"email": "race@example.com", "country": "US", "message": f"try {i}"}, ip=f"10.0.0.{i}")
        )

    threads = [threading.Thread(target=send, args=(i,)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert {a.status for a in answers} == {202}
    assert len({a.body["lead_id"] for a in answers}) == 1
    assert len(svc.leads.leads) == 1
    assert len(svc.leads.history(answers[0].body["lead_id"])) == 10
    assert 1 <= svc.rotation.turns["p"] <= 10  # a racing first submission may use a turn it then loses


def test_the_same_request_twice_has_one_effect():
    svc = services()
    body = {"email": "once@example.com", "country": "US"}
    first, second = post(svc, body), post(svc, body)
    assert first.body == second.body
    assert second.accepted.repeat_delivery
    assert len(svc.leads.history(first.body["lead_id"])) == 1
    assert svc.rotation.turns == {"p": 1}


def test_idempotency_key_header_makes_different_bodies_one_submission():
    svc = services()
    headers = {"Idempotency-Key": "abc"}
    post(svc, {"email": "k@example.com", "first_name": "A"}, headers=headers)
    post(svc, {"email": "k@example.com", "first_name": "B"}, headers=headers)
    assert svc.leads.get(lead_id_for("k@example.com")).first_name == "A"


@pytest.mark.parametrize(
    ("fields", "reasons"),
    [
        ({"website": "http://x"}, ("honeypot",)),
        ({"form_elapsed_ms": 500}, ("too_fast",)),
        ({"email": "bot@mailinator.com"}, ("blocked_domain",)),
    ],
)
def test_spam_is_answered_like_success_and_quarantined_not_routed(fields, reasons):
    svc = services()
    answer = post(svc, {"email": "spam@example.com", "country": "US", **fields})
    assert answer.status == 202
    assert answer.accepted.outcome == "quarantined"
    lead = svc.leads.get(answer.body["lead_id"])
    assert lead.quarantined and lead.status == "Quarantined"
    assert lead.quarantine_reasons == reasons
    assert lead.owner is None
    assert svc.rotation.turns == {}


def test_release_routes_a_quarantined_lead():
    svc = services()
    lead_id = post(svc, {"email": "q@example.com", "country": "DE", "website": "x"}).body["lead_id"]
    assert [x.lead_id for x in svc.leads.quarantined()] == [lead_id]
    assignment = release_from_quarantine(lead_id, svc)
    assert assignment.owner == "erin"
    lead = svc.leads.get(lead_id)
    assert not lead.quarantined and lead.owner == "erin" and lead.status == "New"
    assert svc.leads.quarantined() == []
    with pytest.raises(ValueError, match="not in quarantine"):
        release_from_quarantine(lead_id, svc)
    with pytest.raises(LookupError):
        release_from_quarantine("nope", svc)


def test_spam_repeat_of_a_routed_lead_is_kept_in_history_without_changing_it():
    svc = services()
    lead_id = post(svc, {"email": "r@example.com", "country": "DE", "first_name": "Ann"}).body["lead_id"]
    answer = post(svc, {"email": "r@example.com", "first_name": "Bot", "website": "spam"})
    assert answer.body["lead_id"] == lead_id
    lead = svc.leads.get(lead_id)
    assert (lead.first_name, lead.quarantined, lead.owner) == ("Ann", False, "erin")
    assert [s.outcome for s in svc.leads.history(lead_id)] == ["created", "quarantined"]


def test_a_clean_repeat_takes_a_quarantined_lead_out_and_routes_it():
    svc = services()
    lead_id = post(svc, {"email": "c@example.com", "country": "DE", "form_elapsed_ms": 100}).body["lead_id"]
    post(svc, {"email": "c@example.com", "country": "DE", "form_elapsed_ms": 9000})
    lead = svc.leads.get(lead_id)
    assert not lead.quarantined and lead.owner == "erin"


def test_422_names_every_bad_field_and_stores_nothing():
    svc = services()
    answer = post(svc, {"email": "nope", "employees": -1})
    assert answer.status == 422
    assert {e["field"] for e in answer.body["errors"]} == {"email", "employees"}
    assert svc.leads.leads == {}


def test_form_posts_are_accepted():
    svc = services()
    answer = post(svc, b"email=f%40example.com&country=US&marketing_opt_in=on", content_type=FORM)
    assert answer.status == 202
    assert svc.leads.get(answer.body["lead_id"]).marketing_opt_in is True


def test_413_over_64_kib():
    answer = post(services(), b'{"email": "a@b.co", "message": "' + b"x" * 70_000 + b'"}')
    assert answer.status == 413


def test_415_for_other_media_types():
    answer = post(services(), b"email=a@b.co", content_type="text/plain")
    assert answer.status == 415
    assert answer.body["errors"][0]["field"] == "content-type"


def test_429_past_the_limit_per_client_with_retry_after():
    svc = services()
    limit = svc.leads_config().rate_limit.max_requests
    answers = [post(svc, {"email": f"n{i}@example.com"}, ip="198.51.100.7") for i in range(limit + 1)]
    assert [a.status for a in answers[:limit]] == [202] * limit
    assert answers[-1].status == 429
    assert 1 <= int(answers[-1].headers["Retry-After"]) <= svc.leads_config().rate_limit.window_seconds
    # another client is not limited
    assert post(svc, {"email": "other@example.com"}, ip="198.51.100.8").status == 202


def test_signed_request_is_recorded_with_its_source_and_skips_the_browser_limit():
    svc = services()
    body = json.dumps({"email": "lp@example.com", "country": "DE"}).encode()
    now = int(svc.clock().timestamp())
    headers = {"x-hub-signature": sign(body, "s3cret-old", t=now), "x-hub-source": "landing-co"}
    answer = post(svc, body, headers=headers)
    assert answer.status == 202
    assert svc.leads.get(answer.body["lead_id"]).source == "signed:landing-co"
    assert svc.rate_limiter.counts == {}


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Hub-Signature": "t=1,v1=" + "0" * 64},  # no source
        {"X-Hub-Source": "landing-co"},  # no signature
        {"X-Hub-Source": "landing-co", "X-Hub-Signature": "garbage"},
        {"X-Hub-Source": "unknown-co", "X-Hub-Signature": "t=1,v1=" + "0" * 64},
    ],
)
def test_bad_signatures_are_401(headers):
    assert post(services(), {"email": "a@b.co"}, headers=headers).status == 401


def test_wrong_or_stale_signature_is_401():
    svc = services()
    body = b'{"email": "a@b.co"}'
    now = int(svc.clock().timestamp())
    wrong = {"X-Hub-Source": "landing-co", "X-Hub-Signature": sign(body, "other", t=now)}
    stale = {"X-Hub-Source": "landing-co", "X-Hub-Signature": sign(body, "s3cret-new", t=now - 301)}
    assert post(svc, body, headers=wrong).status == 401
    assert post(svc, body, headers=stale).status == 401
    assert svc.leads.leads == {}


def test_accept_submission_for_imports_uses_the_given_source():
    svc = services()
    sub = parse_lead_fields({"email": "imp@example.com", "country": "US", "campaign": "expo"}).submission
    accepted = accept_submission(sub, svc, source="import:imports/leads/expo.csv", submission_id="expo#2")
    again = accept_submission(sub, svc, source="import:imports/leads/expo.csv", submission_id="expo#2")
    assert accepted.outcome == "created" and again.repeat_delivery
    assert svc.leads.get(accepted.lead_id).source == "import:imports/leads/expo.csv"
