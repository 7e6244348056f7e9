"""POST /events: signed events from external CRMs (logic in ``crm_events.service``)."""

from __future__ import annotations

import base64
from functools import lru_cache
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from crm_events.api_models import EVENTS_REQUEST, EVENTS_RESPONSES
from crm_events.service import EventsContext, receive_events
from shared.api_models import answer_bad_parameters_with_400
from shared.observability import logger, metrics, tracer
from shared.store.errors import StoreError

app = APIGatewayHttpResolver(enable_validation=True)  # the routes' declared models: docs/openapi.json
answer_bad_parameters_with_400(app)


@lru_cache(maxsize=1)
def events_context() -> EventsContext:
    """Built on the first request (never at import), then kept for the life of the process."""
    from crm_events.storage import dynamo_stores
    from shared.config_schemas.stages import StageCatalog
    from shared.config_store import load_config
    from shared.settings import get_settings
    from shared.signing import SsmSourceSecrets

    settings = get_settings()
    return EventsContext(
        store=dynamo_stores(),
        secrets=SsmSourceSecrets(settings.secrets_prefix, max_age=300),
        stages=lambda: load_config("stages.yaml", StageCatalog),
        retention_hours=settings.inbox_retention_hours,
    )


def _raw_body() -> bytes:
    event = app.current_event
    body = event.body or ""
    return base64.b64decode(body) if event.is_base64_encoded else body.encode("utf-8")


@app.post(
    "/events",
    summary='Signed events from external CRMs: one event or {"events": [...]} (at most 100)',
    responses=EVENTS_RESPONSES,
    openapi_extensions=EVENTS_REQUEST,
)
def post_events() -> Response[Any]:
    try:
        answer = receive_events(app.current_event.headers, _raw_body(), events_context())
    except StoreError:
        logger.exception("storage failed; the sender should retry")
        return Response(
            503, "application/json", {"message": "storage unavailable, retry"}, headers={"Retry-After": "5"}
        )
    if answer.status_code == 401:
        logger.warning("signature rejected", extra={"reason": answer.body.get("reason")})
    results = answer.body.get("results", [])
    metrics.add_metric(name="EventsAccepted", unit=MetricUnit.Count, value=answer.body.get("accepted", 0))
    metrics.add_metric(
        name="EventsRejected",
        unit=MetricUnit.Count,
        value=sum(1 for r in results if r["status"] == "rejected"),
    )
    return Response(answer.status_code, "application/json", answer.body)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
