"""Plan rollups: plan figures, orders, POS actuals and the plan tree in, actual-vs-plan per node out.

Wired to the plan table's stream (PLAN, ACTUAL, NODE, NODE_ORDER: recompute the node and its
ancestors), the CRM table's stream (TERRITORY, ACCOUNT, OPPORTUNITY, ORDER: mirror them into the
plan table), the nightly schedule (rebuild everything, report drift) and the monthly board export.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from plan_rollup import service, wiring
from plan_rollup.rollup import RecomputeResult
from shared.observability import logger, metrics, tracer

processor = BatchProcessor(event_type=EventType.DynamoDBStreams)
DRIFT_LOG_LIMIT = 200


def record_handler(record: DynamoDBRecord) -> None:
    change = record.dynamodb
    if change is None:
        return
    outcome = service.apply_stream_change(
        wiring.store(), wiring.context, change.keys or {}, change.new_image, change.old_image
    )
    if isinstance(outcome, RecomputeResult):
        metrics.add_metric(name="RollupWrites", unit=MetricUnit.Count, value=outcome.writes)
        logger.debug("rollup recomputed", extra={"written": outcome.written, "deleted": outcome.deleted})
    else:
        logger.debug("plan tree mirror", extra={"outcome": outcome})


def nightly() -> dict[str, Any]:
    from plan_rollup.crm_source import CrmTableSource
    from shared.store.crm import DynamoCrmStore

    report = service.recompute_everything(wiring.store(), CrmTableSource(DynamoCrmStore()), wiring.context())
    for drift in report.drift[:DRIFT_LOG_LIMIT]:
        logger.warning(
            "rollup drift corrected",
            extra={"kind": drift.kind, "node": drift.key, "stored": drift.stored, "expected": drift.expected},
        )
    counts = report.counts()
    metrics.add_metric(name="RollupDrift", unit=MetricUnit.Count, value=counts["drift"])
    logger.info("nightly recompute done", extra=counts)
    return counts


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    schedule = event.get("schedule")
    if schedule == "plan-nightly":
        return {"schedule": schedule, **nightly()}
    if schedule == "plan-monthly-export":
        from plan_rollup.export import export_monthly

        return {"schedule": schedule, **export_monthly()}
    if schedule:
        logger.warning("unknown schedule", extra={"schedule": schedule})
        return {"schedule": schedule}
    return dict(
        process_partial_response(
            event=event, record_handler=record_handler, processor=processor, context=context
        )
    )
