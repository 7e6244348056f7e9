"""Distributor POS files from S3, and their continuations from the queue."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote_plus

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes import S3Event
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from pos_ingest import wiring
from pos_ingest.service import ObjectRef, fail_dead_lettered, ingest_pos_object
from shared.observability import logger, metrics, tracer
from shared.store.errors import StoreError

processor = BatchProcessor(event_type=EventType.SQS)


def _run(ref: ObjectRef, context: LambdaContext, expected_slice: int | None = None) -> dict[str, Any]:
    try:
        run = ingest_pos_object(
            ref,
            wiring.collaborators(context.get_remaining_time_in_millis),
            should_stop=wiring.time_budget(context.get_remaining_time_in_millis),
            expected_slice=expected_slice,
        )
    except StoreError as error:
        # The run record is left as it was: a retry (S3's asynchronous retry, or the queue message
        # coming back as a failed batch item) carries on where the last good write stopped.
        logger.warning("storage refused or busy: the file will be retried",
                       extra={"key": ref.key, "error": f"{type(error).__name__}: {error}"})  # fmt: skip
        metrics.add_metric(name="PosStoreRetry", unit="Count", value=1)
        raise
    if run is None:
        logger.info("nothing to do: already counted", extra={"key": ref.key, "version": ref.identity})
        return {"key": ref.key, "status": "duplicate"}
    metrics.add_metric(name="PosRowsAccepted", unit="Count", value=run.accepted)
    metrics.add_metric(name="PosRowsRejected", unit="Count", value=run.rejected)
    logger.info("pos file", extra={"key": ref.key, "status": run.status, "rows": run.rows_total})
    return {"key": ref.key, "status": run.status}


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    records = event.get("Records") or []
    if records and records[0].get("eventSource") == "aws:sqs" and wiring.from_failure_queue(records[0]):

        def fail_run(record: SQSRecord) -> None:
            failed = fail_dead_lettered(json.loads(record.body), wiring.store())
            for run in failed:
                logger.warning("pos run failed on every try", extra={"key": run.key, "error": run.error})
            metrics.add_metric(name="PosRunsDeadLettered", unit="Count", value=len(failed))
            wiring.keep_dead_letter(record.body)  # the evidence stays, and its alarm tells the operators

        response = process_partial_response(
            event=event, record_handler=fail_run, processor=processor, context=context
        )
        return dict(response)
    if records and records[0].get("eventSource") == "aws:sqs":

        def continue_file(record: SQSRecord) -> None:
            body = json.loads(record.body)
            ref = ObjectRef(body["bucket"], body["key"], body.get("version"), body.get("etag"))
            _run(ref, context, expected_slice=int(body["slice"]))

        response = process_partial_response(
            event=event, record_handler=continue_file, processor=processor, context=context
        )
        return dict(response)
    results = []
    for record in S3Event(event).records:
        obj = record.s3.get_object
        ref = ObjectRef(record.s3.bucket.name, unquote_plus(obj.key), obj.version_id, obj.etag)
        results.append(_run(ref, context))
    return {"files": results}
