"""``GET|POST /mailchimp/webhook/{token}``: MailChimp's check and its form-encoded events.

The resolver and the webhook's parsing are imported by ``mailchimp_sync.app`` when an HTTP event
arrives, so the stream's invocations (most of them) do not load them.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.metrics import MetricUnit

from mailchimp_sync.api_models import WEBHOOK_REQUEST, WebhookAnswer
from mailchimp_sync.inbound import receive_webhook, token_ok
from mailchimp_sync.wiring import list_id, repository, webhook_token
from shared.api_models import answer_bad_parameters_with_400, json_answer, text_answer
from shared.api_paths import path_value
from shared.observability import logger, metrics, tracer
from shared.store.errors import StoreError

app = APIGatewayHttpResolver(enable_validation=True)  # the routes' declared models: docs/openapi.json
answer_bad_parameters_with_400(app)

# MailChimp's webhook posts are a few hundred bytes of form fields; anything far larger is not MailChimp.
MAX_WEBHOOK_BYTES = 64 * 1024


@app.exception_handler(StoreError)
def storage_failed(error: StoreError) -> Response[Any]:
    """The table is busy or unreachable: the sender retries (MailChimp and browsers alike)."""
    logger.warning("storage failed", extra={"error": str(error)})
    return Response(503, "application/json", {"message": "storage is busy; try again shortly"},
                    headers={"Retry-After": "5"})  # fmt: skip


@app.get(
    "/mailchimp/webhook/<token>",
    summary="MailChimp's check of the webhook URL",
    responses={200: text_answer("The token is ours"), 404: text_answer("Any other token")},
)
def check_webhook(token: str) -> Response[Any]:
    token = path_value(token)
    status = 200 if token_ok(token, webhook_token()) else 404
    return Response(status, "text/plain", "" if status == 200 else "not found")


@app.post(
    "/mailchimp/webhook/<token>",
    summary="MailChimp's form-encoded events: unsubscribes, cleaned addresses, profile changes",
    responses={
        200: json_answer(WebhookAnswer, "Applied, or deliberately ignored (MailChimp does not retry)"),
        404: json_answer(WebhookAnswer, "Not our token: nothing changes"),
        413: text_answer("A body over 64 KiB"),
        422: json_answer(WebhookAnswer, "Data that cannot be used (not an address, fired_at in the future)"),
    },
    openapi_extensions=WEBHOOK_REQUEST,
)
@tracer.capture_method
def post_webhook(token: str):  # unannotated: powertools would read "Response" in the tracer wrapper's globals
    token = path_value(token)
    body = app.current_event.decoded_body or ""
    if len(body.encode("utf-8")) > MAX_WEBHOOK_BYTES:
        return Response(413, "text/plain", "payload too large")
    result = receive_webhook(token, webhook_token(), body, repository(), list_id=list_id())
    if result.status == 200:
        metrics.add_metric(name="MailchimpWebhooks", unit=MetricUnit.Count, value=1)
    logger.info(
        "mailchimp webhook", extra={"status": result.status, "applied": result.applied, "note": result.note}
    )
    return Response(result.status, "application/json", {"applied": result.applied, "note": result.note})
