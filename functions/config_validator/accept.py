"""Accept or refuse one uploaded configuration document."""

from __future__ import annotations

import hashlib
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
    never speaks for an older document than the copy; then the byte copy. Then both are settled (below):
    two uploads of one document validated at once must not leave one's JSON beside the other's copy."""
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
        _render(s3, bucket, name, raw, rendering)
        s3.put_object(Bucket=bucket, Key=GOOD_PREFIX + name, Body=raw, ContentType="application/yaml")
        _settle(s3, bucket, name, raw, rendering)
        status |= {"status": "accepted", "errors": []}
        logger.info("configuration accepted", extra={"document": name})
    (state or DynamoStateStore()).put_config_status(name, status)
    return status


SOURCE_DIGEST = "source-sha256"  # the JSON rendering's metadata: the SHA-256 of the YAML copy it renders


def _render(s3: Any, bucket: str, name: str, source: bytes, rendering: bytes | None) -> None:
    """Write (or, when JSON cannot hold the data, delete) the JSON rendering of the YAML bytes ``source``."""
    if rendering is None:
        s3.delete_object(Bucket=bucket, Key=json_key(name))
        return
    s3.put_object(
        Bucket=bucket, Key=json_key(name), Body=rendering, ContentType="application/json",
        Metadata={SOURCE_DIGEST: hashlib.sha256(source).hexdigest()},
    )  # fmt: skip


def _settle(s3: Any, bucket: str, name: str, source: bytes, rendering: bytes | None, rounds: int = 3) -> None:
    """Make the JSON rendering render the byte copy now in force.

    Another run for the same document may have written its JSON or its copy between this run's two
    writes; then the JSON and the copy come from different uploads, and the functions (which read the
    JSON) would run on one document while the copy says another. Whatever run finishes last sees the copy
    in force and renders it. ``source`` and ``rendering`` are this run's; another run's copy was validated by
    that run, so it is only parsed here."""
    for _ in range(rounds):
        copy = s3.get_object(Bucket=bucket, Key=GOOD_PREFIX + name)["Body"].read()
        if copy != source:  # another upload's copy is in force: render that one
            source, rendering = copy, json_rendering(parse_document(name, copy))
        try:
            head = s3.head_object(Bucket=bucket, Key=json_key(name))
            rendered = head.get("Metadata", {}).get(SOURCE_DIGEST)
        except s3.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey", "NotFound"):
                raise
            rendered = None
        if (rendering is None and rendered is None) or rendered == hashlib.sha256(source).hexdigest():
            return
        logger.warning("configuration rendering settled to the copy in force", extra={"document": name})
        _render(s3, bucket, name, source, rendering)
