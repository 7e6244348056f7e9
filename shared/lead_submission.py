"""A person's details as the hub accepts them, wherever they come from: the public lead form, a signed
landing-page post, a trade-show row (``leads_webhook``) and MailChimp's webhooks (``mailchimp_sync``).

``LeadSubmission`` checks and cleans each field (length, control characters, email shape, ISO country,
subdivision codes); ``normalise_phone`` gives E.164 where a number parses. ``check_person_fields``
checks some fields of a person one by one (a webhook's partial change): the clean values, and the
fields refused with the reason.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from shared.countries import country_code
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


# A placeholder address for checking fields without the person's own (never stored).
_PLACEHOLDER_EMAIL = "person@example.com"


def check_person_fields(values: dict[str, Any]) -> tuple[dict[str, Any], list[FieldError]]:
    """Each of ``values`` (``LeadSubmission`` field names) checked on its own, as the form checks it:
    the cleaned values of the good ones, and the bad ones with the reason (never the value)."""
    clean: dict[str, Any] = {}
    errors: list[FieldError] = []
    for name, value in values.items():
        probe = {"email": _PLACEHOLDER_EMAIL, name: value}
        try:
            checked = LeadSubmission.model_validate(probe)
        except ValidationError as exc:
            errors += field_errors(exc)
            continue
        clean[name] = getattr(checked, name)
    return clean, errors


def checked_email(value: str | None) -> str | None:
    """The address as the form would accept it (trimmed, lower-cased), or None when it is not one."""
    if value is None:
        return None
    try:
        return LeadSubmission.model_validate({"email": value}).email.strip().lower()
    except ValidationError:
        return None
