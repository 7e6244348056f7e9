"""An HTTP API (payload 2.0) request read and its answer built as powertools' ``APIGatewayProxyEventV2`` and
resolver read and build them, for a handler that answers its route without importing the resolver
(``crm_events``, ``leads_webhook``: the resolver and the answer models cost about a sixth of ``import boto3``
at each cold start) nor the data class package (``HttpRequest``: importing any one of powertools' event data
classes runs that package's ``__init__``, which imports all 35 event sources' modules, about a ninth).

The resolver stays the route's declaration (``docs/openapi.json``) and answers what the handler does not
take itself; each such handler has a test that its answers equal the resolver's, byte for byte.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.shared.headers_serializer import HttpApiHeadersSerializer
from aws_lambda_powertools.shared.json_encoder import Encoder


class HttpRequest:
    """What a handler reads of an HTTP API (payload 2.0) event, as ``APIGatewayProxyEventV2`` reads it."""

    __slots__ = ("event",)

    def __init__(self, event: Mapping[str, Any]) -> None:
        self.event = event

    @property
    def http_method(self) -> str:
        return str(self.event["requestContext"]["http"]["method"])

    @property
    def path(self) -> str:
        """The raw path without the stage's prefix (none on the ``$default`` stage)."""
        stage, raw = self.event["requestContext"]["stage"], str(self.event["rawPath"])
        return raw[len("/" + stage) :] if stage != "$default" else raw

    @property
    def headers(self) -> dict[str, str]:
        """Names in lower case, as the data class's ``CaseInsensitiveDict`` holds them (API Gateway v2 sends
        them so; a test's event may not)."""
        return {str(k).lower(): v for k, v in (self.event.get("headers") or {}).items()}

    @property
    def body(self) -> str | None:
        return self.event.get("body")

    @property
    def is_base64_encoded(self) -> bool | None:
        return self.event.get("isBase64Encoded")

    @property
    def source_ip(self) -> str:
        return str(self.event["requestContext"]["http"]["sourceIp"])


def request_body(event: HttpRequest) -> bytes:
    """The request's raw body (API Gateway base64-encodes a body it does not take for text)."""
    body = event.body or ""
    return base64.b64decode(body) if event.is_base64_encoded else body.encode("utf-8")


def http_api_answer(
    event: HttpRequest,
    status: int,
    content_type: str,
    body: Any,
    headers: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """What the resolver returns for ``Response(status, content_type, body, headers)``: a JSON body that is
    not yet a string is dumped compactly (JSON values only: the resolver's encoder would turn a Decimal or a
    date otherwise than ``Encoder``), a ``Content-Type`` in ``headers`` wins, bytes go base64-encoded."""
    all_headers: dict[str, str | list[str]] = dict(headers or {})
    answer_type = str(all_headers.setdefault("Content-Type", content_type))
    if answer_type.startswith("application/json") and not isinstance(body, str):
        body = json.dumps(body, separators=(",", ":"), cls=Encoder)
    encoded = isinstance(body, bytes)
    return {
        "statusCode": status,
        "body": base64.b64encode(body).decode() if encoded else body,
        "isBase64Encoded": encoded,
        **HttpApiHeadersSerializer().serialize(headers=all_headers, cookies=[]),
    }
