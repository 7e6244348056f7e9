"""What ``POST /events`` takes and answers, as declared to the OpenAPI document."""

from __future__ import annotations

from typing import Any

from shared.api_models import Answers, Message, OpenModel, json_answer

_EVENT: dict[str, Any] = {
    "type": "object",
    "required": ["event_id", "type", "occurred_at", "source", "data"],
    "properties": {
        "event_id": {"type": "string"},
        "type": {"type": "string", "examples": ["opportunity.upserted"]},
        "occurred_at": {"type": "string", "format": "date-time"},
        "source": {"type": "string"},
        "data": {"type": "object"},
    },
}
EVENTS_REQUEST: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "Signed: X-Hub-Signature t=<unix seconds>,v1=<hex HMAC-SHA256 of '<t>.<raw body>'>",
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        _EVENT,
                        {
                            "type": "object",
                            "required": ["events"],
                            "properties": {"events": {"type": "array", "maxItems": 100, "items": _EVENT}},
                        },
                    ]
                }
            }
        },
    }
}


class EventResult(OpenModel):
    event_id: str | None = None
    status: str  # accepted | duplicate | rejected | conflict | failed (the table refused it as sent)
    errors: list[dict[str, Any]]
    outcome: str | None = None
    status_code: int | None = None  # 409 for a conflict: the event_id was accepted with another body


class EventsAnswer(OpenModel):
    accepted: int
    results: list[EventResult]


class SignatureRefused(Message):
    reason: str | None = None


EVENTS_RESPONSES: Answers = {
    200: json_answer(EventsAnswer, "At least one event accepted; each event's result"),
    400: json_answer(Message, "A body that is not an event or a list of events"),
    401: json_answer(SignatureRefused, "Missing, malformed, wrong or stale signature"),
    413: json_answer(Message, "A body or a list over the limits"),
    409: json_answer(EventsAnswer, "No event accepted, some reused an event_id with another body"),
    422: json_answer(EventsAnswer, "No event accepted; each event's errors"),
    503: json_answer(Message, "Storage unavailable: retry (Retry-After)"),
}
