"""GET /alerts?recipient=&since=: the alerts recorded (sent, held, digested, fallen back), oldest first."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from reports_api.api_models import AlertsView
from shared.api_models import JWT_SECURITY, STORE_BUSY, UNAUTHORIZED, Message, json_answer

router = APIGatewayHttpRouter()

_RELATIVE = re.compile(r"^(\d{1,6})([mhd])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}
MAX_ALERTS = 1000


def parse_since(text: str | None, now: datetime) -> datetime:
    """An ISO time (UTC when it names no zone) or ``90m`` / ``24h`` / ``7d`` ago; 24 hours by default."""
    if not text:
        return now - timedelta(hours=24)
    match = _RELATIVE.match(text.strip())
    if match:
        return now - timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@router.get(
    "/alerts",
    summary="The alerts recorded (sent, held, digested, fallen back), oldest first",
    security=JWT_SECURITY,
    responses={
        200: json_answer(AlertsView, "The alerts"),
        400: json_answer(Message, "A since that is not a time or is too far back"),
        401: UNAUTHORIZED,
        503: STORE_BUSY,
    },
)
def get_alerts(
    # Declared for the contract; read from the event below.
    recipient_query: Annotated[
        str | None, Query(alias="recipient", description="only the alerts to this address")
    ] = None,
    since_query: Annotated[
        str | None, Query(alias="since", description="an ISO time, or 90m / 24h / 7d ago (default 24h)")
    ] = None,
) -> Response[Any]:
    from reports_api.stores import crm_store
    from shared.store.common import format_time

    event = router.current_event
    now = datetime.now(UTC)
    try:
        since = parse_since(event.get_query_string_value("since"), now)
    except ValueError:
        return Response(400, "application/json", {"message": "since: an ISO time, or 90m / 24h / 7d"})
    if now - since > timedelta(days=92):
        return Response(400, "application/json", {"message": "since: at most 92 days back"})
    recipient = (event.get_query_string_value("recipient") or "").strip().lower()
    store = crm_store()
    if recipient:
        records = store.alerts_to(recipient, format_time(since), limit=MAX_ALERTS)
    else:
        records = store.list_alerts(
            format_time(since), format_time(now + timedelta(seconds=1)), limit=MAX_ALERTS
        )
    body = {
        "recipient": recipient or None,
        "since": format_time(since),
        "count": len(records),
        "truncated": len(records) >= MAX_ALERTS,
        "alerts": [record.view() for record in records],
    }
    return Response(200, "application/json", body)
