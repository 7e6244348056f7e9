"""POST /events: signed events from external CRMs (logic in ``crm_events.service``).

The one route is answered here from powertools' API Gateway event data class, without the resolver:
``crm_events.web`` (the resolver that declares the route to ``docs/openapi.json``) is imported only for a
request that is not ``POST /events`` and by ``hub openapi`` (``crm_events.app.app``).
"""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.shared.json_encoder import Encoder
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2
from aws_lambda_powertools.utilities.typing import LambdaContext

from crm_events.post import answer_events, events_context
from shared.observability import logger, metrics, tracer

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

__all__ = ["events_context", "handler"]  # events_context: the cache tests reset


def __getattr__(name: str) -> APIGatewayHttpResolver:
    """``crm_events.app.app``: the resolver that declares the route (``hub openapi`` reads each route's ``app``)."""
    if name != "app":
        raise AttributeError(name)
    from crm_events.web import app

    return app


def post_events(event: APIGatewayProxyEventV2) -> dict[str, Any]:
    """``POST /events``, answered as powertools' resolver answers a JSON ``Response`` to an HTTP API."""
    body = event.body or ""
    raw = base64.b64decode(body) if event.is_base64_encoded else body.encode("utf-8")
    status, answer, headers = answer_events(event.headers, raw)
    return {
        "statusCode": status,
        "body": json.dumps(answer, separators=(",", ":"), cls=Encoder),
        "isBase64Encoded": False,
        **event.header_serializer().serialize(
            headers={**headers, "Content-Type": "application/json"}, cookies=[]
        ),
    }


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = APIGatewayProxyEventV2(event)
    if request.http_method == "POST" and request.path == "/events":
        return post_events(request)
    from crm_events.web import app  # any other request: the resolver answers it as it always did

    return app.resolve(event, context)
