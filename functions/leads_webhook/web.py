"""`POST /leads` as browsers use it: CORS for allowed origins, multipart forms, return URLs, thank-you pages.

- CORS: a page on an origin of ``cors.allowed_origins`` (config/leads.yaml) may post with ``fetch()``;
  the function answers the preflight (``OPTIONS /leads``) itself, so read routes never answer cross-origin
  (an API-wide CORS configuration on the HTTP API would apply to every route).
- Forms: ``multipart/form-data`` is decoded with the standard library's ``email`` parser; a file part is
  refused (422, naming the field). A form's hidden ``return_url`` on an allowed origin answers
  ``303 See Other`` to it; any other return URL is never followed (no open redirect). A browser form (a
  form body from a client that accepts HTML) without one gets a small thank-you page; everyone else keeps
  the JSON answers.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any, Literal
from urllib.parse import parse_qsl

from pydantic import BaseModel

from leads_webhook.submission import (
    FORM_TYPES,
    LeadParseResult,
    LeadSubmission,
    media_type,
    parse_lead_body,
    parse_lead_fields,
)
from shared.api_models import Answers, FieldErrors, json_answer, no_body, text_answer
from shared.config_schemas.leads import LeadsConfig
from shared.origins import MAX_RETURN_URL, CorsSettings
from shared.validation import FieldError

MULTIPART_TYPES = ("multipart/form-data",)
RETURN_URL_FIELD = "return_url"
ALLOWED_REQUEST_HEADERS = ("content-type", "idempotency-key")
ACCEPTED_TYPES = "application/json, application/x-www-form-urlencoded or multipart/form-data"
PAGE_SECURITY = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


class FormError(ValueError):
    """A form body the hub will not take (a file part, a broken multipart body); the 422's field errors."""

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors))


def is_form(content_type: str | None) -> bool:
    return media_type(content_type) in FORM_TYPES + MULTIPART_TYPES


def decode_multipart(body: bytes, content_type: str) -> dict[str, str]:
    """A ``multipart/form-data`` body's fields (the last value of a repeated name wins, as for urlencoded)."""
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1", "replace")
    message = BytesParser(policy=policy.HTTP).parsebytes(head + body)
    if not isinstance(message, EmailMessage) or not message.is_multipart() or not message.get_boundary():
        raise FormError(
            [FieldError("body", "is not a valid multipart/form-data body (no boundary or no parts)")]
        )
    fields: dict[str, str] = {}
    errors: list[FieldError] = []
    for part in message.iter_parts():
        if part.get_content_disposition() != "form-data":
            errors.append(FieldError("body", "every part of a multipart/form-data body must be form-data"))
            continue
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str) or not name:
            errors.append(FieldError("body", "a multipart part has no field name"))
            continue
        if part.get_param("filename", header="content-disposition") is not None:
            errors.append(FieldError(name, "file uploads are not accepted: send the field as text"))
            continue
        raw = part.get_payload(decode=True)
        charset = str(part.get_content_charset() or "utf-8")
        try:
            fields[name] = bytes(raw or b"").decode(charset)
        except (LookupError, UnicodeDecodeError):
            errors.append(FieldError(name, f"is not valid {charset} text"))
    if errors:
        raise FormError(errors)
    if message.defects and not fields:
        raise FormError([FieldError("body", "is not a valid multipart/form-data body")])
    return fields


def form_fields(body: bytes, content_type: str | None) -> dict[str, str] | None:
    """A form body's fields (None for a body that is not a form); raises `FormError` for a bad multipart."""
    kind = media_type(content_type)
    if kind in MULTIPART_TYPES:
        return decode_multipart(body, content_type or "")
    if kind in FORM_TYPES:
        try:
            return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        except UnicodeDecodeError:
            return None
    return None


def parse_post_body(body: bytes, content_type: str | None) -> LeadParseResult:
    """`leads_webhook.submission.parse_lead_body`, plus multipart forms (only an unsupported media type raises)."""
    if media_type(content_type) in MULTIPART_TYPES:
        try:
            return parse_lead_fields(decode_multipart(body, content_type or ""))
        except FormError as exc:
            return LeadParseResult(errors=exc.errors)
    return parse_lead_body(body, content_type)


# ------------------------------------------------------------------------------------------------ CORS


def cors_headers(origin: str | None, cors: CorsSettings) -> dict[str, str]:
    """What an answer to a page on `origin` carries: the origin echoed when allowed, nothing else."""
    headers = {"Vary": "Origin"}
    if cors.allows_origin_header(origin):
        headers["Access-Control-Allow-Origin"] = str(origin).strip()
    return headers


def preflight(headers: Mapping[str, str], cors: CorsSettings) -> tuple[int, dict[str, str]]:
    """The answer to ``OPTIONS /leads``: 204 with the CORS headers for an allowed origin, else 403 without."""
    lowered = {k.lower(): v for k, v in headers.items()}
    origin = lowered.get("origin")
    method = (lowered.get("access-control-request-method") or "POST").strip().upper()
    if not cors.allows_origin_header(origin) or method != "POST":
        return 403, {"Vary": "Origin"}
    return 204, {
        "Access-Control-Allow-Origin": str(origin).strip(),
        "Access-Control-Allow-Methods": "POST, OPTIONS",
        "Access-Control-Allow-Headers": ", ".join(ALLOWED_REQUEST_HEADERS),
        "Access-Control-Max-Age": str(cors.max_age_seconds),
        "Vary": "Origin",
    }


# ------------------------------------------------------------------------------------- browser answers


@dataclass(frozen=True)
class WebAnswer:
    status: int
    content_type: str
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    note: str | None = None  # what to log (a refused return URL)


def wants_html(headers: Mapping[str, str]) -> bool:
    accept = next((v for k, v in headers.items() if k.lower() == "accept"), "") or ""
    return "text/html" in accept.lower()


def shape_answer(
    status: int,
    body: dict[str, Any],
    extra_headers: Mapping[str, str],
    *,
    request_body: bytes,
    request_headers: Mapping[str, str],
    config: LeadsConfig,
) -> WebAnswer:
    """The intake's answer as the client wants it: 303 to an allowed return URL, a page, or JSON."""
    lowered = {k.lower(): v for k, v in request_headers.items()}
    headers = dict(extra_headers) | cors_headers(lowered.get("origin"), config.cors)
    content_type = lowered.get("content-type")
    if not is_form(content_type):
        return WebAnswer(status, "application/json", body, headers)
    try:
        fields = form_fields(request_body, content_type) or {}
    except FormError:
        fields = {}
    browser = wants_html(lowered)
    note = None
    if status == 202:
        return_url = (fields.get(RETURN_URL_FIELD) or "").strip()
        if return_url:
            if config.cors.allows_return_url(return_url):
                return WebAnswer(303, "text/plain", "", headers | {"Location": return_url})
            note = "return_url refused: not on an allowed origin"
        if browser:
            return WebAnswer(200, "text/html; charset=utf-8", thank_you_page(), headers | PAGE_SECURITY, note)
        return WebAnswer(status, "application/json", body, headers, note)
    if browser and status == 422:
        page = error_page(body.get("errors", []))
        return WebAnswer(422, "text/html; charset=utf-8", page, headers | PAGE_SECURITY)
    return WebAnswer(status, "application/json", body, headers)


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; background: #f5f6f8; color: #1d2433; margin: 0; }}
main {{ max-width: 32rem; margin: 12vh auto; background: #fff; padding: 2rem 2.5rem; border-radius: 12px;
       box-shadow: 0 2px 12px rgba(0,0,0,.08); }}
h1 {{ font-size: 1.5rem; margin: 0 0 .75rem; }}
p, li {{ line-height: 1.5; }}
</style></head>
<body><main>{content}</main></body></html>
"""


def thank_you_page() -> str:
    content = (
        "<h1>Thank you!</h1>"
        "<p>We have received your details. Someone from our team will be in touch soon.</p>"
        "<p>You can close this page or go back to the site you came from.</p>"
    )
    return _PAGE.format(title="Thank you", content=content)


def error_page(errors: list[dict[str, str]]) -> str:
    items = "".join(
        f"<li><strong>{html.escape(str(e.get('field', '')))}</strong> {html.escape(str(e.get('message', '')))}</li>"
        for e in errors
    )
    content = (
        "<h1>Please check the form</h1><p>Some fields need another look:</p>"
        f"<ul>{items}</ul><p>Go back, correct them and send the form again.</p>"
    )
    return _PAGE.format(title="Please check the form", content=content)


# ------------------------------------------------------------------------------- the OpenAPI contract


class LeadReceived(BaseModel):
    lead_id: str
    status: Literal["received"]


def lead_form_schema() -> dict[str, Any]:
    """The fields `POST /leads` reads (`leads_webhook.submission.LeadSubmission`), plus the form's `return_url`."""
    schema = LeadSubmission.model_json_schema(mode="validation")
    schema["title"] = "LeadForm"
    schema["properties"][RETURN_URL_FIELD] = {
        "type": "string",
        "maxLength": MAX_RETURN_URL,
        "description": "forms only: where to send the visitor (303), on an allowed origin; never followed elsewhere",
    }
    return schema


def post_leads_openapi() -> dict[str, Any]:
    """The route's request body, declared on the resolver (the body is read raw: JSON, form or multipart)."""
    schema = lead_form_schema()
    example = {"email": "jane@example.com", "first_name": "Jane", "company": "Acme Robotics", "country": "US",
               "marketing_opt_in": True}  # fmt: skip
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": schema, "example": example},
                "application/x-www-form-urlencoded": {"schema": schema, "example": example},
                "multipart/form-data": {"schema": schema},
            },
        }
    }


POST_LEADS_RESPONSES: Answers = {
    202: json_answer(LeadReceived, "Received (new, merged, or held in quarantine: the answer is the same)"),
    200: text_answer("A browser form without a return URL: the thank-you page", "text/html"),
    303: no_body("A form with a return URL on an allowed origin: See Other, to it"),
    401: json_answer(FieldErrors, "A signature that does not verify"),
    413: json_answer(FieldErrors, "A body over max_body_bytes (64 KiB)"),
    415: json_answer(FieldErrors, "Another content type"),
    422: json_answer(FieldErrors, "Bad fields, each named (an HTML page for a browser form)"),
    429: json_answer(FieldErrors, "Too many submissions from one client (Retry-After)"),
}
PREFLIGHT_RESPONSES: Answers = {
    204: no_body("An allowed origin: the CORS headers"),
    403: no_body("Any other origin or method: no CORS headers"),
}
