"""Leads stored before a lead's first submission was kept on the lead item (124d90d and earlier: the lead, and
its first submission as an item of its own, ``SUBMISSION#<id>``) still work: a redelivered first submission is
answered as before without a write, a new one is merged, and the history lists both (issue 14)."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from tests.handlers.test_leads_webhook import crm_items, leads_hub, post  # noqa: F401 - the fixture
from tests.helpers import http_event

# What 124d90d's POST /leads wrote (DynamoDB JSON, from a run under moto): Olga's lead (Idempotency-Key
# old-layout-1) and a quarantined one (old-layout-spam), each with its first submission as an item.
OLD_ITEMS: list[dict[str, Any]] = [
    {
        "assignment": {
            "M": {
                "at": {"S": "2026-12-02T23:57:45.113197+00:00"},
                "owner": {"S": "rep-maria"},
                "owner_email": {"S": "maria.lopez@example.com"},
                "owner_name": {"S": "Maria Lopez"},
                "owner_type": {"S": "rep"},
                "pool": {"S": "americas-enterprise"},
                "reason": {"S": "rule"},
                "rule_id": {"S": "americas-enterprise"},
                "summary": {
                    "S": "rep rep-maria: rule americas-enterprise via pool americas-enterprise [rep-maria=2, rep-sam=1, rep-ana=1] turn 0"
                },
                "turn": {"N": "0"},
                "weights": {"M": {"rep-ana": {"N": "1"}, "rep-maria": {"N": "2"}, "rep-sam": {"N": "1"}}},
                "why": {
                    "S": "rule americas-enterprise via pool americas-enterprise [rep-maria=2, rep-sam=1, rep-ana=1] turn 0"
                },
            }
        },
        "campaign": {"S": "spring"},
        "country": {"S": "US"},
        "created_at": {"S": "2026-12-02T23:57:45.113197+0000"},
        "email": {"S": "old.layout@example.com"},
        "employee_band": {"S": "1000+"},
        "employees": {"N": "2000"},
        "entity": {"S": "LEAD"},
        "first_name": {"S": "Olga"},
        "gsi1pk": {"S": "OWNER#rep-maria"},
        "gsi1sk": {"S": "OPEN#2026-12-02T23:57:45.113197+00:00#e40c88c2d8b55d93a9944cfb9077f37a"},
        "lead_id": {"S": "e40c88c2d8b55d93a9944cfb9077f37a"},
        "owner": {"S": "rep-maria"},
        "pk": {"S": "LEAD#e40c88c2d8b55d93a9944cfb9077f37a"},
        "quarantined": {"BOOL": False},
        "segments": {"M": {"employee_band": {"S": "1000+"}}},
        "sk": {"S": "LEAD"},
        "source": {"S": "web_form"},
        "status": {"S": "New"},
        "updated_at": {"S": "2026-12-02T23:57:45.113197+0000"},
        "version": {"N": "0"},
    },
    {
        "campaign": {"S": "spring"},
        "entity": {"S": "LEAD_SUBMISSION"},
        "fields": {
            "M": {
                "campaign": {"S": "spring"},
                "country": {"S": "US"},
                "email": {"S": "old.layout@example.com"},
                "employee_band": {"S": "1000+"},
                "employees": {"N": "2000"},
                "first_name": {"S": "Olga"},
            }
        },
        "lead_id": {"S": "e40c88c2d8b55d93a9944cfb9077f37a"},
        "outcome": {"S": "created"},
        "pk": {"S": "LEAD#e40c88c2d8b55d93a9944cfb9077f37a"},
        "received_at": {"S": "2026-12-02T23:57:45.113197+0000"},
        "sk": {"S": "SUBMISSION#8ff185093360dac6aa92d6aae0fe7173"},
        "source": {"S": "web_form"},
        "submission_id": {"S": "8ff185093360dac6aa92d6aae0fe7173"},
        "updated_at": {"S": "2026-12-02T23:57:45.113197+0000"},
    },
    {
        "country": {"S": "US"},
        "created_at": {"S": "2026-12-02T23:57:46.086348+0000"},
        "email": {"S": "old.spam@mailinator.com"},
        "entity": {"S": "LEAD"},
        "first_name": {"S": "Bot"},
        "gsi1pk": {"S": "LEADS#QUARANTINE"},
        "gsi1sk": {"S": "2026-12-02T23:57:46.086348+00:00#d65f4d17c5d8536b9d416211a298f2cd"},
        "lead_id": {"S": "d65f4d17c5d8536b9d416211a298f2cd"},
        "pk": {"S": "LEAD#d65f4d17c5d8536b9d416211a298f2cd"},
        "quarantine_reason": {"S": "blocked_domain"},
        "quarantined": {"BOOL": True},
        "sk": {"S": "LEAD"},
        "source": {"S": "web_form"},
        "status": {"S": "Quarantined"},
        "updated_at": {"S": "2026-12-02T23:57:46.086348+0000"},
        "version": {"N": "0"},
    },
    {
        "entity": {"S": "LEAD_SUBMISSION"},
        "fields": {
            "M": {
                "country": {"S": "US"},
                "email": {"S": "old.spam@mailinator.com"},
                "first_name": {"S": "Bot"},
            }
        },
        "lead_id": {"S": "d65f4d17c5d8536b9d416211a298f2cd"},
        "outcome": {"S": "quarantined"},
        "pk": {"S": "LEAD#d65f4d17c5d8536b9d416211a298f2cd"},
        "quarantine_reasons": {"L": [{"S": "blocked_domain"}]},
        "received_at": {"S": "2026-12-02T23:57:46.086348+0000"},
        "sk": {"S": "SUBMISSION#30cbc63dbd5aef42dfb3238d975ed2c5"},
        "source": {"S": "web_form"},
        "submission_id": {"S": "30cbc63dbd5aef42dfb3238d975ed2c5"},
        "updated_at": {"S": "2026-12-02T23:57:46.086348+0000"},
    },
]
OLGA, SPAM = "e40c88c2d8b55d93a9944cfb9077f37a", "d65f4d17c5d8536b9d416211a298f2cd"
OLGA_POST = {"email": "old.layout@example.com", "first_name": "Olga", "country": "US", "employees": 2000,
             "campaign": "spring"}  # fmt: skip
SPAM_POST = {"email": "old.spam@mailinator.com", "first_name": "Bot", "country": "US"}


def _stored_the_old_way(hub: Any) -> None:
    client = boto3.client("dynamodb")
    for item in OLD_ITEMS:
        client.put_item(TableName=hub.table_name("CrmTable"), Item=item)


def _partition(hub: Any, lead_id: str) -> list[dict[str, Any]]:
    return sorted((i for i in crm_items(hub) if i["pk"] == f"LEAD#{lead_id}"), key=lambda i: i["sk"])


def test_a_lead_stored_with_its_first_submission_as_an_item_still_works(
    leads_hub: Any,  # noqa: F811
    lambda_context: Any,
) -> None:
    from leads_webhook.storage import DynamoLeadRepository
    from reports_api.app import handler as reports

    # Given two leads stored the old way (the lead item has no first_submission; its submission is an item)
    _stored_the_old_way(leads_hub)
    before = {lead_id: _partition(leads_hub, lead_id) for lead_id in (OLGA, SPAM)}
    assert all("first_submission" not in i for items in before.values() for i in items)

    # When their first requests are delivered again (the same Idempotency-Key)
    again = post(lambda_context, OLGA_POST, headers={"Idempotency-Key": "old-layout-1"})
    spam = post(lambda_context, SPAM_POST, headers={"Idempotency-Key": "old-layout-spam"})

    # Then each is answered as the first time, and nothing is written: no second submission, no new version
    assert again[:2] == (202, {"lead_id": OLGA, "status": "received"})
    assert spam[:2] == (202, {"lead_id": SPAM, "status": "received"})
    assert {lead_id: _partition(leads_hub, lead_id) for lead_id in (OLGA, SPAM)} == before

    # When Olga posts something new
    merged = post(
        lambda_context, {**OLGA_POST, "phone": "+1 415 555 0100"}, headers={"Idempotency-Key": "new-1"}
    )

    # Then it is merged into her lead, and her history is the old first submission, then the new one
    assert merged[:2] == (202, {"lead_id": OLGA, "status": "received"})
    history = DynamoLeadRepository().history(OLGA)
    assert [(s.submission_id, s.outcome) for s in history] == [
        ("8ff185093360dac6aa92d6aae0fe7173", "created"), (history[1].submission_id, "merged")
    ]  # fmt: skip
    answer = reports(http_event("GET", f"/leads/{OLGA}", authorized=True), lambda_context)
    assert answer["statusCode"] == 200
    view = json.loads(answer["body"])
    assert [s["outcome"] for s in view["submissions"]] == ["created", "merged"]
    assert view["phone"] == "+14155550100"


def test_the_store_tells_a_redelivered_first_submission_of_an_old_layout_lead(
    leads_hub: Any,  # noqa: F811
) -> None:
    from shared.store import crm

    # Given Olga's lead stored the old way
    _stored_the_old_way(leads_hub)
    store = crm.DynamoCrmStore()
    lead = store.get_lead(OLGA)
    assert lead is not None and lead.first_submission is None
    first = store.get_lead_submission(OLGA, "8ff185093360dac6aa92d6aae0fe7173")
    assert first is not None and first.outcome == "created"

    # When a list (or a retried request) creates it again with that first submission, beside a new lead; and
    # again with another submission
    new = crm.Lead(lead_id="new-1", email="new.one@example.com", created_at=first.received_at)
    again = store.create_leads([(lead, first), (new, first.model_copy(update={"lead_id": "new-1"}))])
    other = store.create_leads([(lead, first.model_copy(update={"submission_id": "other"}))])

    # Then the first is told apart as a repeat delivery (the new lead is written all the same), the other as a
    # lead someone else created; the old first submission cannot be added again either
    assert [type(r) for r in again] == [crm.SubmissionExists, type(None)]
    assert store.get_lead("new-1") is not None
    assert [type(r) for r in other] == [crm.LeadExists]
    with pytest.raises(crm.SubmissionExists):
        store.add_lead_submission(first, lead=lead)
    assert [s.submission_id for s in store.lead_submissions(OLGA)] == [first.submission_id]
