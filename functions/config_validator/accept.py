"""Accept or refuse one uploaded configuration document."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from config_validator.references import validation_context
from shared.aws import client
from shared.config_schemas.registry import model_for
from shared.config_store import (
    GOOD_PREFIX,
    MAX_DOCUMENT_BYTES,
    UPLOAD_PREFIX,
    ConfigError,
    json_key,
    json_rendering,
    parse_document,
    validate_data,
)
from shared.observability import logger, metrics
from shared.store.state import DynamoStateStore, StateStore


def accept_upload(bucket: str, key: str, state: StateStore | None = None) -> dict[str, Any]:
    """Validate ``config/<name>``; copy it to ``config-good/<name>`` if valid, else record why not
    (the status goes to the state store: ``put_config_status``).

    A valid document's data is written as JSON to ``config-good/<name>.json`` first (the loaders read that
    and need no YAML parser), or that key is deleted when JSON cannot hold the data exactly, so the JSON
    never speaks for an older document than the copy; then the byte copy."""
    name = key[len(UPLOAD_PREFIX) :]
    s3 = client("s3")
    obj = s3.get_object(Bucket=bucket, Key=key)
    raw = obj["Body"].read(MAX_DOCUMENT_BYTES + 1)
    status: dict[str, Any] = {"document": name, "etag": obj.get("ETag"), "at": datetime.now(UTC).isoformat()}
    try:
        data = parse_document(name, raw)
        validate_data(name, data, model_for(name), context=validation_context(name))
    except ConfigError as exc:
        status |= {"status": "refused", "errors": exc.errors}
        logger.error("configuration refused; the last good document stays in force", extra=status)
        # ConfigRefusedAlarm (infra/template.yaml) tells the operators: a refusal is otherwise only this log
        metrics.add_metric(name="ConfigRefused", unit=MetricUnit.Count, value=1)
    else:
        rendering = json_rendering(data)
        if rendering is None:
            s3.delete_object(Bucket=bucket, Key=json_key(name))
        else:
            s3.put_object(Bucket=bucket, Key=json_key(name), Body=rendering, ContentType="application/json")
        s3.put_object(Bucket=bucket, Key=GOOD_PREFIX + name, Body=raw, ContentType="application/yaml")
        status |= {"status": "accepted", "errors": []}
        logger.info("configuration accepted", extra={"document": name})
    (state or DynamoStateStore()).put_config_status(name, status)
    return status
