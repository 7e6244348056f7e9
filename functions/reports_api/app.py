"""Authenticated read routes. Each area registers its routes in its own module."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from reports_api import alerts_routes, leads_routes, link_routes, opportunity_routes, plan_routes, pos_routes
from shared.api_models import answer_bad_parameters_with_400
from shared.api_paths import routable_event
from shared.observability import logger, metrics, tracer
from shared.store.errors import NotFound, StoreError

app = APIGatewayHttpResolver(enable_validation=True)  # the routes' declared models: docs/openapi.json
answer_bad_parameters_with_400(app)
app.include_router(leads_routes.router)
app.include_router(opportunity_routes.router)
app.include_router(pos_routes.router)
app.include_router(plan_routes.router)
app.include_router(alerts_routes.router)
app.include_router(link_routes.router)


@app.exception_handler(StoreError)
def storage_failed(error: StoreError) -> Response[Any]:
    """A store's error as an answer: not found is 404; anything else means try again shortly."""
    if isinstance(error, NotFound):
        return Response(404, "application/json", {"message": str(error) or "not found"})
    logger.warning("storage busy or unavailable", extra={"error": f"{type(error).__name__}: {error}"})
    return Response(503, "application/json", {"message": "storage is busy; try again shortly"},
                    headers={"Retry-After": "2"})  # fmt: skip


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # Routed on the template's route with the decoded path parameters, as API Gateway matched it.
    return app.resolve(routable_event(event), context)
