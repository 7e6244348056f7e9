"""The local hub's HTTP server speaks HTTP/1.1 (waitress): chunked bodies, bad lengths
answered 400, raw bytes handed to the function untouched, path parameters decoded as API Gateway does."""

from __future__ import annotations

import base64
import io
import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from hub.local.api import LocalApi
from hub.local.template import HubTemplate


class RecordingRuntime:
    """Stands in for the functions: keeps each event and answers 200 with what it saw."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def invoke(self, logical_id: str, event: dict[str, Any]) -> dict[str, Any]:
        self.events.append(event)
        return {"statusCode": 200, "headers": {"content-type": "application/json"},
                "body": json.dumps({"function": logical_id})}  # fmt: skip


@pytest.fixture
def api() -> Iterator[tuple[LocalApi, RecordingRuntime]]:
    runtime = RecordingRuntime()
    local = LocalApi(HubTemplate().routes(), runtime, "token-1")  # type: ignore[arg-type]
    local.start()
    yield local, runtime
    local.stop()


def exchange(api: LocalApi, raw: bytes, *, timeout: float = 5.0) -> bytes:
    """Send raw bytes, read until the server closes or stops sending."""
    port = int(api.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn:
        conn.sendall(raw)
        chunks = []
        try:
            while True:
                data = conn.recv(65536)
                if not data:
                    break
                chunks.append(data)
                if b"\r\n\r\n" in b"".join(chunks) and _complete(b"".join(chunks)):
                    break
        except TimeoutError:
            pass
    return b"".join(chunks)


def _complete(data: bytes) -> bool:
    head, _, body = data.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(body) >= int(line.split(b":", 1)[1])
    return False


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def test_a_chunked_body_reaches_the_function_whole(api):
    local, runtime = api
    body = b'{"email": "chunk@example.com"}'
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (body[:10], body[10:])) + b"0\r\n\r\n"
    answer = exchange(local, b"POST /leads HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                             b"Transfer-Encoding: chunked\r\n\r\n" + chunked)  # fmt: skip
    assert status_of(answer) == 200
    (event,) = runtime.events
    assert event["body"].encode() == body
    assert "transfer-encoding" not in event["headers"]


@pytest.mark.parametrize("length", [b"abc", b"-1", b"1e3", b""])
def test_a_bad_content_length_is_answered_400_at_once(api, length):
    local, runtime = api
    started = time.monotonic()
    answer = exchange(local, b"POST /leads HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                             b"Content-Length: " + length + b"\r\n\r\n{}")  # fmt: skip
    assert time.monotonic() - started < 3
    if length == b"":
        assert status_of(answer) in (200, 400)  # an empty header: no body, as if absent
        return
    assert status_of(answer) == 400
    assert runtime.events == []


def test_a_body_over_the_limit_is_413_without_reading_it(api):
    local, _ = api
    answer = exchange(local, b"POST /leads HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999\r\n\r\n{}")
    assert status_of(answer) == 413


def test_invalid_utf8_reaches_the_function_as_the_bytes_sent(api):
    local, runtime = api
    body = b'{"name": "\xff\xfe caf\xe9"}'
    answer = exchange(local, b"POST /events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                             b"Content-Length: %d\r\n\r\n%s" % (len(body), body))  # fmt: skip
    assert status_of(answer) == 200
    (event,) = runtime.events
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == body


def test_keep_alive_serves_two_requests_on_one_connection(api):
    local, runtime = api
    one = b"POST /leads HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
    port = int(local.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        for _ in range(2):
            conn.sendall(one)
            data = b""
            while not _complete(data):
                data += conn.recv(65536)
            assert status_of(data) == 200
    assert len(runtime.events) == 2


def test_path_parameters_are_decoded_and_the_route_matched_on_the_encoded_path(api):
    local, runtime = api
    answer = exchange(local, b"GET /opportunities/OPP%2FSLASH%40x%3Ay HTTP/1.1\r\nHost: x\r\n"
                             b"Authorization: Bearer token-1\r\n\r\n")  # fmt: skip
    assert status_of(answer) == 200
    (event,) = runtime.events
    assert event["pathParameters"] == {"opportunity_id": "OPP/SLASH@x:y"}
    assert event["rawPath"] == "/opportunities/OPP/SLASH@x:y"


def test_dynamodb_requests_from_many_threads_reuse_the_engines_kept_alive_connections():
    """The forwarder keeps idle connections to the engine for any thread (the hub's server starts a
    thread for each connection it accepts), and passes each answer through as it came."""
    import http.server
    import socketserver
    import threading

    from hub.local.dynamodb_local import DynamoDBForwarder

    accepted: list[object] = []

    class Engine(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            accepted.append(self.client_address)
            super().setup()

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            answer = b'{"echo":' + body + b"}"
            self.send_response(200)
            self.send_header("Content-Length", str(len(answer)))
            self.send_header("X-Amz-Crc32", "1")
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args: object) -> None:
            pass

    class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
        daemon_threads = True

    server = Server(("127.0.0.1", 0), Engine)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    forwarder = DynamoDBForwarder(lambda environ, start: [b"not dynamodb"], server.server_address[1])
    answers: list[tuple[str, bytes]] = []

    def one(number: int) -> None:
        body = str(number).encode()
        environ = {
            "REQUEST_METHOD": "POST", "PATH_INFO": "/", "CONTENT_LENGTH": str(len(body)),
            "wsgi.input": io.BytesIO(body), "HTTP_X_AMZ_TARGET": "DynamoDB_20120810.GetItem",
            "CONTENT_TYPE": "application/x-amz-json-1.0",
        }  # fmt: skip
        statuses: list[str] = []
        data = b"".join(forwarder(environ, lambda status, headers: statuses.append(status)))
        answers.append((statuses[0], data))

    try:
        for number in range(20):  # one after another, each on a thread of its own
            thread = threading.Thread(target=one, args=(number,))
            thread.start()
            thread.join()
    finally:
        server.shutdown()
        server.server_close()
    assert answers == [("200 OK", b'{"echo":%d}' % n) for n in range(20)]
    assert len(accepted) == 1


def test_stopping_the_server_ends_its_thread_without_an_error_in_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    # the server thread's exceptions, which would otherwise only be printed (as one was on Ctrl-C)
    errors: list[BaseException | None] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: errors.append(args.exc_value))
    routes = HubTemplate().routes()
    # a race: stopped 40 times, each after a request, the loop's sockets were closed under its select()
    # in about 1 run in 10 (EBADF in thread local-api)
    for _ in range(40):
        local = LocalApi(routes, RecordingRuntime(), "token-1")  # type: ignore[arg-type]
        local.start()
        assert exchange(local, b"GET /nope HTTP/1.1\r\nHost: hub\r\nContent-Length: abc\r\n\r\n").startswith(
            b"HTTP/1.1 400"
        )
        local.stop()
        assert not local.thread.is_alive()
    assert errors == []
