"""Distributor POS files from S3 (filled by the POS issue)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.data_classes import S3Event
from aws_lambda_powertools.utilities.typing import LambdaContext

from shared.observability import logger, metrics, tracer


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    keys = [record.s3.get_object.key for record in S3Event(event).records]
    logger.info("pos files received", extra={"keys": keys})
    return {"received": keys}
