"""A change MailChimp keeps refusing with 5xx goes round the stream's retries to the dead-letter queue,
through the template's own event source mapping, the local hub's stream pump and the real handler."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from hub.fake_mailchimp import FakeMailchimp
from hub.local.runtime import LocalContext
from hub.local.streams import MappingPump
from tests.helpers import lead_keys


@pytest.fixture
def fake() -> Iterator[FakeMailchimp]:
    with FakeMailchimp() as server:
        yield server


@pytest.fixture
def handler(aws: Any, fake: FakeMailchimp, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from mailchimp_sync import app

    from shared.settings import get_settings

    monkeypatch.setenv("MAILCHIMP_URL", fake.url)
    monkeypatch.setenv("MAILCHIMP_API_KEY", "fake-key")
    monkeypatch.setenv("MAILCHIMP_LIST_ID", fake.list_id)
    caches = (get_settings, app.mailchimp_setup, app.gateway_for, app.repository)
    for cache in caches:
        cache.cache_clear()
    monkeypatch.setattr(
        app.gateway_for(app.mailchimp_setup()), "_sleep", lambda _: None
    )  # no real backoff waits
    yield app.handler
    for cache in caches:
        cache.cache_clear()


class HandlerRuntime:
    def __init__(self, handler: Any) -> None:
        self.handler = handler
        self.invocations = 0

    def invoke(self, logical_id: str, event: dict[str, Any]) -> Any:
        self.invocations += 1
        return self.handler(event, LocalContext(logical_id, timeout_seconds=120))


def test_a_change_mailchimp_keeps_failing_is_retried_then_dead_lettered(aws, fake, handler):
    # Given the template's mapping for mailchimp_sync, and MailChimp failing one person for good
    mapping = next(m for m in aws.stream_mappings() if m.function == "MailchimpSyncFunction")
    runtime = HandlerRuntime(handler)
    pump = MappingPump(
        mapping, aws.physical["CrmTable"]["StreamArn"], boto3.client("dynamodbstreams"), boto3.client("sqs"),
        aws.physical["StreamDeadLetterQueue"]["Ref"], runtime, "us-east-1", retry_delay=0,
    )  # fmt: skip
    pump.start_position()
    from mailchimp_sync.segments import subscriber_hash

    fake.inject(f"/members/{subscriber_hash('down@example.com')}", status=503, times=-1)
    table = boto3.resource("dynamodb").Table(aws.table_name("CrmTable"))
    for email in ("ok@example.com", "down@example.com"):
        table.put_item(
            Item={**lead_keys(email), "entity": "LEAD", "lead_id": email, "email": email,
                  "marketing_opt_in": True, "quarantined": False}
        )  # fmt: skip

    # When the stream delivers the changes
    pump.poll()

    # Then the good one is a member, the failing one was retried as the template says and then
    # dead-lettered, and its lead says failed with MailChimp's answer
    assert fake.member("ok@example.com")["status"] == "subscribed"
    assert runtime.invocations == mapping.max_retries + 1
    messages = (
        boto3.client("sqs")
        .receive_message(QueueUrl=aws.physical["StreamDeadLetterQueue"]["Ref"], MaxNumberOfMessages=10)
        .get("Messages", [])
    )
    assert len(messages) == 1
    dead = json.loads(messages[0]["Body"])
    assert dead["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert dead["DDBStreamBatchInfo"]["batchSize"] == 1
    state = table.get_item(Key=lead_keys("down@example.com"))["Item"]["mailchimp"]
    assert state["state"] == "failed"
    assert "503" in state["last_error"]
