"""An HTTP API (payload 2.0) answer built as powertools' resolver builds it, for a handler that answers its
route from the event data class without importing the resolver (``crm_events``, ``leads_webhook``: the
resolver and the answer models cost about a sixth of ``import boto3`` at each cold start).

The resolver stays the route's declaration (``docs/openapi.json``) and answers what the handler does not
take itself; each such handler has a test that its answers equal the resolver's, byte for byte.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.shared.json_encoder import Encoder
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2


def request_body(event: APIGatewayProxyEventV2) -> bytes:
    """The request's raw body (API Gateway base64-encodes a body it does not take for text)."""
    body = event.body or ""
    return base64.b64decode(body) if event.is_base64_encoded else body.encode("utf-8")


def http_api_answer(
    event: APIGatewayProxyEventV2,
    status: int,
    content_type: str,
    body: Any,
    headers: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """What the resolver returns for ``Response(status, content_type, body, headers)``: a JSON body that is
    not yet a string is dumped compactly (JSON values only: the resolver's encoder would turn a Decimal or a
    date otherwise than ``Encoder``), a ``Content-Type`` in ``headers`` wins, bytes go base64-encoded."""
    all_headers = dict(headers or {})
    all_headers.setdefault("Content-Type", content_type)
    if all_headers["Content-Type"].startswith("application/json") and not isinstance(body, str):
        body = json.dumps(body, separators=(",", ":"), cls=Encoder)
    encoded = isinstance(body, bytes)
    return {
        "statusCode": status,
        "body": base64.b64encode(body).decode() if encoded else body,
        "isBase64Encoded": encoded,
        **event.header_serializer().serialize(headers=all_headers, cookies=[]),
    }
