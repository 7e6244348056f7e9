"""Typed MailChimp configuration, built once at the boundary (handler or command line)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, field_validator

if TYPE_CHECKING:
    from shared.settings import HubSettings

MAX_CALL_TIMEOUT_S = 10.0


class MailchimpConfig(BaseModel):
    """How to reach the audience and how hard to try.

    ``base_url`` overrides the API root (the fake's URL, ending in ``/3.0``); without it the data
    centre comes from the key (``...-us21``) or ``server``. Its core schema is built when it is first read
    (``defer_build``): a stream batch with nothing to sync never reads it."""

    model_config = ConfigDict(frozen=True, defer_build=True)

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
    # a stream batch of at least this many contacts is synced through POST /batches (mailchimp_sync.sync);
    # 0 never (MAILCHIMP_BATCH_MIN_CONTACTS)
    batch_min_contacts: int = Field(default=10, ge=0)

    @field_validator("timeout_s")
    @classmethod
    def _cap_timeout(cls, value: float) -> float:
        return min(value, MAX_CALL_TIMEOUT_S)

    @field_validator("base_url")
    @classmethod
    def _strip_slash(cls, value: str | None) -> str | None:
        return value.rstrip("/") if value else value


class MailchimpNotConfiguredError(RuntimeError):
    """No API key (environment or secret) or no audience id."""


@dataclass(frozen=True)
class MailchimpSetup:
    config: MailchimpConfig
    webhook_token: str


def _secret(name: str) -> dict[str, str]:
    """The Secrets Manager secret: JSON ``{"api_key": ..., "webhook_token": ...}``."""
    from shared.aws import client

    value = client("secretsmanager").get_secret_value(SecretId=name)["SecretString"]
    data = json.loads(value)
    return {k: str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def load_setup(settings: HubSettings) -> MailchimpSetup:
    """The configuration from the function's settings, the key and token from the environment
    (the local hub) or else from the secret named by ``MAILCHIMP_SECRET_NAME``."""
    api_key, token = settings.mailchimp_api_key, settings.mailchimp_webhook_token
    if not api_key and settings.mailchimp_secret_name:
        secret = _secret(settings.mailchimp_secret_name)
        api_key = secret.get("api_key", "")
        token = token or secret.get("webhook_token", "")
    elif not token and settings.mailchimp_secret_name:
        try:
            token = _secret(settings.mailchimp_secret_name).get("webhook_token", "")
        except Exception:
            token = ""
    if not api_key or not settings.mailchimp_list_id:
        raise MailchimpNotConfiguredError("MailChimp needs an API key and MAILCHIMP_LIST_ID")
    config = MailchimpConfig(
        api_key=api_key,
        list_id=settings.mailchimp_list_id,
        server=settings.mailchimp_server or None,
        base_url=settings.mailchimp_url or None,
        double_opt_in=settings.mailchimp_double_opt_in,
        max_concurrency=settings.mailchimp_max_connections,
        batch_min_contacts=settings.mailchimp_batch_min_contacts,
    )
    return MailchimpSetup(config=config, webhook_token=token)
