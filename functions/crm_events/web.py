"""The resolver that declares ``POST /events`` to ``docs/openapi.json`` (``hub openapi`` reads
``crm_events.app.app``, which is this one) and answers any request the handler does not take directly
(a method or path other than ``POST /events``, which API Gateway does not send here).

The handler answers ``POST /events`` without it (``crm_events.app``): importing powertools' resolver and
the answer models costs about a sixth of ``import boto3`` at each cold start, for one route that takes
no parameter to validate.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response

from crm_events.api_models import EVENTS_REQUEST, EVENTS_RESPONSES
from crm_events.post import answer_events
from shared.api_models import answer_bad_parameters_with_400
from shared.http_answers import HttpRequest, request_body

app = APIGatewayHttpResolver(enable_validation=True)  # the routes' declared models: docs/openapi.json
answer_bad_parameters_with_400(app)


@app.post(
    "/events",
    summary='Signed events from external CRMs: one event or {"events": [...]} (at most 100)',
    responses=EVENTS_RESPONSES,
    openapi_extensions=EVENTS_REQUEST,
)
def post_events() -> Response[Any]:
    request = HttpRequest(app.current_event.raw_event)
    status, answer, headers = answer_events(request.headers, request_body(request))
    return Response(status, "application/json", answer, headers=headers or None)
