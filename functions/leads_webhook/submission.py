"""A lead submission: the model, parsing of form bodies, and normalisation.

`LeadSubmission` is what crosses the boundary (a form post, a signed landing-page post, a trade-show row);
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
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from shared.config_schemas.leads import LeadsConfig
from shared.countries import country_code
from shared.leads import email_key
from shared.validation import FieldError, field_errors

# Maximum length of each text field, in characters, after trimming.
FIELD_LIMITS: dict[str, int] = {
    "email": 254,
    "first_name": 100,
    "last_name": 100,
    "company": 200,
    "title": 150,
    "phone": 40,
    "country": 80,
    "state": 100,
    "postal_code": 20,
    "industry": 100,
    "product_interest": 100,
    "campaign": 200,
    "utm_source": 200,
    "utm_medium": 200,
    "utm_campaign": 200,
    "message": 5000,
    "website": 500,
}
MULTILINE_FIELDS = frozenset({"message"})
FORM_TRUE = frozenset({"on", "true", "1", "yes", "y", "t", "checked"})
FORM_FALSE = frozenset({"off", "false", "0", "no", "n", "f", ""})
JSON_TYPES = ("application/json",)
FORM_TYPES = ("application/x-www-form-urlencoded",)

_EMAIL_RE = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+"
    r"[A-Za-z]{2,63}$"
)
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f\u2028\u2029\u0085]+")
_MULTILINE_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]+")
_NUMBER_NOISE_RE = re.compile(r"[\s,_$]")


# ----------------------------------------------------------------------------------------- submission


def _clean_text(name: str, value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise ValueError("must be text")
    text = unicodedata.normalize("NFC", str(value))
    if name in MULTILINE_FIELDS:
        text = _MULTILINE_CONTROL_RE.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    else:
        text = " ".join(_CONTROL_RE.sub(" ", text).split())
    text = text.strip()
    return text or None


def _number_text(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("must be a number, not a boolean")
    if isinstance(value, str):
        value = _NUMBER_NOISE_RE.sub("", value)
        return value or None
    return value


def state_code(country: str | None, value: str | None) -> str | None:
    """The subdivision's short code ("CA" for California in the US) where it is known, else the text."""
    if value is None or country is None:
        return value
    subdivisions = _subdivisions(country)
    return subdivisions.get(value.strip().lower(), value)


@lru_cache(maxsize=64)
def _subdivisions(country: str) -> dict[str, str]:
    import pycountry  # on first use: its tables are large (cold start)

    found: dict[str, str] = {}
    for sub in pycountry.subdivisions.get(country_code=country) or []:
        short = sub.code.split("-", 1)[1]
        found[sub.name.lower()] = short
        found[short.lower()] = short
    return found


class LeadSubmission(BaseModel):
    """One submission of the public lead form, checked field by field (unknown fields are ignored)."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True, frozen=True)

    email: str = Field(max_length=FIELD_LIMITS["email"])
    first_name: str | None = Field(default=None, max_length=FIELD_LIMITS["first_name"])
    last_name: str | None = Field(default=None, max_length=FIELD_LIMITS["last_name"])
    company: str | None = Field(default=None, max_length=FIELD_LIMITS["company"])
    title: str | None = Field(default=None, max_length=FIELD_LIMITS["title"])
    phone: str | None = Field(default=None, max_length=FIELD_LIMITS["phone"])
    country: str | None = Field(default=None, max_length=FIELD_LIMITS["country"])
    state: str | None = Field(default=None, max_length=FIELD_LIMITS["state"])
    postal_code: str | None = Field(default=None, max_length=FIELD_LIMITS["postal_code"])
    employees: int | None = Field(default=None, ge=0, le=10_000_000)
    annual_revenue: Decimal | None = Field(default=None, ge=0, le=Decimal("1e15"), allow_inf_nan=False)
    industry: str | None = Field(default=None, max_length=FIELD_LIMITS["industry"])
    product_interest: str | None = Field(default=None, max_length=FIELD_LIMITS["product_interest"])
    campaign: str | None = Field(default=None, max_length=FIELD_LIMITS["campaign"])
    utm_source: str | None = Field(default=None, max_length=FIELD_LIMITS["utm_source"])
    utm_medium: str | None = Field(default=None, max_length=FIELD_LIMITS["utm_medium"])
    utm_campaign: str | None = Field(default=None, max_length=FIELD_LIMITS["utm_campaign"])
    message: str | None = Field(default=None, max_length=FIELD_LIMITS["message"])
    marketing_opt_in: bool | None = None
    website: str | None = Field(default=None, max_length=FIELD_LIMITS["website"])
    form_rendered_at: datetime | None = None
    form_elapsed_ms: int | None = Field(default=None, ge=0, le=10 * 24 * 3600 * 1000)

    @field_validator(*FIELD_LIMITS, mode="before")
    @classmethod
    def _text(cls, value: Any, info: ValidationInfo) -> str | None:
        text = _clean_text(str(info.field_name), value)
        if text is None and info.field_name == "email":
            raise ValueError("is required")
        return text

    @field_validator("email")
    @classmethod
    def _email_shape(cls, value: str) -> str:
        local, _, _domain = value.rpartition("@")
        if not _EMAIL_RE.match(value) or len(local) > 64 or ".." in value or local.startswith("."):
            raise ValueError("is not a valid email address")
        return value

    @field_validator("country")
    @classmethod
    def _country(cls, value: str | None) -> str | None:
        return None if value is None else country_code(value)

    @field_validator("employees", "annual_revenue", "form_elapsed_ms", mode="before")
    @classmethod
    def _numbers(cls, value: Any) -> Any:
        return _number_text(value)

    @field_validator("marketing_opt_in", mode="before")
    @classmethod
    def _form_bool(cls, value: Any) -> bool | None:
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, int | float) and value in (0, 1):
            return bool(value)
        if isinstance(value, str):
            text = value.strip().lower()
            if text in FORM_TRUE:
                return True
            if text in FORM_FALSE:
                return None if text == "" else False
        raise ValueError("must be a boolean (true/false, on/off, 1/0, yes/no)")

    @field_validator("form_rendered_at", mode="before")
    @classmethod
    def _rendered_at(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError("must be unix seconds or an ISO 8601 time")
        if isinstance(value, str):
            value = value.strip() or None
            if value is not None and re.fullmatch(r"\d+(\.\d+)?", value):
                return float(value)
        return value

    @field_validator("form_rendered_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value

    @model_validator(mode="after")
    def _state_for_country(self) -> LeadSubmission:
        if self.state is not None and self.country is not None:
            object.__setattr__(self, "state", state_code(self.country, self.state))
        return self


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


class LeadDetails(BaseModel):
    """What the hub knows of a person, normalised; shared by `NormalisedLead` and the stored lead."""

    model_config = ConfigDict(frozen=True)

    email: str
    first_name: str | None = None
    last_name: str | None = None
    company: str | None = None
    title: str | None = None
    phone: str | None = None
    phone_raw: str | None = None
    country: str | None = None
    state: str | None = None
    postal_code: str | None = None
    employees: int | None = None
    employee_band: str | None = None
    annual_revenue: Decimal | None = None
    revenue_band: str | None = None
    industry: str | None = None
    product_interest: str | None = None
    campaign: str | None = None
    utm_source: str | None = None
    utm_medium: str | None = None
    utm_campaign: str | None = None
    message: str | None = None
    marketing_opt_in: bool | None = None

    @property
    def segments(self) -> dict[str, str]:
        found = {"employee_band": self.employee_band, "revenue_band": self.revenue_band}
        return {k: v for k, v in found.items() if v is not None}


class NormalisedLead(LeadDetails):
    """One submission as the hub works with it: identity, E.164 phone, ISO country, segment bands."""

    email_key: str
    email_domain: str
    phone_valid: bool = False


def normalise_phone(raw: str | None, country: str | None) -> tuple[str | None, bool]:
    """E.164 where the number parses (and is possible), else the raw text; and whether it parsed."""
    if raw is None:
        return None, False
    import phonenumbers  # on first use: its metadata is loaded with it (cold start)

    try:
        number = phonenumbers.parse(raw, country)
    except phonenumbers.NumberParseException:
        return raw, False
    if not phonenumbers.is_possible_number(number):
        return raw, False
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), True


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
