"""Alerts: CRM and POS stream changes and schedules become emails."""

from __future__ import annotations

from functools import partial
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from alerts.notify import send_alert
from alerts.pos_runs import pos_run_alerts, send_pos_run_alert
from alerts.rules import alerts_for_change
from alerts.sweep import run_sweep
from shared.idempotency import register, run_once
from shared.observability import logger, metrics, tracer

processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


@tracer.capture_method
def record_handler(record: DynamoDBRecord) -> None:
    change = record.dynamodb
    new = change.new_image if change else None
    old = change.old_image if change else None
    for need in alerts_for_change(new, old):
        run_once("alert", need.key, partial(send_alert, need))
        metrics.add_metric(name=f"Alert_{need.kind}", unit="Count", value=1)
    for pos_alert in pos_run_alerts(new, old):  # the POS table's stream: finished runs with rejects
        run_once("alert", pos_alert.key, partial(send_pos_run_alert, pos_alert))
        metrics.add_metric(name="Alert_pos_rejects", unit="Count", value=1)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    register(context)
    if "schedule" in event:
        return run_sweep(event["schedule"])
    return dict(
        process_partial_response(
            event=event, record_handler=record_handler, processor=processor, context=context
        )
    )
