"""The hub's bucket for the files people are handed: the board reports, POS rejects, import results.

``FileStore`` is the one way the plan rollup's export writes a report and the reports API reads one
(size, bytes, a presigned link); ``S3FileStore`` is the bucket (``HUB_BUCKET``) through the function's
lazily built S3 client, ``InMemoryFileStore`` its twin with the same answers for unit tests. Storage
failures are raised as ``Throttled`` (``shared.store.errors``), as the tables' stores raise them.

A missing object is ``None``, not an error: HeadObject of a missing key answers 403 to a role without
``s3:ListBucket`` (the reports function has none), so 403 reads as not found too.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Protocol
from urllib.parse import quote, urlencode

from shared.store.errors import Throttled

CSV = "text/csv; charset=utf-8"

_MISSING = {"NoSuchKey", "404", "NotFound", "403", "AccessDenied"}


class FileStore(Protocol):
    def size_of(self, key: str) -> int | None:
        """The object's size in bytes; None when there is no such object."""
        ...

    def read(self, key: str) -> bytes | None:
        """The object's bytes; None when there is no such object."""
        ...

    def write(self, key: str, body: bytes, content_type: str) -> None:
        """Put ``body`` at ``key`` (replacing what was there), served as ``content_type``."""
        ...

    def link(
        self, key: str, filename: str, seconds: int, content_type: str = CSV, disposition: str = "attachment"
    ) -> str:
        """A URL that GETs the object, as ``content_type`` named ``filename`` (``disposition``: attachment or
        inline), for ``seconds``."""
        ...


class S3FileStore:
    """The hub's bucket through the function's lazily built S3 client."""

    def __init__(self, bucket: str) -> None:
        self.bucket = bucket

    def _call(self, operation: str, **kwargs: Any) -> dict[str, Any] | None:
        from botocore.exceptions import BotoCoreError, ClientError

        from shared.aws import client

        try:
            answer: dict[str, Any] = getattr(client("s3"), operation)(Bucket=self.bucket, **kwargs)
        except ClientError as error:
            if operation != "put_object" and str(error.response.get("Error", {}).get("Code")) in _MISSING:
                return None
            raise Throttled(f"S3 {operation}: {error}") from error
        except BotoCoreError as error:
            raise Throttled(f"S3 {operation}: {error}") from error
        return answer

    def size_of(self, key: str) -> int | None:
        head = self._call("head_object", Key=key)
        return None if head is None else int(head.get("ContentLength", 0))

    def read(self, key: str) -> bytes | None:
        got = self._call("get_object", Key=key)
        return None if got is None else bytes(got["Body"].read())

    def write(self, key: str, body: bytes, content_type: str) -> None:
        self._call("put_object", Key=key, Body=body, ContentType=content_type)

    def link(
        self, key: str, filename: str, seconds: int, content_type: str = CSV, disposition: str = "attachment"
    ) -> str:
        params = {
            "Bucket": self.bucket,
            "Key": key,
            "ResponseContentDisposition": f'{disposition}; filename="{filename}"',
            "ResponseContentType": content_type,
        }
        return str(_presigner().generate_presigned_url("get_object", Params=params, ExpiresIn=seconds))


@lru_cache(maxsize=1)
def _presigner() -> Any:
    """An S3 client that signs links with Signature Version 4 (boto3 may still presign with version 2,
    which newer regions refuse), in the function's region; signing makes no request."""
    import boto3
    from botocore.config import Config

    from shared.settings import get_settings

    config = Config(signature_version="s3v4", account_id_endpoint_mode="disabled")
    return boto3.session.Session().client("s3", region_name=get_settings().region, config=config)


class InMemoryFileStore:
    """The bucket's twin for unit tests: objects in a dict, with their content types; a link names the
    key and what S3's presigned URL would carry, and opens nothing."""

    def __init__(self) -> None:
        self.objects: dict[str, tuple[bytes, str]] = {}

    def size_of(self, key: str) -> int | None:
        kept = self.objects.get(key)
        return None if kept is None else len(kept[0])

    def read(self, key: str) -> bytes | None:
        kept = self.objects.get(key)
        return None if kept is None else kept[0]

    def write(self, key: str, body: bytes, content_type: str) -> None:
        self.objects[key] = (bytes(body), content_type)

    def link(
        self, key: str, filename: str, seconds: int, content_type: str = CSV, disposition: str = "attachment"
    ) -> str:
        query = urlencode(
            {
                "response-content-disposition": f'{disposition}; filename="{filename}"',
                "response-content-type": content_type,
                "X-Amz-Expires": seconds,
            }
        )
        return f"memory://bucket/{quote(key)}?{query}"


@lru_cache(maxsize=1)
def file_store() -> FileStore:
    """The hub's bucket, built when a file is first asked for or written."""
    from shared.settings import get_settings

    return S3FileStore(get_settings().bucket)
