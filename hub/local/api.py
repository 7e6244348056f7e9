"""The HTTP API on 127.0.0.1: each request becomes an API Gateway HTTP API (v2) event.

Routes come from the template. Where the template puts an authorizer on a route (a JWT
authorizer on AWS), the local hub stands in for it with the bearer token it wrote to
``.hub/local.json``; the function then sees the claims where API Gateway puts them.
"""

from __future__ import annotations

import base64
import hmac
import json
import logging
import threading
import time
import traceback
import uuid
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from waitress import wasyncore
from waitress.server import create_server

from hub.local.outbox import Outbox
from hub.local.runtime import FunctionRuntime
from hub.local.schedules import UnknownSchedule
from hub.local.template import Route

MAX_PAYLOAD_BYTES = 10 * 1024 * 1024  # API Gateway's own limit on a request body
_TEXT_TYPES = ("application/json", "application/x-www-form-urlencoded", "text/", "application/xml")


def build_event(
    method: str,
    raw_path: str,
    headers: dict[str, str],
    body: bytes,
    route: Route,
    path_parameters: dict[str, str],
    source_ip: str,
    authorizer: dict[str, Any] | None,
) -> dict[str, Any]:
    """The API Gateway HTTP API payload v2.0 event for one request.

    As API Gateway does: the route was matched on the path as sent; ``pathParameters`` and ``rawPath``
    are URL-decoded (``OPP%2FSLASH`` -> ``OPP/SLASH``); the query string stays as sent."""
    split = urlsplit(raw_path)
    decoded_path = unquote(split.path)
    query: dict[str, list[str]] = {}
    for key, value in parse_qsl(split.query, keep_blank_values=True):
        query.setdefault(key, []).append(value)
    content_type = headers.get("content-type", "")
    textual = not body or any(content_type.startswith(t) for t in _TEXT_TYPES)
    if textual and body:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            textual = False  # not text after all: base64, so the function gets the very bytes sent
    now = time.time()
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": f"{route.method} {route.path}",
        "rawPath": decoded_path,
        "rawQueryString": split.query,
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": headers.get("host", "127.0.0.1"),
            "domainPrefix": "local",
            "http": {
                "method": method,
                "path": decoded_path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": uuid.uuid4().hex,
            "routeKey": f"{route.method} {route.path}",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": not textual,
    }
    if query:
        event["queryStringParameters"] = {k: ",".join(v) for k, v in query.items()}
    if path_parameters:
        event["pathParameters"] = {name: unquote(value) for name, value in path_parameters.items()}
    if authorizer is not None:
        event["requestContext"]["authorizer"] = authorizer
    if body:
        event["body"] = text if textual else base64.b64encode(body).decode()
    if "cookie" in headers:
        event["cookies"] = [c.strip() for c in headers["cookie"].split(";")]
    return event


def to_http(result: Any) -> tuple[int, dict[str, str], bytes]:
    """A function's answer as API Gateway turns it into an HTTP response (payload v2.0 rules)."""
    if not isinstance(result, dict) or "statusCode" not in result:
        return 200, {"content-type": "application/json"}, json.dumps(result).encode()
    headers = {k.lower(): str(v) for k, v in (result.get("headers") or {}).items()}
    for name, values in (result.get("multiValueHeaders") or {}).items():
        headers[name.lower()] = ", ".join(map(str, values))
    body = result.get("body") or ""
    raw = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode()
    return int(result["statusCode"]), headers, raw


Reply = tuple[int, dict[str, str], bytes]
_JSON = {"content-type": "application/json"}


def request_headers(environ: dict[str, Any]) -> dict[str, str]:
    """Lower-cased header names, repeated headers joined with commas (as API Gateway does)."""
    headers: dict[str, str] = {}
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            name = key[5:].replace("_", "-").lower()
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            name = key.replace("_", "-").lower()
        else:
            continue
        if name == "transfer-encoding":
            continue  # the function sees the body as API Gateway hands it over, not how it travelled
        # WSGI carries header values as latin-1 text: back to the bytes sent, read as UTF-8 where they are.
        headers[name] = value.encode("latin-1").decode("utf-8", errors="replace")
    return headers


class LocalApi:
    """Serves the template's routes on 127.0.0.1 until stopped; each request becomes an API Gateway
    HTTP API event.

    The HTTP is waitress's (a production WSGI server): HTTP/1.1 with keep-alive and pipelining,
    chunked request bodies de-chunked, a ``Content-Length`` that is not a number answered 400, a body
    over API Gateway's 10 MiB answered 413, and the body handed over as the bytes that were sent."""

    def __init__(
        self,
        routes: list[Route],
        runtime: FunctionRuntime,
        api_token: str,
        port: int = 0,
        outbox: Outbox | None = None,
    ) -> None:
        self.routes = routes
        self.runtime = runtime
        self.api_token = api_token
        self.outbox = outbox
        # Operator controls of the local hub itself (``hub tick NAME``), behind the api token.
        self.control: dict[str, Any] = {}
        logging.getLogger("waitress").setLevel(logging.ERROR)  # no queue-depth chatter
        self.server: Any = create_server(
            self.wsgi,
            host="127.0.0.1",
            port=port,
            threads=8,
            max_request_body_size=MAX_PAYLOAD_BYTES,
            channel_timeout=30,  # a client that stops sending mid-body is dropped, not waited on
            ident="hub-local",
            expose_tracebacks=False,
        )
        self.thread = threading.Thread(target=self.server.run, name="local-api", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.effective_port}"

    def start(self) -> None:
        self.thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        """Stop taking requests; requests in flight get ``timeout`` seconds to finish."""
        self.server.task_dispatcher.shutdown(cancel_pending=True, timeout=timeout)
        if not self.thread.is_alive():
            wasyncore.close_all(self.server._map)
            return
        # An empty map ends the server's loop. The sockets are closed by the loop's own thread (a thunk
        # its trigger runs): closed from here, one could go while the loop waits on it in select(), which
        # then fails with EBADF in the server thread.
        self.server.trigger.pull_trigger(lambda: wasyncore.close_all(self.server._map))
        self.thread.join(timeout=timeout)

    def wsgi(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        method = str(environ["REQUEST_METHOD"]).upper()
        # The path as sent (still percent-encoded): routes match on it, as API Gateway's do.
        raw_uri = str(environ.get("REQUEST_URI") or "/").encode("latin-1").decode(errors="replace")
        body = environ["wsgi.input"].read()  # the bytes sent (de-chunked), untouched
        status, out_headers, raw = self.handle(
            method, raw_uri, request_headers(environ), body, str(environ.get("REMOTE_ADDR", ""))
        )
        out_headers = {
            k: v for k, v in out_headers.items() if k.lower() not in ("content-length", "connection")
        }
        out_headers["content-length"] = str(len(raw))
        start_response(_status_line(status), list(out_headers.items()))
        return [b"" if method == "HEAD" else raw]

    def _authorize(self, route: Route, headers: dict[str, str]) -> dict[str, Any] | bool | None:
        if route.authorizer is None:
            return None
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip(), self.api_token):
            return False
        return {"jwt": {"claims": {"sub": "local-user", "iss": "hub-local"}, "scopes": None}}

    def handle(
        self, method: str, raw_uri: str, headers: dict[str, str], body: bytes, source_ip: str
    ) -> Reply:
        """One request: the hub's own controls, else the template's route, else 404."""
        path = urlsplit(raw_uri).path
        if path.startswith("/_hub/") and method in ("GET", "HEAD"):
            page = self._page(path, urlsplit(raw_uri).query)
            if page is not None:
                return page
        if path.startswith("/_hub/"):
            return self._control(method, path, headers)
        for route in self.routes:
            params = route.matches(method, path)
            if params is None:
                continue
            authorizer = self._authorize(route, headers)
            if authorizer is False:
                return 401, dict(_JSON), b'{"message":"Unauthorized"}'
            event = build_event(method, raw_uri, headers, body, route, params, source_ip,
                                authorizer if isinstance(authorizer, dict) else None)  # fmt: skip
            try:
                result = self.runtime.invoke(route.function, event)
            except Exception:  # the function crashed: API Gateway answers 500
                traceback.print_exc()
                return 500, dict(_JSON), b'{"message":"Internal Server Error"}'
            return to_http(result)
        return 404, dict(_JSON), b'{"message":"Not Found"}'

    def _page(self, path: str, query: str) -> tuple[int, dict[str, str], bytes] | None:
        """The local hub's own pages (same-origin only: they never carry CORS headers)."""
        if self.outbox is not None and path.startswith("/_hub/outbox"):
            from hub.local.pages import serve_outbox

            return serve_outbox(self.outbox, path, query)
        if path.startswith(("/_hub/docs", "/_hub/openapi.json")):
            from hub.local.pages import serve_docs

            return serve_docs(path, self.url, query)
        return None

    def _control(self, method: str, path: str, headers: dict[str, str]) -> Reply:
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip(), self.api_token):
            return 401, dict(_JSON), b'{"message":"Unauthorized"}'
        parts = path.strip("/").split("/")
        if method == "POST" and len(parts) == 3 and parts[1] in self.control:
            try:
                result = self.control[parts[1]](parts[2])
            except UnknownSchedule:
                return 404, dict(_JSON), json.dumps({"message": f"no {parts[1]} {parts[2]}"}).encode()
            except Exception as error:  # the function the control ran failed: say how, not that it is missing
                traceback.print_exc()
                message = f"{parts[1]} {parts[2]} failed: {type(error).__name__}: {error}"
                return 500, dict(_JSON), json.dumps({"message": message}).encode()
            return 200, dict(_JSON), json.dumps(result, default=str).encode()
        return 404, dict(_JSON), b'{"message":"Not Found"}'


def _status_line(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"{status} Unknown"
