"""The thin path through the handlers: a lead stored, its stream record alerting its owner."""

from __future__ import annotations

import json

import boto3

from tests.helpers import http_event, lead_keys, stream_event


def _emails() -> list[dict]:
    from moto.backends import get_backend

    return list(get_backend("ses")["123456789012"]["us-east-1"].sent_messages)


def test_alert_for_an_assigned_lead_is_sent_once_and_escaped(aws, demo_data, lambda_context):
    # Given a lead assigned to a demo rep, with markup and a line break in its fields
    from alerts.app import handler

    lead = {
        **lead_keys("L1"), "entity": "LEAD", "lead_id": "L1", "email": "eve@example.com",
        "first_name": "<script>alert(1)</script>", "company": "Evil\r\nBcc: victim@example.com",
        "owner": "rep-sam", "quarantined": False,
    }  # fmt: skip
    event = stream_event([("INSERT", lead, None)])

    # When the stream delivers it twice (at-least-once)
    first = handler(event, lambda_context)
    second = handler(event, lambda_context)

    # Then one email went to the rep, with the fields escaped and the subject on one line
    assert first == {"batchItemFailures": []} and second == {"batchItemFailures": []}
    sent = _emails()
    assert len(sent) == 1
    message = sent[0]
    assert message.destinations["ToAddresses"] == ["sam.carter@example.com"]
    assert "\n" not in message.subject and "\r" not in message.subject
    assert "<script>" not in message.body and "&lt;script&gt;" in message.body


def test_a_poison_record_fails_alone(aws, demo_data, lambda_context):
    # Given a batch where the middle lead's image is malformed (its assignment is not a map).
    # (A rep the CRM does not know is no longer poison: that alert goes to the fallback address,
    # see the next test.)
    from alerts.app import handler

    def lead(n: int, owner: str, **extra: object) -> dict:
        return {
            **lead_keys(f"L{n}"),
            "entity": "LEAD",
            "lead_id": f"L{n}",
            "email": f"p{n}@example.com",
            "owner": owner,
            **extra,
        }

    event = stream_event(
        [
            ("INSERT", lead(1, "rep-sam"), None),
            ("INSERT", lead(2, "rep-jonas", assignment="not a map"), None),
            ("INSERT", lead(3, "rep-ana"), None),
        ]
    )

    # When the batch is handled
    result = handler(event, lambda_context)

    # Then only the poison record is reported failed, and the others' emails went out
    assert result == {
        "batchItemFailures": [{"itemIdentifier": event["Records"][1]["dynamodb"]["SequenceNumber"]}]
    }
    assert sorted(m.destinations["ToAddresses"][0] for m in _emails()) == [
        "ana.souza@example.com",
        "sam.carter@example.com",
    ]


def test_a_rep_the_crm_does_not_know_falls_back_and_fails_nothing(aws, demo_data, lambda_context):
    # Given a lead whose owner is no rep of the CRM, and no address came with the assignment
    from alerts.app import handler

    lead = {**lead_keys("L2"), "entity": "LEAD", "lead_id": "L2", "email": "p2@example.com",
            "owner": "rep-nobody"}  # fmt: skip

    # When the stream delivers it
    result = handler(stream_event([("INSERT", lead, None)]), lambda_context)

    # Then nothing failed: the fallback address was told, and why
    assert result == {"batchItemFailures": []}
    (message,) = _emails()
    assert message.destinations["ToAddresses"] == ["sales-ops@example.com"]
    assert "rep-nobody" in message.body and "is not a known rep" in message.body


def test_unchanged_owner_and_quarantined_leads_alert_nobody(aws, demo_data, lambda_context):
    from alerts.app import handler

    old = {
        **lead_keys("L9"),
        "entity": "LEAD",
        "lead_id": "L9",
        "email": "a@example.com",
        "owner": "rep-sam",
    }
    new = {**old, "phone": "+15551234567"}
    quarantined = {**old, **lead_keys("L10"), "lead_id": "L10", "quarantined": True}
    handler(stream_event([("MODIFY", new, old), ("INSERT", quarantined, None)]), lambda_context)
    assert _emails() == []


def test_post_lead_stores_it_with_an_owner(aws, demo_data, lambda_context):
    # Given the CRM's reps and a minimal lead form post
    from leads_webhook.app import handler

    event = http_event("POST", "/leads", json.dumps({"email": "Jane.Doe@Example.com", "first_name": "Jane"}))

    # When the handler answers
    answer = handler(event, lambda_context)

    # Then it is accepted and stored with an owner
    assert answer["statusCode"] == 202
    lead_id = json.loads(answer["body"])["lead_id"]
    item = (
        boto3.resource("dynamodb").Table(aws.table_name("CrmTable")).get_item(Key=lead_keys(lead_id))["Item"]
    )
    assert item["email"] == "jane.doe@example.com"
    assert item["owner"]


def test_a_routing_rep_unknown_to_the_crm_is_told_at_the_assignment_address(aws, lambda_context):
    # Given a lead routed to a rep of routing.yaml that has no CRM record, with the reason stored
    from alerts.app import handler

    lead = {
        **lead_keys("L7"), "entity": "LEAD", "lead_id": "L7", "email": "buyer@example.com",
        "owner": "rep-new", "assignment": {"owner_email": "new.rep@example.com", "summary": "rule emea-auto matched industry automotive"},
    }  # fmt: skip

    # When the stream delivers it
    result = handler(stream_event([("INSERT", lead, None)]), lambda_context)

    # Then the alert went to the address the assignment carries, saying why
    assert result == {"batchItemFailures": []}
    (message,) = _emails()
    assert message.destinations["ToAddresses"] == ["new.rep@example.com"]
    assert "rule emea-auto matched industry automotive" in message.body
