"""What the local hub keeps between runs: a journal of the embedded AWS's data-changing requests.

The embedded AWS (moto) holds everything in memory. The journal records, in moto's own recording format
(one JSON line per request: ``method``, ``url``, ``headers``, ``body``, ``body_encoded``, as moto's
``/moto-api/recorder/`` writes and replays it), every request that changed data and succeeded:

- DynamoDB item writes (PutItem, UpdateItem, DeleteItem, BatchWriteItem, TransactWriteItems, PartiQL);
- S3 object writes and deletes (PUT, POST and DELETE on an object, and multi-object delete);
- SSM parameter writes and deletes (the signing sources' secrets).

Each line is written and flushed as the request completes (DynamoDB requests in the order the embedded
AWS applied them), so a hub that is killed loses at most the requests in flight. At the next start the
hub creates the template's resources afresh, replays the journal into them (before any stream, queue or
bucket notification is read, so nothing is processed twice), and journals on. What is not kept: queue
messages (work in flight), SES's own copy of the emails (the outbox keeps those), and moto's control
plane (the template makes it again, as it may have changed). ``hub local --fresh`` starts empty.

When the hub runs DynamoDB Local (``hub/local/dynamodb_local.py``), DynamoDB requests never reach the
journal: the engine keeps its tables in ``.hub/data/dynamodb/`` itself. A journal written by a hub on
moto's DynamoDB is replayed into a DynamoDB Local without tables once, then kept without its DynamoDB lines.
"""

from __future__ import annotations

import base64
import io
import json
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from werkzeug.test import EnvironBuilder, run_wsgi_app

DYNAMODB_WRITES = frozenset(
    {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems",
     "ExecuteStatement", "BatchExecuteStatement", "ExecuteTransaction"}
)  # fmt: skip
SSM_WRITES = frozenset({"PutParameter", "DeleteParameter", "DeleteParameters"})
# Bucket-level sub-resources that configure the bucket: the template (and the hub) set those at start.
_S3_BUCKET_CONFIG = (
    "notification",
    "versioning",
    "policy",
    "cors",
    "lifecycle",
    "tagging",
    "acl",
    "encryption",
)
# Bytes of a body encoded at a time (a multiple of 3: the slices' base64 texts join into the whole's).
_BODY_SLICE = 3 * 256 * 1024
_UPLOAD_ID = re.compile(rb"<UploadId>([^<]+)</UploadId>")


def _is_upload_start(query: str) -> bool:
    return "uploads" in query.split("&") or query == "uploads="


def _service_of(environ: dict[str, Any]) -> str:
    credential = environ.get("HTTP_AUTHORIZATION", "")
    marker = "/aws4_request"
    if marker in credential:
        return credential.split(marker, 1)[0].rsplit("/", 1)[-1]
    return ""


def changes_data(environ: dict[str, Any]) -> bool:
    """Whether the request (a WSGI environ) writes data the journal keeps."""
    method = environ.get("REQUEST_METHOD", "GET")
    if method in ("GET", "HEAD", "OPTIONS"):
        return False
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target.startswith("DynamoDB_"):
        return target.rsplit(".", 1)[-1] in DYNAMODB_WRITES
    if target.startswith("AmazonSSM."):
        return target.rsplit(".", 1)[-1] in SSM_WRITES
    if _service_of(environ) != "s3":
        return False
    path = environ.get("PATH_INFO", "").strip("/")
    query = environ.get("QUERY_STRING", "")
    if "/" in path:  # an object: /bucket/key
        return True
    return (
        method == "POST"
        and query.split("&")[0].split("=")[0] == "delete"
        and not any(query.startswith(c) for c in _S3_BUCKET_CONFIG)
    )


def _headers(environ: dict[str, Any]) -> dict[str, str]:
    headers = {
        key[5:].replace("_", "-").title(): str(value)
        for key, value in environ.items()
        if key.startswith("HTTP_")
    }
    if environ.get("CONTENT_TYPE"):
        headers["Content-Type"] = str(environ["CONTENT_TYPE"])
    return headers


def _url(environ: dict[str, Any]) -> str:
    raw = environ.get("REQUEST_URI") or environ.get("RAW_URI")
    if not raw:
        from urllib.parse import quote

        raw = quote(environ.get("PATH_INFO", "").encode("latin-1").decode("utf-8", "replace"))
        if environ.get("QUERY_STRING"):
            raw += "?" + environ["QUERY_STRING"]
    host = (
        environ.get("HTTP_HOST")
        or f"{environ.get('SERVER_NAME', '127.0.0.1')}:{environ.get('SERVER_PORT', '80')}"
    )
    return f"{environ.get('wsgi.url_scheme', 'http')}://{host}{raw}"


class Journal:
    """Append-only, one JSON line per data-changing request (moto's recording format)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._file: io.TextIOWrapper | None = None

    @property
    def recording(self) -> bool:
        return self._file is not None

    def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("a", encoding="utf-8")

    def stop(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None

    def record(self, environ: dict[str, Any], body: bytes, answer: bytes = b"") -> None:
        entry: dict[str, Any] = {
            "headers": _headers(environ),
            "method": environ.get("REQUEST_METHOD", "POST"),
            "url": _url(environ),
            "body_encoded": True,
        }
        upload = _UPLOAD_ID.search(answer) if _is_upload_start(environ.get("QUERY_STRING", "")) else None
        if upload:  # a multipart upload's id, to map to the new one when replayed
            entry["upload_id"] = upload.group(1).decode()
        # The same JSON line as json.dumps with "body" last, written a slice at a time: an upload's 8 MiB
        # part would otherwise be held three times more as its base64 text, that text in the JSON line
        # and the line with its newline (base64 has no character JSON escapes).
        head = json.dumps(entry, separators=(",", ":"))[:-1] + ',"body":"'
        with self._lock:
            if self._file is not None:
                self._file.write(head)
                view = memoryview(body)
                for start in range(0, len(view), _BODY_SLICE):
                    self._file.write(base64.b64encode(view[start : start + _BODY_SLICE]).decode("ascii"))
                self._file.write('"}\n')
                self._file.flush()  # in the kernel's hands: a killed process loses nothing written

    def entries(self) -> Iterator[dict[str, Any]]:
        """The journal's requests, oldest first (a last line cut short by a kill is skipped)."""
        if not self.path.is_file():
            return
        with self.path.open(encoding="utf-8") as lines:
            for line in lines:
                try:
                    yield json.loads(line)
                except ValueError:
                    continue

    def replay(self, app: Callable[..., Iterable[bytes]], dynamodb: bool = True) -> int:
        """Apply every journalled request to `app` (the embedded AWS's WSGI application), in order
        (without the DynamoDB ones when not `dynamodb`: DynamoDB Local keeps its tables itself)."""
        count = 0
        uploads: dict[str, str] = {}  # a multipart upload's id when journalled -> its id now
        for entry in self.entries():
            if not dynamodb and _is_dynamodb_entry(entry):
                continue
            body = entry.get("body") or ""
            data = base64.b64decode(body) if entry.get("body_encoded") else body.encode("utf-8")
            headers = {k: v for k, v in entry.get("headers", {}).items() if k.lower() != "content-length"}
            url = str(entry["url"])
            for old, new in uploads.items():
                url = url.replace(f"uploadId={old}", f"uploadId={new}")
            builder = EnvironBuilder(method=entry["method"], path=url, headers=headers, data=data)
            try:
                environ = builder.get_environ()
            finally:
                builder.close()
            app_iter, _status, _headers_out = run_wsgi_app(app, environ, buffered=True)
            answer = b"".join(app_iter)
            if entry.get("upload_id"):
                found = _UPLOAD_ID.search(answer)
                if found:
                    uploads[entry["upload_id"]] = found.group(1).decode()
            count += 1
        return count

    def drop_dynamodb(self) -> int:
        """Leave the DynamoDB requests out of the journal (once DynamoDB Local holds the tables)."""
        if not self.path.is_file():
            return 0
        kept, dropped = [], 0
        with self.path.open(encoding="utf-8") as lines:
            for line in lines:
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                if _is_dynamodb_entry(entry):
                    dropped += 1
                else:
                    kept.append(line if line.endswith("\n") else line + "\n")
        if dropped:
            temporary = self.path.with_suffix(".tmp")
            temporary.write_text("".join(kept), encoding="utf-8")
            temporary.replace(self.path)
        return dropped


def _is_dynamodb_entry(entry: dict[str, Any]) -> bool:
    headers = {k.lower(): v for k, v in entry.get("headers", {}).items()}
    return str(headers.get("x-amz-target", "")).startswith("DynamoDB")


class JournalRecorder:
    """A WSGI layer that journals each successful data-changing request (when the journal records)."""

    def __init__(self, app: Callable[..., Iterable[bytes]], journal: Journal) -> None:
        self.app = app
        self.journal = journal

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if not self.journal.recording or not changes_data(environ):
            return self.app(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        statuses: list[str] = []

        def capture(code: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            statuses.append(code)
            return start_response(code, headers, exc_info) if exc_info else start_response(code, headers)

        answer = list(self.app(environ, capture))
        if statuses and statuses[0][:1] == "2":
            self.journal.record(environ, body, b"".join(answer))
        return answer
