"""Validates a configuration document uploaded under config/ and puts it in force."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote_plus

from aws_lambda_powertools.utilities.data_classes import S3Event
from aws_lambda_powertools.utilities.typing import LambdaContext

from config_validator.accept import accept_upload
from shared.observability import logger, metrics, tracer


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    results = [
        accept_upload(r.s3.bucket.name, unquote_plus(r.s3.get_object.key)) for r in S3Event(event).records
    ]
    return {"results": results}
