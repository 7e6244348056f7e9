"""S3 notifications and SQS event source mappings, delivered like Lambda delivers them.

S3: the bucket notifies one internal queue of every object created (moto sends the event
record S3 would); the pump adds what S3 adds on a versioned bucket (``versionId``,
``sequencer``) and hands each record to every function whose template trigger matches the
key's prefix and suffix. SQS: the template's queue mappings, with partial batch responses.
"""

from __future__ import annotations

import json
import threading
import time
import traceback
from typing import Any
from urllib.parse import unquote_plus

from hub.local.runtime import FunctionRuntime
from hub.local.template import QueueMapping, S3Trigger


class S3NotificationPump:
    """S3 invokes asynchronously: a failed invocation is retried (``max_retries`` of the function's
    EventInvokeConfig, Lambda's default 2) after ``retry_delays``, then the event goes to the
    OnFailure destination queue (``dead_letters``: logical id -> queue URL) as Lambda sends it."""

    def __init__(
        self,
        s3: Any,
        sqs: Any,
        queue_url: str,
        triggers: list[S3Trigger],
        runtime: FunctionRuntime,
        *,
        dead_letters: dict[str, str] | None = None,
        retry_delays: tuple[float, ...] = (1.0, 2.0),
        sleep: Any = time.sleep,
    ) -> None:
        self.s3 = s3
        self.sqs = sqs
        self.queue_url = queue_url
        self.triggers = triggers
        self.runtime = runtime
        self.dead_letters = dead_letters or {}
        self.retry_delays = retry_delays
        self.sleep = sleep
        self._sequence = 0
        self.delivered: list[tuple[str, str]] = []
        self.dead_lettered: list[tuple[str, str]] = []

    def poll(self) -> int:
        answer = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        messages = answer.get("Messages", [])
        for message in messages:
            for record in json.loads(message["Body"]).get("Records", []):
                self._dispatch(record)
            self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        return len(messages)

    def _dispatch(self, record: dict[str, Any]) -> None:
        obj = record["s3"]["object"]
        key = unquote_plus(obj["key"])
        bucket = record["s3"]["bucket"]["name"]
        if "versionId" not in obj:
            try:
                head = self.s3.head_object(Bucket=bucket, Key=key)
                if head.get("VersionId"):
                    obj["versionId"] = head["VersionId"]
            except Exception:  # the object was deleted meanwhile: deliver what S3 said
                traceback.print_exc()
        self._sequence += 1
        obj.setdefault("sequencer", f"{int(time.time() * 1000):012X}{self._sequence:08X}")
        for trigger in self.triggers:
            if key.startswith(trigger.prefix) and key.endswith(trigger.suffix):
                self._invoke(trigger, key, {"Records": [record]})

    def _invoke(self, trigger: S3Trigger, key: str, event: dict[str, Any]) -> None:
        error: BaseException | None = None
        for attempt in range(trigger.max_retries + 1):
            if attempt:
                self.sleep(self.retry_delays[min(attempt, len(self.retry_delays)) - 1])
            try:
                self.runtime.invoke(trigger.function, event)
                self.delivered.append((trigger.function, key))
                return
            except Exception as exc:  # the function failed: retried as Lambda does
                traceback.print_exc()
                error = exc
        self.dead_lettered.append((trigger.function, key))
        queue = self.dead_letters.get(trigger.dead_letter or "")
        if queue is None:
            return  # no destination: Lambda drops the event
        record = {
            "version": "1.0",
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
            "requestContext": {
                "requestId": f"local-{self._sequence}",
                "functionArn": trigger.function,
                "condition": "RetriesExhausted",
                "approximateInvokeCount": trigger.max_retries + 1,
            },
            "requestPayload": event,
            "responseContext": {
                "statusCode": 200,
                "executedVersion": "$LATEST",
                "functionError": "Unhandled",
            },
            "responsePayload": {"errorMessage": str(error), "errorType": type(error).__name__},
        }
        self.sqs.send_message(QueueUrl=queue, MessageBody=json.dumps(record))


class QueueMappingPump:
    def __init__(
        self, mapping: QueueMapping, queue_url: str, queue_arn: str, sqs: Any, runtime: FunctionRuntime
    ) -> None:
        self.mapping = mapping
        self.queue_url = queue_url
        self.queue_arn = queue_arn
        self.sqs = sqs
        self.runtime = runtime

    def poll(self) -> int:
        answer = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=min(10, self.mapping.batch_size),
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages = answer.get("Messages", [])
        if not messages:
            return 0
        records = [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes", {}),
                "messageAttributes": m.get("MessageAttributes", {}),
                "md5OfBody": m.get("MD5OfBody"),
                "eventSource": "aws:sqs",
                "eventSourceARN": self.queue_arn,
                "awsRegion": self.queue_arn.split(":")[3],
            }
            for m in messages
        ]
        try:
            result = self.runtime.invoke(self.mapping.function, {"Records": records})
            failed = {f["itemIdentifier"] for f in (result or {}).get("batchItemFailures", [])}
        except Exception:
            traceback.print_exc()
            failed = {r["messageId"] for r in records}
        for message in messages:
            if message["MessageId"] not in failed:
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        return len(messages)


def next_wait(wait: float, *, interval: float, longest: float, busy: bool) -> float:
    """How long a poller waits after a poll: ``interval`` again once something came (or a pump holds a batch
    it gathers), else twice the last wait, up to ``longest``: an idle queue or stream costs the hub (moto's
    request dispatch) and DynamoDB Local (a GetRecords each) less the longer it stays empty."""
    return interval if busy else min(wait * 2, max(longest, interval))


class Poller:
    """Polls a list of pumps on one background thread: again at once while they find work, else after
    ``interval``, then longer while they stay idle (``next_wait``, up to ``longest``)."""

    def __init__(
        self, name: str, pumps: list[Any], interval: float = 0.1, longest: float | None = None
    ) -> None:
        self.pumps = pumps
        self.interval = interval
        self.longest = interval if longest is None else longest
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self.thread.start()

    def request_stop(self) -> None:
        """Ask the thread to stop after the pump call in flight (returns at once)."""
        self._stop.set()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self.thread.join(timeout=timeout)

    def _run(self) -> None:
        wait = self.interval
        while not self._stop.is_set():
            busy = 0
            for pump in self.pumps:
                try:
                    busy += pump.poll()
                except Exception:
                    traceback.print_exc()
            if busy:
                wait = self.interval
                continue
            self._stop.wait(wait)
            holding = any(getattr(pump, "holding", False) for pump in self.pumps)
            wait = next_wait(wait, interval=self.interval, longest=self.longest, busy=holding)
        for pump in self.pumps:  # a stream pump's gathered records are delivered before the thread ends
            flush = getattr(pump, "flush", None)
            if flush is not None:
                try:
                    flush()
                except Exception:
                    traceback.print_exc()
