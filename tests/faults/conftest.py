"""The fault suite's harness: faults injected at the edge of AWS (moto's request stub), never in our code.

``faults`` wraps moto's ``BotocoreStubber.process_request`` (moto's, as the leads handler tests already
do for atomicity) and, per request, can:
- throttle DynamoDB writes: after every ``every``-th write that went through, a burst of answers
  ``ProvisionedThroughputExceededException``, the bursts' lengths cycling through ``bursts`` (1 and 2:
  the SDK's retries absorb them; 6: longer than its retries, so our code meets ``Throttled``), until
  ``throttle_times`` bursts were injected (throttling lasts a while, then capacity is back);
- kill the invocation: raise ``LambdaKilled`` (a ``BaseException``, as a time-out ends a function
  wherever it is) at the ``n``-th DynamoDB write, before it is applied;
- fail a service for a while (SES's ``SendEmail``: ``Throttling`` for the next ``n`` calls);
- refuse as sent every DynamoDB write whose request names ``refuse_key`` (``ValidationException``, as
  DynamoDB answers an item over 400 KB): a poison item, refused however often it is retried.
Requests are applied one at a time, as DynamoDB applies each atomically.

The suite (issue 15): 21 cases, 16 scenarios with the kill points parametrised (`pytest tests/faults -q`), each compared with the same
input without the fault. Two found a defect before the fix, each fixed with its case as the test:
- an S3 event for an object a newer upload had replaced (events out of order) failed every delivery
  with PreconditionFailed and left a run record "running" for ever (pos_ingest now opens the object
  before it creates the run, and an event for a replaced object leaves nothing behind);
- throttled DynamoDB writes made the alerts function send an alert twice: the mark after the send
  was lost, the record failed, and its retry sent again (the mark is now retried while the table is busy).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

# Fixtures of the handler tests the faults reuse: the POS hub, the MailChimp fake and handler, the
# alerts function with the CRM stream and the events writer.
from tests.handlers.test_alerts_handler import alerts, crm_stream, post_events  # noqa: F401
from tests.handlers.test_mailchimp_handler import fake, handler, mailchimp_env, table  # noqa: F401
from tests.handlers.test_pos_handler import hub  # noqa: F401

WRITES = ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems")


class LambdaKilled(BaseException):
    """The invocation was ended mid-way (a time-out): nothing after this point ran."""


def _text(body: Any) -> str:
    return body.decode(errors="replace") if isinstance(body, bytes) else str(body or "")


@dataclass
class Faults:
    throttle_every: int = 0
    throttle_burst: int = 0  # the longest burst; bursts cycle through 1, 2, throttle_burst
    throttle_times: int = 6
    kill_at_write: int = 0
    ses_failures: int = 0
    refuse_key: str = ""
    refused: int = 0
    writes: int = 0
    throttled: int = 0
    killed: int = 0
    ses_failed: int = 0
    _burst_left: int = 0
    _passed: int = 0
    _bursts: int = 0
    lock: threading.RLock = field(default_factory=threading.RLock)

    def clear(self) -> None:
        self.throttle_every = self.throttle_burst = self.kill_at_write = self.ses_failures = 0
        self._burst_left = self._passed = self._bursts = 0
        self.refuse_key = ""

    def intercept(self, request: Any) -> tuple[int, dict[str, str], str] | None:
        target = request.headers.get("X-Amz-Target") or b""
        target = target.decode() if isinstance(target, bytes) else str(target)
        operation = target.rpartition(".")[2]
        if target.startswith("DynamoDB") and operation in WRITES:
            self.writes += 1
            if self.refuse_key and self.refuse_key in _text(request.body):
                self.refused += 1
                body = {"__type": "com.amazon.coral.validate#ValidationException",
                        "message": "injected: Item size has exceeded the maximum allowed size"}  # fmt: skip
                return 400, {"Content-Type": "application/x-amz-json-1.0"}, json.dumps(body)
            if self.kill_at_write and self.writes >= self.kill_at_write:
                self.kill_at_write = 0
                self.killed += 1
                raise LambdaKilled(f"killed at DynamoDB write {self.writes} ({operation})")
            if not self._burst_left and self.throttle_every and self._bursts < self.throttle_times:
                self._passed += 1
                if self._passed % self.throttle_every == 0:
                    self._burst_left = (1, 2, self.throttle_burst)[self._bursts % 3]
                    self._bursts += 1
            if self._burst_left:
                self._burst_left -= 1
                self.throttled += 1
                body = {"__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
                        "message": "injected: throughput exceeded"}  # fmt: skip
                return 400, {"Content-Type": "application/x-amz-json-1.0"}, json.dumps(body)
        body_text = _text(request.body)
        if self.ses_failures and "email." in str(request.url) and "Action=SendEmail" in body_text:
            self.ses_failures -= 1
            self.ses_failed += 1
            error = ("<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code>"
                     "<Message>injected: maximum sending rate exceeded</Message></Error></ErrorResponse>")  # fmt: skip
            return 400, {"Content-Type": "text/xml"}, error
        return None


class _RetryWaitsShort:
    """``time`` as botocore's endpoint sees it in the fault suite (it uses nothing but ``sleep``).

    The SDK's standard retries wait a delay drawn uniformly from [0, 2^i) seconds after a throttled
    request (i: the attempt): a burst longer than the retries waits about 7 s before our code meets
    ``Throttled``, and the throttling cases spent most of their time asleep. Here it waits a twentieth of
    its draw, itself a draw from that range: the SDK's retries, their count and their outcome are its
    own; only the wait is shorter."""

    @staticmethod
    def sleep(seconds: float) -> None:
        time.sleep(seconds / 20)


@pytest.fixture
def faults(monkeypatch: pytest.MonkeyPatch) -> Iterator[Faults]:
    import botocore.endpoint
    from moto.core.botocore_stubber import BotocoreStubber

    monkeypatch.setattr(botocore.endpoint, "time", _RetryWaitsShort)

    injected = Faults()
    original = BotocoreStubber.process_request

    def process_request(self: Any, request: Any) -> Any:
        with injected.lock:
            answer = injected.intercept(request)
            if answer is not None:
                return answer
            return original(self, request)

    monkeypatch.setattr(BotocoreStubber, "process_request", process_request)
    yield injected
    injected.clear()


def until_done(call: Any, *, done: Any, attempts: int = 40) -> list[Any]:
    """Deliver again until ``done(answer)``, as Lambda's retries or a sender's would; the answers."""
    answers = []
    for _ in range(attempts):
        try:
            answer = call()
        except LambdaKilled:
            answers.append("killed")
            continue
        except Exception as exc:  # a failed invocation: the trigger delivers it again
            answers.append(exc)
            continue
        answers.append(answer)
        if done(answer):
            return answers
    raise AssertionError(f"not done after {attempts} deliveries: {answers[-3:]}")
