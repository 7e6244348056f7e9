"""MailChimp sync: CRM stream records out to MailChimp, MailChimp's webhooks back into the CRM.

- DynamoDB stream (LEAD/CONTACT inserts and changes): contacts are planned, synced together under
  the connection cap within the invocation's remaining time, and each record's outcome is recorded
  on the contact; a failed sync is reported as a batch item failure so the stream retries it and
  then sends it to the dead-letter queue.
- ``GET|POST /mailchimp/webhook/{token}``: MailChimp's check and its form-encoded events.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

from mailchimp_sync.api_models import WEBHOOK_REQUEST, WebhookAnswer
from mailchimp_sync.config import MailchimpNotConfiguredError, MailchimpSetup, load_setup
from mailchimp_sync.gateway import Budget, MailchimpGateway
from mailchimp_sync.inbound import receive_webhook, token_ok
from mailchimp_sync.repository import DynamoContactRepository
from mailchimp_sync.stream import BatchPlan, StreamChange, plan_batch, run_plan, settle_record
from shared.api_models import answer_bad_parameters_with_400, json_answer, text_answer
from shared.api_paths import path_value, routable_event
from shared.observability import logger, metrics, tracer
from shared.settings import get_settings
from shared.store.errors import StoreError

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

app = APIGatewayHttpResolver(enable_validation=True)  # the routes' declared models: docs/openapi.json
answer_bad_parameters_with_400(app)


@app.exception_handler(StoreError)
def storage_failed(error: StoreError) -> Response[Any]:
    """The table is busy or unreachable: the sender retries (MailChimp and browsers alike)."""
    logger.warning("storage failed", extra={"error": str(error)})
    return Response(503, "application/json", {"message": "storage is busy; try again shortly"},
                    headers={"Retry-After": "5"})  # fmt: skip


# MailChimp's webhook posts are a few hundred bytes of form fields; anything far larger is not MailChimp.
MAX_WEBHOOK_BYTES = 64 * 1024
processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


@lru_cache(maxsize=1)
def mailchimp_setup() -> MailchimpSetup:
    return load_setup(get_settings())


@lru_cache(maxsize=4)
def gateway_for(setup: MailchimpSetup) -> MailchimpGateway:
    """One gateway per configuration, kept across invocations (its cap spans all threads)."""
    return MailchimpGateway(setup.config)


@lru_cache(maxsize=1)
def repository() -> DynamoContactRepository:
    return DynamoContactRepository()


def _webhook_token() -> str:
    try:
        return mailchimp_setup().webhook_token
    except MailchimpNotConfiguredError:
        return ""


def _list_id() -> str | None:
    try:
        return mailchimp_setup().config.list_id
    except MailchimpNotConfiguredError:
        return None


@app.get(
    "/mailchimp/webhook/<token>",
    summary="MailChimp's check of the webhook URL",
    responses={200: text_answer("The token is ours"), 404: text_answer("Any other token")},
)
def check_webhook(token: str) -> Response[Any]:
    token = path_value(token)
    status = 200 if token_ok(token, _webhook_token()) else 404
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
    result = receive_webhook(token, _webhook_token(), body, repository(), list_id=_list_id())
    if result.status == 200:
        metrics.add_metric(name="MailchimpWebhooks", unit=MetricUnit.Count, value=1)
    logger.info(
        "mailchimp webhook", extra={"status": result.status, "applied": result.applied, "note": result.note}
    )
    return Response(result.status, "application/json", {"applied": result.applied, "note": result.note})


def sync_stream_batch(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    records = [DynamoDBRecord(r) for r in event.get("Records", [])]
    plan = plan_batch(
        StreamChange(str(r.dynamodb.sequence_number), r.dynamodb.new_image, r.dynamodb.old_image)
        for r in records
        if r.dynamodb is not None
    )
    if plan.work:
        run_plan(plan, gateway_for(mailchimp_setup()), Budget.from_lambda_context(context))

    def record_handler(record: DynamoDBRecord) -> None:
        settle(record, plan)

    answer = process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
    return dict(answer)


def settle(record: DynamoDBRecord, plan: BatchPlan) -> None:
    sequence = str(record.dynamodb.sequence_number) if record.dynamodb else ""
    try:
        outcome = settle_record(sequence, plan, repository())
    except Exception:
        metrics.add_metric(name="MailchimpSyncFailed", unit=MetricUnit.Count, value=1)
        raise
    if outcome is not None:
        metrics.add_metric(name=f"MailchimpSync_{outcome.state}", unit=MetricUnit.Count, value=1)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if "requestContext" in event:
        return app.resolve(routable_event(event), context)
    return sync_stream_batch(event, context)
