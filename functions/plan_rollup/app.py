"""Plan rollups: plan figures and actuals in, actual-vs-plan per node out.

Wired to the plan table's stream and a nightly schedule; the rollup itself is a later issue.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from shared.observability import logger, metrics, tracer

processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


def record_handler(record: DynamoDBRecord) -> None:
    image = (record.dynamodb.new_image or record.dynamodb.old_image) if record.dynamodb else None
    logger.debug("plan change", extra={"entity": (image or {}).get("entity")})


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if "schedule" in event:
        logger.info("nightly recompute requested", extra={"schedule": event["schedule"]})
        return {"schedule": event["schedule"], "recomputed": 0}
    return dict(
        process_partial_response(
            event=event, record_handler=record_handler, processor=processor, context=context
        )
    )
