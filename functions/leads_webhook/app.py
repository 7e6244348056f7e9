"""POST /leads and trade-show imports."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from leads_webhook.service import LeadIn, store_lead
from shared.observability import logger, metrics, tracer
from shared.settings import get_settings

app = APIGatewayHttpResolver()


@app.post("/leads")
@tracer.capture_method
def post_lead() -> Response[Any]:
    try:
        lead = LeadIn.model_validate(app.current_event.json_body or {})
    except ValidationError as exc:
        errors = [{"field": ".".join(map(str, e["loc"])), "message": e["msg"]} for e in exc.errors()]
        return Response(422, "application/json", {"errors": errors})
    lead_id = store_lead(lead, owner=get_settings().demo_owner)
    metrics.add_metric(name="LeadsReceived", unit=MetricUnit.Count, value=1)
    return Response(202, "application/json", {"lead_id": lead_id, "status": "received"})


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
