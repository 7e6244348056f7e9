"""MailChimp sync: CRM stream records out to MailChimp, MailChimp's webhooks back into the CRM.

- DynamoDB stream (LEAD/CONTACT inserts and changes): contacts are planned, synced together under
  the connection cap within the invocation's remaining time, and each record's outcome is recorded
  on the contact; a failed sync is reported as a batch item failure so the stream retries it and
  then sends it to the dead-letter queue.
- ``GET|POST /mailchimp/webhook/{token}``: MailChimp's check and its form-encoded events
  (``mailchimp_sync.web``, imported when an HTTP event arrives: the stream's invocations never use
  the resolver nor the webhook's parsing).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

from mailchimp_sync.gateway import Budget
from mailchimp_sync.repository import unchanged_for_sync
from mailchimp_sync.stream import BatchPlan, StreamChange, plan_batch, record_outcomes, run_plan
from mailchimp_sync.wiring import gateway_for, mailchimp_setup, repository
from shared.api_paths import routable_event
from shared.observability import logger, metrics, tracer

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
    from aws_lambda_powertools.utilities.typing import LambdaContext

__all__ = ["gateway_for", "handler", "mailchimp_setup", "repository"]  # the caches tests and benches reset

processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


def __getattr__(name: str) -> APIGatewayHttpResolver:
    """``mailchimp_sync.app.app``: the webhook's resolver (``hub openapi`` reads each route's ``app``)."""
    if name != "app":
        raise AttributeError(name)
    from mailchimp_sync.web import app

    return app


def sync_stream_batch(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # Our own sync-state writes (half the records of an import) are told apart before their images are
    # deserialized: ``plan_batch`` would turn them down.
    records = [DynamoDBRecord(r) for r in event.get("Records", [])]
    plan = plan_batch(
        StreamChange(str(r.dynamodb.sequence_number), r.dynamodb.new_image, r.dynamodb.old_image)
        for r in records
        if r.dynamodb is not None and not unchanged_for_sync(r.raw_event.get("dynamodb") or {})
    )
    if plan.work:
        run_plan(plan, gateway_for(mailchimp_setup()), Budget.from_lambda_context(context))
        record_outcomes(plan, repository())

    def record_handler(record: DynamoDBRecord) -> None:
        settle(record, plan)

    answer = process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
    return dict(answer)


def settle(record: DynamoDBRecord, plan: BatchPlan) -> None:
    sequence = str(record.dynamodb.sequence_number) if record.dynamodb else ""
    outcome = plan.settled.get(sequence)  # recorded by record_outcomes (None: a record with nothing to sync)
    if isinstance(outcome, Exception):
        metrics.add_metric(name="MailchimpSyncFailed", unit=MetricUnit.Count, value=1)
        raise outcome
    if outcome is not None:
        metrics.add_metric(name=f"MailchimpSync_{outcome.state}", unit=MetricUnit.Count, value=1)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if "requestContext" in event:
        from mailchimp_sync.web import app  # the webhook's route only: the stream does not load the resolver

        return app.resolve(routable_event(event), context)
    return sync_stream_batch(event, context)
