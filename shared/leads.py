"""Leads: the submission model, parsing of form bodies, normalisation and the leads configuration.

`LeadSubmission` is what crosses the boundary (a form post, a signed landing-page post, a trade-show row);
`NormalisedLead` is the domain view the routing engine, mailchimp_sync and alerts work with. Every parse
path returns a `LeadParseResult`: a submission, or the list of `FieldError` naming every bad field.

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
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from itertools import pairwise
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qsl

import phonenumbers
import pycountry
import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from shared.origins import CorsSettings

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

# Names people write that pycountry's lookup does not know.
COUNTRY_ALIASES: dict[str, str] = {
    "uk": "GB",
    "great britain": "GB",
    "britain": "GB",
    "england": "GB",
    "scotland": "GB",
    "wales": "GB",
    "northern ireland": "GB",
    "russia": "RU",
    "turkey": "TR",
    "holland": "NL",
    "the netherlands": "NL",
    "ivory coast": "CI",
    "macedonia": "MK",
    "swaziland": "SZ",
    "cape verde": "CV",
    "burma": "MM",
    "america": "US",
    "united states of america": "US",
    "south korea": "KR",
    "north korea": "KP",
    "iran": "IR",
    "syria": "SY",
    "laos": "LA",
    "vietnam": "VN",
    "moldova": "MD",
    "tanzania": "TZ",
    "venezuela": "VE",
    "bolivia": "BO",
    "taiwan": "TW",
}
_EMAIL_RE = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+"
    r"[A-Za-z]{2,63}$"
)
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f\u2028\u2029\u0085]+")
_MULTILINE_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]+")
_NUMBER_NOISE_RE = re.compile(r"[\s,_$]")


@dataclass(frozen=True)
class FieldError:
    """One bad field and why; the 422 answer is a list of these."""

    field: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


def field_errors(exc: ValidationError, *, root: str = "body") -> list[FieldError]:
    """Turn a pydantic error into one `FieldError` per bad field (dotted path), first message kept."""
    errors: dict[str, FieldError] = {}
    for err in exc.errors(include_url=False, include_input=False):
        loc = ".".join(str(part) for part in err.get("loc", ()) if part != "__root__") or root
        message = str(err.get("msg", "invalid"))
        message = message.removeprefix("Value error, ")
        errors.setdefault(loc, FieldError(loc, message))
    return list(errors.values())


class ConfigDocumentError(ValueError):
    """A configuration document that does not validate; `errors` names each field and the reason."""

    def __init__(self, document: str, errors: list[FieldError]) -> None:
        self.document = document
        self.errors = errors
        detail = "; ".join(f"{e.field}: {e.message}" for e in errors)
        super().__init__(f"{document} is invalid: {detail}")


Doc = TypeVar("Doc", bound=BaseModel)


def validate_yaml_document(
    text: str | bytes, model: type[Doc], *, document: str, context: dict[str, Any] | None = None
) -> Doc:
    """Parse a YAML document into `model`, or raise `ConfigDocumentError` naming the field and reason."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigDocumentError(document, [FieldError("document", f"not valid YAML: {exc}")]) from exc
    if not isinstance(data, dict):
        raise ConfigDocumentError(document, [FieldError("document", "must be a mapping")])
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        raise ConfigDocumentError(document, field_errors(exc, root="document")) from exc


# --------------------------------------------------------------------------------------------- config


class Band(BaseModel):
    """A segment: values from `min` (inclusive) up to the next band's `min`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=50)
    min: Decimal = Field(ge=0)


def _check_bands(bands: list[Band]) -> list[Band]:
    if not bands:
        raise ValueError("at least one band is required")
    if bands[0].min != 0:
        raise ValueError("the first band must start at min 0")
    for before, after in pairwise(bands):
        if after.min <= before.min:
            raise ValueError(f"band {after.name!r} must start above {before.name!r} (mins ascending)")
    names = [b.name for b in bands]
    if len(set(names)) != len(names):
        raise ValueError("band names must be unique")
    return bands


class RateLimitSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    window_seconds: int = Field(default=60, ge=1, le=86_400)
    max_requests: int = Field(default=30, ge=1, le=1_000_000)


class SpamSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    min_fill_seconds: float = Field(default=3.0, ge=0, le=3600)
    blocked_domains: list[str] = Field(default_factory=list)

    @field_validator("blocked_domains")
    @classmethod
    def _lower_domains(cls, value: list[str]) -> list[str]:
        return sorted({d.strip().lower().lstrip("@") for d in value if d.strip()})


class LeadsConfig(BaseModel):
    """config/leads.yaml: bands, the per-client rate limit and the spam settings."""

    model_config = ConfigDict(extra="forbid")

    employee_bands: list[Band]
    revenue_bands: list[Band]
    rate_limit: RateLimitSettings = Field(default_factory=RateLimitSettings)
    spam: SpamSettings = Field(default_factory=SpamSettings)
    max_body_bytes: int = Field(default=64 * 1024, ge=1024, le=6 * 1024 * 1024)
    # Origins whose pages may post from a browser, and where a form's return_url may go (shared.origins).
    cors: CorsSettings = Field(default_factory=CorsSettings)

    @field_validator("employee_bands", "revenue_bands")
    @classmethod
    def _bands_ascending(cls, bands: list[Band]) -> list[Band]:
        return _check_bands(bands)

    def employee_band(self, employees: int | None) -> str | None:
        return band_for(employees, self.employee_bands)

    def revenue_band(self, revenue: Decimal | None) -> str | None:
        return band_for(revenue, self.revenue_bands)


def band_for(value: int | Decimal | None, bands: list[Band]) -> str | None:
    """The name of the band `value` falls in (the last band whose min it reaches)."""
    if value is None:
        return None
    found = None
    for band in bands:
        if value >= band.min:
            found = band.name
    return found


def load_leads_config(text: str | bytes) -> LeadsConfig:
    return validate_yaml_document(text, LeadsConfig, document="leads.yaml")


DEFAULT_LEADS_CONFIG_PATH = Path(__file__).resolve().parent.parent / "config" / "leads.yaml"


@lru_cache(maxsize=1)
def default_leads_config() -> LeadsConfig:
    """The example configuration the repository ships (config/leads.yaml)."""
    return load_leads_config(DEFAULT_LEADS_CONFIG_PATH.read_text(encoding="utf-8"))


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


def country_code(value: str) -> str:
    """ISO 3166 alpha-2 for an alpha-2 or alpha-3 code or an English name; ValueError when unknown."""
    key = value.strip().replace(".", "").lower()
    if key in COUNTRY_ALIASES:
        return COUNTRY_ALIASES[key]
    try:
        return str(pycountry.countries.lookup(key).alpha_2)
    except LookupError:
        raise ValueError("unknown country (use a name or an ISO 3166 code)") from None


def state_code(country: str | None, value: str | None) -> str | None:
    """The subdivision's short code ("CA" for California in the US) where it is known, else the text."""
    if value is None or country is None:
        return value
    subdivisions = _subdivisions(country)
    return subdivisions.get(value.strip().lower(), value)


@lru_cache(maxsize=64)
def _subdivisions(country: str) -> dict[str, str]:
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


def email_key(email: str) -> str:
    """The identity of a person: the address, trimmed and compared case-insensitively."""
    return email.strip().lower()


# A lead's id is derived from its email identity, so the same person always maps to the same
# lead: the intake dedupes with one conditional write, and MailChimp's webhooks find the lead.
LEAD_NAMESPACE = uuid.UUID("5b0f8a3e-6d1c-4e55-9b0a-2f4c7e1d8a90")


def lead_id_for(email_key: str) -> str:
    return uuid.uuid5(LEAD_NAMESPACE, email_key).hex


def normalise_phone(raw: str | None, country: str | None) -> tuple[str | None, bool]:
    """E.164 where the number parses (and is possible), else the raw text; and whether it parsed."""
    if raw is None:
        return None, False
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
