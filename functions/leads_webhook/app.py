"""POST /leads (website forms and signed landing-page services) and trade-show imports (S3)."""

from __future__ import annotations

import base64
from typing import Annotated, Any
from urllib.parse import unquote_plus

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.openapi.params import Header
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from leads_webhook.intake import LeadPost, receive_lead_post
from leads_webhook.web import (
    POST_LEADS_RESPONSES,
    PREFLIGHT_RESPONSES,
    post_leads_openapi,
    preflight,
    shape_answer,
)
from leads_webhook.wiring import deployed_services, import_digest_store
from shared.api_models import answer_bad_parameters_with_400
from shared.observability import logger, metrics, tracer
from shared.store.errors import StoreError

app = APIGatewayHttpResolver(enable_validation=True)  # the routes' declared models: docs/openapi.json
answer_bad_parameters_with_400(app)


@app.exception_handler(StoreError)
def storage_failed(error: StoreError) -> Response[Any]:
    """The table is busy or unreachable: the sender retries (MailChimp and browsers alike)."""
    logger.warning("storage failed", extra={"error": str(error)})
    return Response(503, "application/json", {"message": "storage is busy; try again shortly"},
                    headers={"Retry-After": "5"})  # fmt: skip


_OUTCOME_METRICS = {"created": "LeadsCreated", "merged": "LeadsMerged", "quarantined": "LeadsQuarantined"}


@app.post(
    "/leads",
    summary="A lead from a website form (JSON, urlencoded or multipart) or a signed landing-page service",
    responses=POST_LEADS_RESPONSES,
    openapi_extensions=post_leads_openapi(),
)
@tracer.capture_method
def post_lead():  # unannotated: powertools would read "Response" in the tracer wrapper's globals
    event = app.current_event
    raw = event.get("body") or ""
    body = base64.b64decode(raw) if event.is_base64_encoded else raw.encode("utf-8")
    post = LeadPost(
        body=body,
        content_type=event.headers.get("content-type"),
        source_ip=event.request_context.http.source_ip,
        headers=dict(event.headers),
    )
    answer = receive_lead_post(post, deployed_services())
    if answer.accepted is not None:
        metrics.add_metric(name=_OUTCOME_METRICS[answer.accepted.outcome], unit=MetricUnit.Count, value=1)
        logger.info(
            "lead received",
            extra={"lead_id": answer.accepted.lead_id, "outcome": answer.accepted.outcome,
                   "repeat_delivery": answer.accepted.repeat_delivery},
        )  # fmt: skip
    else:
        metrics.add_metric(name=f"LeadsAnswered{answer.status}", unit=MetricUnit.Count, value=1)
    web = shape_answer(
        answer.status, answer.body, answer.headers, request_body=body, request_headers=post.headers,
        config=deployed_services().leads_config(),
    )  # fmt: skip
    if web.note:
        logger.warning(web.note)
    return Response(web.status, web.content_type, web.body, web.headers)


@app.route(
    "/leads",
    method="OPTIONS",
    summary="CORS preflight of POST /leads (allowed origins only)",
    responses=PREFLIGHT_RESPONSES,
)
def preflight_lead(
    origin: Annotated[str | None, Header(description="the page's origin")] = None,
    access_control_request_method: Annotated[str | None, Header(description="POST")] = None,
    access_control_request_headers: Annotated[str | None, Header(description="e.g. content-type")] = None,
) -> Response[Any]:
    """The CORS preflight of a page that posts JSON with fetch(): allowed origins only."""
    status, headers = preflight(dict(app.current_event.headers), deployed_services().leads_config().cors)
    return Response(status, "text/plain", "", headers)


def handle_imports(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Each trade-show list of an S3 event; the results files it writes are skipped."""
    from leads_webhook.imports import import_trade_show
    from shared.aws import client
    from shared.downloads import is_import_key

    summaries = []
    for record in event.get("Records", []):
        bucket = record["s3"]["bucket"]["name"]
        key = unquote_plus(record["s3"]["object"]["key"])
        if not is_import_key(key):
            continue
        summary = import_trade_show(
            bucket, key, deployed_services(), client("s3"), import_digest_store(),
            remaining_ms=context.get_remaining_time_in_millis,
        )  # fmt: skip
        for outcome, count in summary.counts.items():
            metrics.add_metric(name=f"ImportRows_{outcome}", unit=MetricUnit.Count, value=count)
        logger.info(
            "trade-show list imported", extra={"key": key, "counts": summary.counts, "errors": summary.errors}
        )
        summaries.append({"key": key, "results_key": summary.results_key, "counts": summary.counts})
    return {"imports": summaries}


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if "Records" in event:
        return handle_imports(event, context)
    return app.resolve(event, context)
