"""Validates a configuration document uploaded under config/ and puts it in force.

The S3 event is read as a dict (as ``leads_webhook`` reads its trade-show lists), not with powertools' ``S3Event``:
importing any one of its event data classes imports all 35 event sources' modules (about a ninth of
``import boto3`` at each cold start) for the two fields read here.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote_plus

from aws_lambda_powertools.utilities.typing import LambdaContext

from config_validator.accept import accept_upload
from shared.observability import logger, metrics, tracer


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    results = [
        accept_upload(r["s3"]["bucket"]["name"], unquote_plus(r["s3"]["object"]["key"]))
        for r in event["Records"]
    ]
    return {"results": results}
