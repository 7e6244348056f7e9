"""The one wrapper around the ``mailchimp_marketing`` client.

Everything that talks to MailChimp goes through :class:`MailchimpGateway`, which

* points the client at the configured host (the fake's URL locally) with a time-out of at most
  10 s on every call (the client's own default is 120 s), clamped to the time that is left;
* turns what the client returns into answers or classified errors: the client raises
  ``ApiClientError`` with ``status_code`` and ``text`` (a JSON string) for most failures, wraps
  network errors in the same class with no status, and *returns* the raw ``requests.Response``
  for a failure with an empty body (a bare 500) - that is checked here, not by callers;
* retries 429, 5xx, time-outs and connection errors with exponential backoff and full jitter
  while the time budget allows, then raises :class:`RetryableMailchimpError`;
* raises :class:`BlockedMemberError` at once for answers that will never succeed
  ("Member In Compliance State", "Forgotten Email Not Subscribed", an invalid email);
* holds at most ``max_concurrency`` calls in flight across all threads using it.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mailchimp_sync.config import MAX_CALL_TIMEOUT_S, MailchimpConfig
from mailchimp_sync.errors import (
    BlockedMemberError,
    MailchimpError,
    MailchimpRequestError,
    MemberNotFoundError,
    RetryableMailchimpError,
)
from shared.observability import logger

if TYPE_CHECKING:
    from mailchimp_marketing import Client

MIN_CALL_TIMEOUT_S = 0.5  # below this there is no point starting a call
CANCEL_RESERVE_S = 1.0  # kept back from polling a batch, for its DELETE when it does not finish in time


class Budget:
    """The time an invocation may spend, shared by all its threads."""

    def __init__(self, deadline: float | None, clock: Callable[[], float] = time.monotonic) -> None:
        self._deadline = deadline
        self._clock = clock

    @classmethod
    def unlimited(cls) -> Budget:
        return cls(None)

    @classmethod
    def seconds(cls, seconds: float, clock: Callable[[], float] = time.monotonic) -> Budget:
        return cls(clock() + seconds, clock)

    @classmethod
    def from_lambda_context(cls, context: Any, reserve_s: float = 3.0) -> Budget:
        """What the Lambda has left, minus a reserve to record outcomes and answer."""
        return cls.seconds(max(context.get_remaining_time_in_millis() / 1000 - reserve_s, 0.0))

    def remaining(self) -> float:
        return float("inf") if self._deadline is None else max(self._deadline - self._clock(), 0.0)

    def less(self, seconds: float) -> Budget:
        """The same clock, ending ``seconds`` earlier: time kept back for a last call."""
        return self if self._deadline is None else Budget(self._deadline - seconds, self._clock)


@dataclass(frozen=True)
class Failure:
    """A classified failed attempt."""

    error: MailchimpError
    retryable: bool


def _parse_problem(text: Any) -> dict[str, Any]:
    if isinstance(text, dict):
        return text
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    if isinstance(text, str) and text.strip():
        try:
            parsed = json.loads(text)
        except ValueError:
            return {"detail": text.strip()[:500]}
        return parsed if isinstance(parsed, dict) else {}
    return {}


def classify(
    operation: str, status: int | None, body: Any = None, exc: BaseException | None = None
) -> Failure:
    """Decide from the status and MailChimp's ``title``/``detail`` what a failure means."""
    if status is None:
        kind = type(exc).__name__ if exc is not None else "unknown error"
        return Failure(
            RetryableMailchimpError(
                f"{operation}: {kind}: {exc}", title=kind, detail=str(exc), operation=operation
            ),
            retryable=True,
        )
    problem = _parse_problem(body)
    title = str(problem.get("title") or "") or None
    detail = str(problem.get("detail") or "") or None
    message = f"{operation}: {status} {title or ''} {detail or ''}".strip()
    common: dict[str, Any] = {"status": status, "title": title, "detail": detail, "operation": operation}
    if status == 429 or status >= 500:
        return Failure(RetryableMailchimpError(message, **common), retryable=True)
    text = f"{title or ''} {detail or ''}".lower()
    if "compliance state" in text:
        return Failure(BlockedMemberError(message, reason="compliance_state", **common), retryable=False)
    if "forgotten email" in text or "permanently deleted" in text:
        return Failure(BlockedMemberError(message, reason="forgotten_email", **common), retryable=False)
    if status == 400 and (
        "valid email" in text
        or "looks fake or invalid" in text
        or ("email address" in text and "invalid" in text)
    ):
        return Failure(BlockedMemberError(message, reason="invalid_email", **common), retryable=False)
    if status == 400 and (title or "").lower() == "invalid resource" and "member" in operation:
        # the member's data as sent is refused (a merge field value, say): sending it again fails
        # again, so it is recorded on the contact rather than retried into the dead-letter queue
        return Failure(BlockedMemberError(message, reason="invalid_resource", **common), retryable=False)
    if status == 404 and "member" in operation:
        return Failure(MemberNotFoundError(message, **common), retryable=False)
    return Failure(MailchimpRequestError(message, **common), retryable=False)


class MailchimpGateway:
    """Thread-safe; one per process (the clients are per thread, the concurrency cap is shared)."""

    def __init__(
        self,
        config: MailchimpConfig,
        *,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.config = config
        self._slots = threading.BoundedSemaphore(config.max_concurrency)
        self._local = threading.local()
        self._sleep = sleep
        self._jitter = jitter
        self._lock = threading.Lock()
        self.calls_made = 0
        self.retries = 0
        self._in_flight = 0
        self.peak_in_flight = 0

    # --- plumbing -------------------------------------------------------------------------
    def _client(self) -> Client:
        client = getattr(self._local, "client", None)
        if client is None:
            import mailchimp_marketing  # heavy-ish; only where a call is made

            options: dict[str, Any] = {"api_key": self.config.api_key, "timeout": self.config.timeout_s}
            if self.config.base_url:
                # the client does url.replace("server", <server>); "server" -> "server" keeps our URL intact
                options["server"] = "server"
            elif self.config.server:
                options["server"] = self.config.server
            client = mailchimp_marketing.Client(options)
            if self.config.base_url:
                client.api_client.host = self.config.base_url
            self._local.client = client
        return client

    def _attempt(
        self, operation: str, call: Callable[[Client], Any], timeout: float
    ) -> tuple[Any, Failure | None]:
        from mailchimp_marketing.api_client import ApiClientError

        client = self._client()
        client.api_client.timeout = timeout
        with self._lock:
            self.calls_made += 1
            self._in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self._in_flight)
        try:
            result = call(client)
        except ApiClientError as err:
            if err.status_code is None:
                inner = err.text if isinstance(err.text, BaseException) else None
                return None, classify(operation, None, exc=inner or err)
            return None, classify(operation, err.status_code, err.text)
        finally:
            with self._lock:
                self._in_flight -= 1
        status = getattr(result, "status_code", None)
        if status is not None and hasattr(result, "headers"):
            # the client hands back the raw Response when the body is empty or not JSON
            if status >= 400:
                return None, classify(operation, status, getattr(result, "text", ""))
            return None, None
        return result, None

    def call(self, operation: str, call: Callable[[Client], Any], budget: Budget | None = None) -> Any:
        """Run ``call(client)`` with time-outs, retries and the concurrency cap.

        Returns the parsed JSON answer (``None`` for an empty 2xx answer such as 204)."""
        budget = budget or Budget.unlimited()
        attempt = 0
        last: MailchimpError | None = None
        while True:
            remaining = budget.remaining()
            if remaining < MIN_CALL_TIMEOUT_S:
                raise self._give_up(operation, last, attempt, "time budget spent")
            if not self._slots.acquire(timeout=min(remaining, 3600.0)):
                raise self._give_up(operation, last, attempt, "no free connection within the time budget")
            try:
                timeout = min(self.config.timeout_s, MAX_CALL_TIMEOUT_S, budget.remaining())
                if timeout < MIN_CALL_TIMEOUT_S:
                    raise self._give_up(operation, last, attempt, "time budget spent")
                attempt += 1
                result, failure = self._attempt(operation, call, timeout)
            finally:
                self._slots.release()
            if failure is None:
                return result
            if not failure.retryable:
                raise failure.error
            last = failure.error
            if attempt >= self.config.max_attempts:
                raise self._give_up(operation, last, attempt, "attempts exhausted")
            delay = self._jitter() * min(
                self.config.backoff_cap_s, self.config.backoff_base_s * 2 ** (attempt - 1)
            )
            if delay + MIN_CALL_TIMEOUT_S > budget.remaining():
                raise self._give_up(operation, last, attempt, "time budget spent")
            with self._lock:
                self.retries += 1
            self._sleep(delay)

    @staticmethod
    def _give_up(
        operation: str, last: MailchimpError | None, attempts: int, why: str
    ) -> RetryableMailchimpError:
        if last is None:
            return RetryableMailchimpError(f"{operation}: {why}", operation=operation, attempts=attempts)
        return RetryableMailchimpError(
            f"{last} ({why} after {attempts} attempts)",
            status=last.status,
            title=last.title,
            detail=last.detail,
            operation=operation,
            attempts=attempts,
        )

    # --- the endpoints we use -------------------------------------------------------------
    def ping(self, budget: Budget | None = None) -> dict[str, Any]:
        return self.call("ping", lambda c: c.ping.get(), budget)

    def get_member(self, subscriber_hash: str, budget: Budget | None = None) -> dict[str, Any]:
        list_id = self.config.list_id
        return self.call("get member", lambda c: c.lists.get_list_member(list_id, subscriber_hash), budget)

    def put_member(
        self, subscriber_hash: str, body: dict[str, Any], budget: Budget | None = None
    ) -> dict[str, Any]:
        """Add or update (PUT): ``status_if_new`` applies only to a new member."""
        list_id = self.config.list_id
        return self.call(
            "put member", lambda c: c.lists.set_list_member(list_id, subscriber_hash, body), budget
        )

    def patch_member(
        self, subscriber_hash: str, body: dict[str, Any], budget: Budget | None = None
    ) -> dict[str, Any]:
        """Update an existing member only; raises :class:`MemberNotFoundError` when absent."""
        list_id = self.config.list_id
        return self.call(
            "patch member", lambda c: c.lists.update_list_member(list_id, subscriber_hash, body), budget
        )

    def update_member_tags(
        self, subscriber_hash: str, tags: list[dict[str, str]], budget: Budget | None = None
    ) -> None:
        list_id = self.config.list_id
        body = {"tags": tags, "is_syncing": True}  # is_syncing: no automations fire on our own writes
        self.call(
            "update member tags",
            lambda c: c.lists.update_list_member_tags(list_id, subscriber_hash, body),
            budget,
        )

    def merge_fields(self, budget: Budget | None = None) -> list[dict[str, Any]]:
        list_id = self.config.list_id
        fields: list[dict[str, Any]] = []
        while True:
            offset = len(fields)

            def page_at(client: Client, offset: int = offset) -> Any:
                return client.lists.get_list_merge_fields(list_id, count=1000, offset=offset)

            page = self.call("get merge fields", page_at, budget)
            fields.extend(page.get("merge_fields", []))
            if not page.get("merge_fields") or len(fields) >= int(page.get("total_items", 0)):
                return fields

    def add_merge_field(self, body: dict[str, Any], budget: Budget | None = None) -> dict[str, Any]:
        list_id = self.config.list_id
        return self.call("add merge field", lambda c: c.lists.add_list_merge_field(list_id, body), budget)

    def start_batch(self, operations: list[dict[str, Any]], budget: Budget | None = None) -> dict[str, Any]:
        if len(operations) > self.config.batch_max_operations:
            raise ValueError(f"at most {self.config.batch_max_operations} operations per batch")
        return self.call("start batch", lambda c: c.batches.start({"operations": operations}), budget)

    def batch_status(self, batch_id: str, budget: Budget | None = None) -> dict[str, Any]:
        return self.call("batch status", lambda c: c.batches.status(batch_id), budget)

    def run_batch(
        self,
        operations: list[dict[str, Any]],
        budget: Budget,
        *,
        poll_interval_s: float = 1.0,
        first_poll_s: float | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> list[dict[str, Any]]:
        """Submit one batch (``POST /batches``), wait until MailChimp has finished it and return its
        per-operation results (``status_code``, ``operation_id``, ``response``: a JSON string). Polls after
        ``first_poll_s``, then twice as long each time up to ``poll_interval_s``. Raises
        :class:`RetryableMailchimpError` when it has not finished within the budget (or its status could not
        be read): the batch is then deleted (``cancel_batch``, in the ``CANCEL_RESERVE_S`` kept back from the
        polling), so MailChimp never applies it after the stream's retry has sent newer data."""
        batch = self.start_batch(operations, budget)
        polling = budget.less(CANCEL_RESERVE_S)
        wait = poll_interval_s if first_poll_s is None else min(first_poll_s, poll_interval_s)
        try:
            while batch.get("status") != "finished":
                if polling.remaining() <= wait + MIN_CALL_TIMEOUT_S:
                    raise RetryableMailchimpError(
                        f"batch {batch.get('id')} not finished within the time budget",
                        operation="batch status",
                    )
                (sleep or self._sleep)(wait)
                wait = min(wait * 2, poll_interval_s)
                batch = self.batch_status(batch["id"], polling)
        except MailchimpError:
            self.cancel_batch(str(batch.get("id")), budget)
            raise
        url = batch.get("response_body_url")
        return self.download_batch_results(url, budget) if url else []

    def cancel_batch(self, batch_id: str, budget: Budget | None = None) -> bool:
        """``DELETE /batches/{id}`` (MailChimp: "Stop a batch request from running"): the operations it has
        not run yet never run. False when the delete failed, which is logged with the batch id: that batch
        may still be applied later; its records have failed anyway, so the stream sends them again."""
        try:
            self.call("delete batch", lambda c: c.batches.delete_request(batch_id), budget)
        except MailchimpError as err:
            logger.warning(
                "an unfinished MailChimp batch could not be deleted: it may still be applied later",
                extra={"batch_id": batch_id, "error": str(err)},
            )
            return False
        return True

    def download_batch_results(self, url: str, budget: Budget | None = None) -> list[dict[str, Any]]:
        """Fetch and unpack a finished batch's ``response_body_url`` (a .tar.gz of JSON arrays)."""
        import io
        import tarfile

        import requests

        def fetch(_: Client) -> bytes:
            from mailchimp_marketing.api_client import ApiClientError

            try:
                response = requests.get(url, timeout=self.config.timeout_s)
            except requests.RequestException as err:
                raise ApiClientError(err) from err
            if not response.ok:
                raise ApiClientError(response.text, status_code=response.status_code)
            return response.content

        data = self.call("download batch results", fetch, budget)
        results: list[dict[str, Any]] = []
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            for member in tar.getmembers():
                if member.isfile() and member.name.endswith(".json"):
                    extracted = tar.extractfile(member)
                    if extracted is not None:
                        results.extend(json.loads(extracted.read()))
        return results
