"""``POST /events``: check the signature, validate each event, store it in the inbox, apply it.

``receive_events`` is the whole request's logic, free of HTTP framework and AWS details: it gets
the headers and the raw body and the collaborators (storage, secrets, stage catalogue), and
returns the status code and the answer. ``replay_events`` applies stored events again.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from crm_events.apply import EventStores, apply_event, apply_events
from crm_events.models import MAX_BODY_BYTES, BodyError, decode_body, validate_event
from shared.config_schemas.stages import StageCatalog
from shared.signing import (
    SOURCE_HEADER,
    SignatureError,
    SourceSecrets,
    check_source_name,
    header_value,
    verify_request,
)
from shared.store.common import Outcome
from shared.store.errors import StoreError, Throttled
from shared.store.events import InboxEvent, Kept

REUSED_ID = "this event_id was accepted before with a different body; nothing was overwritten or applied"


@dataclass
class EventsContext:
    """What receiving events needs, handed in (fakes in unit tests, AWS in the function)."""

    store: EventStores
    secrets: SourceSecrets
    stages: Callable[[], StageCatalog]
    retention_hours: int = 96
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))


@dataclass(frozen=True)
class Answer:
    status_code: int
    body: dict[str, Any]


def _signing_source(headers: Mapping[str, str] | None, body: bytes) -> str:
    """The source whose secrets sign this request: ``X-Hub-Source``, else the body's ``source``.

    The body is only peeked at here; nothing in it is trusted before the signature is checked.
    """
    declared = header_value(headers, SOURCE_HEADER)
    if declared:
        return check_source_name(declared.strip())
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise SignatureError(SignatureError.MALFORMED, f"{SOURCE_HEADER} header is required") from exc
    events = payload.get("events") if isinstance(payload, dict) and "events" in payload else [payload]
    listed = events if isinstance(events, list) else []
    # Only text can name a source: anything else in the body (a map, a list) is not one, and unhashable.
    sources = {e["source"] for e in listed if isinstance(e, dict) and isinstance(e.get("source"), str)}
    source = sources.pop() if len(sources) == 1 else None
    if not isinstance(source, str):
        raise SignatureError(SignatureError.MALFORMED, f"{SOURCE_HEADER} header is required")
    return check_source_name(source)


def receive_events(headers: Mapping[str, str] | None, body: bytes, context: EventsContext) -> Answer:
    """Handle one ``POST /events`` request."""
    if len(body) > MAX_BODY_BYTES:
        return Answer(413, {"message": f"the body is larger than {MAX_BODY_BYTES} bytes"})
    now = context.now()
    try:
        source = _signing_source(headers, body)
        verify_request(headers, body, source, context.secrets, now=now.timestamp())
    except SignatureError as exc:
        return Answer(401, {"message": "signature rejected", "reason": exc.reason})
    try:
        raw_events = decode_body(body)
    except BodyError as exc:
        return Answer(413 if exc.too_large else 400, {"message": str(exc)})

    stages = context.stages()
    answers: list[dict[str, Any] | None] = []
    valid: list[Any] = []
    for index, raw in enumerate(raw_events):
        result = validate_event(raw, stages, now=now, index=index)
        if result.event is None:
            answers.append({"event_id": result.event_id, "status": "rejected", "errors": result.errors})
        elif result.event.source != source:  # type: ignore[attr-defined]
            errors = [{"field": "source", "message": f"does not match the signing source {source!r}"}]
            answers.append({"event_id": result.event_id, "status": "rejected", "errors": errors})
        else:
            answers.append(None)
            valid.append(result.event)
    # Stored before they are applied: a crash in between leaves them in the inbox for a replay,
    # and the sender's retry (no 2xx came back) applies them then. An id kept before with another
    # body is refused for that event (409): the inbox keeps what came first, and it is not applied.
    # Stored before they are applied: a crash in between leaves them in the inbox for a replay,
    # and the sender's retry (no 2xx came back) applies them then. An id kept before with another
    # body is refused for that event (409): the inbox keeps what came first, and it is not applied.
    kept = _keep(context, valid, now)
    fresh = [event for event, keeping in zip(valid, kept, strict=True) if keeping in (Kept.NEW, Kept.REPEAT)]
    outcomes: dict[int, Outcome | StoreError | Kept] = {
        id(event): keeping for event, keeping in zip(valid, kept, strict=True)
    }
    outcomes.update(
        (id(event), outcome)
        for event, outcome in zip(fresh, apply_events(fresh, context.store, stages), strict=True)
    )
    events = iter(valid)
    results: list[dict[str, Any]] = []
    for answer in answers:
        if answer is not None:
            results.append(answer)
            continue
        event = next(events)
        results.append(_result(event.event_id, outcomes[id(event)]))
    accepted = sum(1 for r in results if r["status"] in ("accepted", "duplicate"))
    conflicts = sum(1 for r in results if r["status"] == "conflict")
    status = 200 if accepted else (409 if conflicts else 422)
    return Answer(status, {"accepted": accepted, "results": results})


def _keep(context: EventsContext, valid: list[Any], now: datetime) -> list[Kept | StoreError]:
    """Keep the events in the inbox; an event the table refuses as sent (over 400 KB) fails alone."""
    inbox, hours = context.store.inbox, context.retention_hours
    try:
        return list(
            inbox.keep_events([inbox_event(e) for e in valid], received_at=now, retention_hours=hours)
        )
    except Throttled:
        raise
    except StoreError:
        if len(valid) == 1:
            return [StoreError("refused by the table")]
    kept: list[Kept | StoreError] = []
    for event in valid:  # find the one the table refuses
        try:
            kept += inbox.keep_events([inbox_event(event)], received_at=now, retention_hours=hours)
        except Throttled:
            raise
        except StoreError as exc:
            kept.append(exc)
    return kept


def _result(event_id: str, outcome: Outcome | StoreError | Kept) -> dict[str, Any]:
    if outcome is Kept.CONFLICT:
        errors = [{"field": "event_id", "message": REUSED_ID}]
        return {"event_id": event_id, "status": "conflict", "status_code": 409, "errors": errors}
    if isinstance(outcome, StoreError):
        errors = [{"field": "", "message": f"the table refused it as sent: {outcome}"}]
        return {"event_id": event_id, "status": "failed", "status_code": 500, "errors": errors}
    assert isinstance(outcome, Outcome)
    verdict = "duplicate" if outcome is Outcome.DUPLICATE else "accepted"
    return {"event_id": event_id, "status": verdict, "errors": [], "outcome": outcome.value}


@dataclass
class ReplaySummary:
    """What a replay did, by outcome (``applied``, ``stale``, ``duplicate``, ``missing``, ``invalid``)."""

    outcomes: Counter[str] = field(default_factory=Counter)

    @property
    def total(self) -> int:
        return sum(self.outcomes.values())


def inbox_event(event: Any) -> InboxEvent:
    """What the inbox keeps of a validated event: its canonical JSON."""
    return InboxEvent(event.source, event.event_id, event.type, event.occurred_at, event.model_dump_json())


def replay_events(
    store: EventStores,
    stages: StageCatalog,
    since: datetime,
    *,
    source: str | None = None,
    progress: Callable[[str], None] | None = None,
    entries: Iterable[Any] | None = None,
) -> ReplaySummary:
    """Apply the inbox's events received since ``since`` again, oldest first.

    Applying is idempotent and order-safe, so a replay changes only what is missing or behind.
    """
    summary = ReplaySummary()
    for entry in entries if entries is not None else store.inbox.read_inbox(since, source=source):
        # Stored events were valid when they came; the stage catalogue may have changed since.
        result = validate_event(entry.body, stages, now=datetime.now(UTC))
        outcome = apply_event(result.event, store, stages).value if result.event is not None else "invalid"
        summary.outcomes[outcome] += 1
        if progress is not None:
            progress(outcome)
    return summary


__all__ = [
    "Answer",
    "EventStores",
    "EventsContext",
    "Outcome",
    "ReplaySummary",
    "inbox_event",
    "receive_events",
    "replay_events",
]
