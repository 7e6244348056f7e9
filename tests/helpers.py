"""Builders for the event shapes AWS sends, shared by handler tests."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from tests.conftest import http_event

__all__ = ["http_event", "s3_event", "stream_event"]


def s3_event(
    bucket: str, key: str, *, version_id: str | None = None, size: int = 0, etag: str = "0"
) -> dict[str, Any]:
    """An S3 ObjectCreated event as S3 sends it to Lambda (the key URL-encoded)."""
    from urllib.parse import quote_plus

    obj: dict[str, Any] = {"key": quote_plus(key), "size": size, "eTag": etag, "sequencer": "0A1B2C3D4E5F"}
    if version_id:
        obj["versionId"] = version_id
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": "us-east-1",
                "eventTime": "2026-11-23T10:00:00.000Z",
                "eventName": "ObjectCreated:Put",
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": "test",
                    "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
                    "object": obj,
                },
            }
        ]
    }


def stream_event(changes: list[tuple[str, dict[str, Any] | None, dict[str, Any] | None]]) -> dict[str, Any]:
    """A DynamoDB stream batch: each change is (eventName, new item, old item), plain Python values."""
    from boto3.dynamodb.types import TypeSerializer

    serialize = TypeSerializer().serialize
    records = []
    for index, (name, new, old) in enumerate(changes, start=1):
        image = new or old or {}
        change: dict[str, Any] = {
            "Keys": {k: serialize(image[k]) for k in ("pk", "sk") if k in image},
            "SequenceNumber": f"{index:021d}",
            "SizeBytes": 100,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
            "ApproximateCreationDateTime": 1763892000,
        }
        if new is not None:
            change["NewImage"] = {k: serialize(v) for k, v in new.items()}
        if old is not None:
            change["OldImage"] = {k: serialize(v) for k, v in old.items()}
        records.append({
            "eventID": str(index), "eventName": name, "eventVersion": "1.1", "eventSource": "aws:dynamodb",
            "awsRegion": "us-east-1", "dynamodb": change,
            "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/crm-hub-CrmTable/stream/2026",
        })  # fmt: skip
    return {"Records": records}


def lead_keys(lead_id: str) -> dict[str, str]:
    """A lead item's ``pk`` and ``sk`` (for items built by hand as a stream image or a raw put)."""
    from shared.store.crm import lead_key

    pk, sk = lead_key(lead_id)
    return {"pk": pk, "sk": sk}


@contextmanager
def counting_aws_calls(name: Callable[[str, Any], str] | None = None) -> Iterator[Counter[str]]:
    """Every botocore client made from now on counts its calls (``before-call.<service>.<operation>``);
    ``name(operation, params)`` may rename a call (``params``: the serialised request)."""
    from botocore.handlers import BUILTIN_HANDLERS

    from tests.ddb_local.plugin import forget_connections

    counted: Counter[str] = Counter()

    def count(event_name: str, params: Any = None, **_: Any) -> None:
        operation = event_name.split(".", 1)[1]
        counted[name(operation, params) if name else operation] += 1

    entry = ("before-call.*.*", count)
    BUILTIN_HANDLERS.append(entry)
    forget_connections()  # clients made before the hook would not count
    try:
        yield counted
    finally:
        BUILTIN_HANDLERS.remove(entry)
        forget_connections()
