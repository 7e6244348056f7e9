"""Alerts: CRM and POS stream changes and the hourly sweep become emails, each exactly once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from alerts.rules import alerts_for_change
from alerts.sweep import sweep_alerts
from alerts.wiring import (
    CachedDirectory,
    alerts_config,
    build_deliverer,
    crm_store,
    rule_context,
    stage_catalog,
)
from shared.observability import logger, metrics, tracer

processor = BatchProcessor(event_type=EventType.DynamoDBStreams)
_invocation: dict[str, Any] = {}


def _lease() -> timedelta:
    """A claim outlives this invocation: after it, a retry may take the claim over."""
    context = _invocation.get("context")
    remaining = context.get_remaining_time_in_millis() if context is not None else 60_000
    return timedelta(milliseconds=max(remaining, 1000)) + timedelta(seconds=5)


@tracer.capture_method
def record_handler(record: DynamoDBRecord) -> None:
    change = record.dynamodb
    new = change.new_image if change else None
    old = change.old_image if change else None
    alerts = alerts_for_change(new, old, _invocation["rules"])
    if not alerts:
        return
    rules = _invocation["rules"]
    deliverer = build_deliverer(datetime.now(UTC), _lease(), _invocation["directory"], rules.config)
    summary = deliverer.deliver(alerts, strict=True)
    for kind, count in summary.counts.items():
        if kind.startswith("sent:"):
            metrics.add_metric(name=f"Alert_{kind[5:]}", unit="Count", value=count)


def run_sweep(schedule: str) -> dict[str, Any]:
    """Finish what is due (held alerts, dead claims), then send what the sweeps find."""
    now = datetime.now(UTC)
    deliverer = build_deliverer(now, _lease(), _invocation["directory"], alerts_config(now=True))
    released = deliverer.release_due()
    found = sweep_alerts(crm_store(), stage_catalog(now=True), deliverer.config, now)
    summary = deliverer.deliver(found.alerts)
    summary.add(released)
    result = {
        "schedule": schedule,
        "found": len(found.alerts),
        "items_read": found.items_read,
        **summary.as_dict(),
    }
    logger.info("sweep", extra=result)
    metrics.add_metric(name="AlertsSent", unit="Count", value=summary.counts["sent"])
    return result


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    _invocation.clear()
    _invocation.update(context=context, directory=CachedDirectory(crm_store()))
    if "schedule" in event:
        return run_sweep(str(event["schedule"]))
    _invocation["rules"] = rule_context()
    return dict(
        process_partial_response(
            event=event, record_handler=record_handler, processor=processor, context=context
        )
    )
