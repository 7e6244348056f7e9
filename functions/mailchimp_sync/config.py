"""Typed MailChimp configuration, built once at the boundary (handler or command line)."""

from __future__ import annotations

from pydantic import BaseModel, Field, field_validator

MAX_CALL_TIMEOUT_S = 10.0


class MailchimpConfig(BaseModel):
    """How to reach the audience and how hard to try.

    ``base_url`` overrides the API root (the fake's URL, ending in ``/3.0``); without it the data
    centre comes from the key (``...-us21``) or ``server``."""

    api_key: str = Field(min_length=1)
    list_id: str = Field(min_length=1)
    server: str | None = None
    base_url: str | None = None
    double_opt_in: bool = False
    timeout_s: float = Field(default=MAX_CALL_TIMEOUT_S, gt=0)
    max_concurrency: int = Field(default=4, ge=1, le=10)
    max_attempts: int = Field(default=6, ge=1)
    backoff_base_s: float = Field(default=0.2, ge=0)
    backoff_cap_s: float = Field(default=5.0, ge=0)
    batch_max_operations: int = Field(default=500, ge=2, le=500)

    @field_validator("timeout_s")
    @classmethod
    def _cap_timeout(cls, value: float) -> float:
        return min(value, MAX_CALL_TIMEOUT_S)

    @field_validator("base_url")
    @classmethod
    def _strip_slash(cls, value: str | None) -> str | None:
        return value.rstrip("/") if value else value
