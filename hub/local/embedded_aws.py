"""The embedded AWS: moto's server on 127.0.0.1, with DynamoDB requests applied one at a time.

DynamoDB applies each request atomically, which is what conditional writes rely on. moto's
server handles requests on parallel threads and its DynamoDB backend does not lock, so two
conditional writes racing through it could both succeed. The local hub therefore serialises
DynamoDB requests (and only those) in front of moto's WSGI application.

When the hub runs DynamoDB Local (``hub/local/dynamodb_local.py``), DynamoDB and DynamoDB Streams
requests go to it instead (``DynamoDBForwarder``, in front of the lock and the journal: the engine keeps
its own tables on disk, so they are not journalled); moto serves everything else.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

from hub.local.dynamodb_local import DynamoDBForwarder
from hub.local.journal import Journal, JournalRecorder
from hub.local.outbox import Outbox, OutboxRecorder


class AtomicDynamoDB:
    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB"):
            with self.lock:
                return list(self.app(environ, start_response))
        return self.app(environ, start_response)


class LargeBodiesInTurn:
    """Requests that carry a large body (S3 uploads: ``upload_file`` sends ten 8 MiB parts at once) are
    let through ``at_once`` at a time. Each is held in memory several times over on its way through
    moto and the journal (the body, moto's copy and its spooled buffer, the journal's base64 text, JSON
    line and encoded line: about 80 MiB for an 8 MiB part), so ten in parallel cost the hub half a GiB
    for a 100 MB file, and even two cost it twice what a small file's one large part does (measured:
    the hub 2 at a time peaked ~70-170 MiB higher during a 1,000,000-line upload than 1 at a time). One
    at a time, the hub's peak is one part's, whatever the file's size. Throughput hardly changes: moto
    handles them under one interpreter lock anyway (a 85 MiB upload took 3.4-4.4 s either way)."""

    def __init__(self, app: Callable[..., Iterable[bytes]], at_once: int = 1, large: int = 1 << 20) -> None:
        self.app = app
        self.large = large
        self.gate = threading.BoundedSemaphore(at_once)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if int(environ.get("CONTENT_LENGTH") or 0) < self.large or environ.get("HTTP_X_AMZ_TARGET"):
            return self.app(environ, start_response)
        with self.gate:
            return list(self.app(environ, start_response))


class EmbeddedAws:
    """moto's server; the journal (inside the DynamoDB lock, so it keeps DynamoDB's order) and the outbox.

    With ``dynamodb_port``, DynamoDB and its streams are DynamoDB Local's on that port (``inner`` then
    forwards them too, so a journal replayed into it sends old DynamoDB writes there)."""

    def __init__(self, port: int, outbox: Outbox | None = None, journal: Journal | None = None,
                 dynamodb_port: int | None = None) -> None:  # fmt: skip
        app: Callable[..., Iterable[bytes]] = DomainDispatcherApplication(create_backend_app)
        if journal is not None:
            app = JournalRecorder(app, journal)
        self.inner: Callable[..., Iterable[bytes]] = AtomicDynamoDB(app)
        if dynamodb_port is not None:
            self.inner = DynamoDBForwarder(self.inner, dynamodb_port)
        app = LargeBodiesInTurn(self.inner)
        if outbox is not None:
            app = OutboxRecorder(app, outbox)
        self.server = make_server("127.0.0.1", port, app, threaded=True, request_handler=MotoRequestHandler)
        self.thread = threading.Thread(target=self.server.serve_forever, name="embedded-aws", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
