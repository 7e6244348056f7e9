"""The HTTP API on 127.0.0.1: each request becomes an API Gateway HTTP API (v2) event.

Routes come from the template. Where the template puts an authorizer on a route (a JWT
authorizer on AWS), the local hub stands in for it with the bearer token it wrote to
``.hub/local.json``; the function then sees the claims where API Gateway puts them.
"""

from __future__ import annotations

import base64
import hmac
import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from hub.local.outbox import Outbox
from hub.local.runtime import FunctionRuntime
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
    """The API Gateway HTTP API payload v2.0 event for one request."""
    split = urlsplit(raw_path)
    query: dict[str, list[str]] = {}
    for key, value in parse_qsl(split.query, keep_blank_values=True):
        query.setdefault(key, []).append(value)
    content_type = headers.get("content-type", "")
    textual = not body or any(content_type.startswith(t) for t in _TEXT_TYPES)
    now = time.time()
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": f"{route.method} {route.path}",
        "rawPath": split.path,
        "rawQueryString": split.query,
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": headers.get("host", "127.0.0.1"),
            "domainPrefix": "local",
            "http": {
                "method": method,
                "path": split.path,
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
        event["pathParameters"] = path_parameters
    if authorizer is not None:
        event["requestContext"]["authorizer"] = authorizer
    if body:
        event["body"] = body.decode("utf-8", errors="replace") if textual else base64.b64encode(body).decode()
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


class LocalApi:
    """Serves the template's routes on 127.0.0.1 until stopped."""

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
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def _serve(self) -> None:
                api.serve(self)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="local-api", daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _authorize(self, route: Route, headers: dict[str, str]) -> dict[str, Any] | bool | None:
        if route.authorizer is None:
            return None
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip(), self.api_token):
            return False
        return {"jwt": {"claims": {"sub": "local-user", "iss": "hub-local"}, "scopes": None}}

    def serve(self, request: BaseHTTPRequestHandler) -> None:
        method = request.command
        path = urlsplit(request.path).path
        headers: dict[str, str] = {}
        for key, value in request.headers.items():
            name = key.lower()
            headers[name] = f"{headers[name]},{value}" if name in headers else value
        length = int(headers.get("content-length") or 0)
        if length > MAX_PAYLOAD_BYTES:
            return self._reply(
                request, 413, {"content-type": "application/json"}, b'{"message":"Request Entity Too Large"}'
            )
        body = request.rfile.read(length) if length else b""
        if path.startswith("/_hub/") and method in ("GET", "HEAD"):
            page = self._page(path, urlsplit(request.path).query)
            if page is not None:
                return self._reply(request, *page)
        if path.startswith("/_hub/"):
            return self._control(request, method, path, headers)
        for route in self.routes:
            params = route.matches(method, path)
            if params is None:
                continue
            authorizer = self._authorize(route, headers)
            if authorizer is False:
                return self._reply(
                    request, 401, {"content-type": "application/json"}, b'{"message":"Unauthorized"}'
                )
            event = build_event(method, request.path, headers, body, route, params,
                                request.client_address[0], authorizer if isinstance(authorizer, dict) else None)  # fmt: skip
            try:
                result = self.runtime.invoke(route.function, event)
            except Exception:  # the function crashed: API Gateway answers 500
                import traceback

                traceback.print_exc()
                return self._reply(
                    request, 500, {"content-type": "application/json"}, b'{"message":"Internal Server Error"}'
                )
            status, out_headers, raw = to_http(result)
            return self._reply(request, status, out_headers, raw)
        return self._reply(request, 404, {"content-type": "application/json"}, b'{"message":"Not Found"}')

    def _page(self, path: str, query: str) -> tuple[int, dict[str, str], bytes] | None:
        """The local hub's own pages (same-origin only: they never carry CORS headers)."""
        if self.outbox is not None and path.startswith("/_hub/outbox"):
            from hub.local.pages import serve_outbox

            return serve_outbox(self.outbox, path, query)
        if path.startswith(("/_hub/docs", "/_hub/openapi.json")):
            from hub.local.pages import serve_docs

            return serve_docs(path, self.url, query)
        return None

    def _control(
        self, request: BaseHTTPRequestHandler, method: str, path: str, headers: dict[str, str]
    ) -> None:
        json_type = {"content-type": "application/json"}
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip(), self.api_token):
            return self._reply(request, 401, json_type, b'{"message":"Unauthorized"}')
        parts = path.strip("/").split("/")
        if method == "POST" and len(parts) == 3 and parts[1] in self.control:
            try:
                result = self.control[parts[1]](parts[2])
            except KeyError:
                return self._reply(
                    request, 404, json_type, json.dumps({"message": f"no {parts[1]} {parts[2]}"}).encode()
                )
            return self._reply(request, 200, json_type, json.dumps(result, default=str).encode())
        return self._reply(request, 404, json_type, b'{"message":"Not Found"}')

    @staticmethod
    def _reply(request: BaseHTTPRequestHandler, status: int, headers: dict[str, str], body: bytes) -> None:
        request.send_response(status)
        for key, value in headers.items():
            if key != "content-length":
                request.send_header(key, value)
        request.send_header("content-length", str(len(body)))
        request.end_headers()
        if request.command != "HEAD":
            request.wfile.write(body)
