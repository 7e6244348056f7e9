"""POST /events: signed events from external CRMs (logic in ``crm_events.service``).

The one route is answered here as powertools' resolver answers it, without the resolver nor the event data
classes (``shared.http_answers``):
``crm_events.web`` (the resolver that declares the route to ``docs/openapi.json``) is imported only for a
request that is not ``POST /events`` and by ``hub openapi`` (``crm_events.app.app``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from crm_events.post import answer_events, events_context
from shared.http_answers import HttpRequest, http_api_answer, request_body
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


def post_events(event: HttpRequest) -> dict[str, Any]:
    """``POST /events``, answered as powertools' resolver answers it (``shared.http_answers``)."""
    status, answer, headers = answer_events(event.headers, request_body(event))
    return http_api_answer(event, status, "application/json", answer, headers)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = HttpRequest(event)
    if request.http_method == "POST" and request.path == "/events":
        return post_events(request)
    from crm_events.web import app  # any other request: the resolver answers it as it always did

    return app.resolve(event, context)
