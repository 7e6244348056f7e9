"""A lead submission: the model, parsing of form bodies, and normalisation.

`LeadSubmission` (in ``shared.lead_submission``: MailChimp's webhooks check with it too) is what crosses the
boundary (a form post, a signed landing-page post, a trade-show row);
`NormalisedLead` is the view the intake and the routing work with. Every parse path returns a
`LeadParseResult`: a submission, or the list of `FieldError` naming every bad field.

Form timing (spam signal), optional, documented in docs/data-model.md:
- `form_rendered_at`: when the page rendered the form, as unix seconds or an ISO 8601 time (best set by
  the server that renders the page, e.g. in a hidden field);
- `form_elapsed_ms`: milliseconds the page itself measured between rendering and submitting.
Either one lets the spam check quarantine a form submitted faster than a person can fill it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

from pydantic import ConfigDict, ValidationError

from shared.config_schemas.leads import LeadsConfig
from shared.lead_submission import (
    FIELD_LIMITS,
    FORM_TYPES,
    JSON_TYPES,
    LeadSubmission,
    normalise_phone,
    state_code,
)
from shared.leads import LeadFields, email_key
from shared.validation import FieldError, field_errors

# The model and its checks are shared with MailChimp's webhooks (``shared.lead_submission``).
__all__ = [
    "FIELD_LIMITS",
    "FORM_TYPES",
    "JSON_TYPES",
    "LeadDetails",
    "LeadParseResult",
    "LeadSubmission",
    "NormalisedLead",
    "UnsupportedMediaTypeError",
    "media_type",
    "normalise_lead",
    "normalise_phone",
    "parse_lead_body",
    "parse_lead_fields",
    "state_code",
]


@dataclass(frozen=True)
class LeadParseResult:
    submission: LeadSubmission | None = None
    errors: list[FieldError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.submission is not None


class UnsupportedMediaTypeError(ValueError):
    """The body is neither JSON nor an urlencoded form (the handler answers 415)."""


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def parse_lead_fields(fields: Mapping[str, Any]) -> LeadParseResult:
    """Validate already-decoded fields (a JSON object, a form, a CSV row)."""
    try:
        return LeadParseResult(submission=LeadSubmission.model_validate(dict(fields)))
    except ValidationError as exc:
        return LeadParseResult(errors=field_errors(exc))


def parse_lead_body(body: bytes | str, content_type: str | None) -> LeadParseResult:
    """Decode and validate a `POST /leads` body; only an unsupported media type raises."""
    kind = media_type(content_type)
    if kind not in JSON_TYPES + FORM_TYPES:
        raise UnsupportedMediaTypeError(kind or "missing content type")
    try:
        text = body.decode("utf-8") if isinstance(body, bytes) else body
    except UnicodeDecodeError:
        return LeadParseResult(errors=[FieldError("body", "is not valid UTF-8")])
    if kind in FORM_TYPES:
        # The last value of a repeated name wins (the hidden-field-plus-checkbox pattern).
        return parse_lead_fields(dict(parse_qsl(text, keep_blank_values=True)))
    try:
        data = json.loads(text, parse_float=Decimal) if text.strip() else None
    except (ValueError, RecursionError):
        return LeadParseResult(errors=[FieldError("body", "is not valid JSON")])
    if not isinstance(data, dict):
        return LeadParseResult(errors=[FieldError("body", "must be a JSON object")])
    return parse_lead_fields(data)


# ------------------------------------------------------------------------------------------ normalised


class LeadDetails(LeadFields):
    """What the hub knows of a person, normalised; shared by `NormalisedLead` and the stored lead.

    The fields are ``shared.leads.LeadFields`` (the CRM store's lead record takes the same)."""

    # Built at import, as a model the intake validates on every request.
    model_config = ConfigDict(frozen=True, defer_build=False)

    @property
    def segments(self) -> dict[str, str]:
        found = {"employee_band": self.employee_band, "revenue_band": self.revenue_band}
        return {k: v for k, v in found.items() if v is not None}


class NormalisedLead(LeadDetails):
    """One submission as the hub works with it: identity, E.164 phone, ISO country, segment bands."""

    email_key: str
    email_domain: str
    phone_valid: bool = False


def normalise_lead(submission: LeadSubmission, config: LeadsConfig) -> NormalisedLead:
    key = email_key(submission.email)
    phone, phone_valid = normalise_phone(submission.phone, submission.country)
    data = submission.model_dump(exclude={"website", "form_rendered_at", "form_elapsed_ms"})
    data.update(
        email=key,
        email_key=key,
        email_domain=key.rpartition("@")[2],
        phone=phone,
        phone_raw=submission.phone,
        phone_valid=phone_valid,
        employee_band=config.employee_band(submission.employees),
        revenue_band=config.revenue_band(submission.annual_revenue),
    )
    return NormalisedLead.model_validate(data)
