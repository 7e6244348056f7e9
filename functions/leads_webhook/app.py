"""POST /leads (website forms and signed landing-page services) and trade-show imports (S3).

``POST /leads`` is answered here as powertools' resolver answers it, without the resolver nor the event data
classes (``shared.http_answers``):
``leads_webhook.routes`` (the resolver that declares the routes to ``docs/openapi.json``) is imported for any
other request (the CORS preflight) and by ``hub openapi`` (``leads_webhook.app.app``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from leads_webhook.post import answer_lead_post, storage_failed
from leads_webhook.wiring import deployed_services, import_digest_store
from shared.http_answers import HttpRequest, http_api_answer
from shared.observability import logger, metrics, tracer
from shared.store.errors import StoreError

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver


def __getattr__(name: str) -> APIGatewayHttpResolver:
    """``leads_webhook.app.app``: the resolver that declares the routes (``hub openapi`` reads it)."""
    if name != "app":
        raise AttributeError(name)
    from leads_webhook.routes import app

    return app


def post_lead(event: HttpRequest) -> dict[str, Any]:
    """``POST /leads``, answered as powertools' resolver answers it (``shared.http_answers``)."""
    try:
        web = answer_lead_post(event, deployed_services())
    except StoreError as error:
        web = storage_failed(error)
    return http_api_answer(event, web.status, web.content_type, web.body, web.headers)


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
    request = HttpRequest(event)
    if request.http_method == "POST" and request.path == "/leads":
        return post_lead(request)
    from leads_webhook.routes import app  # any other request: the resolver answers it as it always did

    return app.resolve(event, context)
