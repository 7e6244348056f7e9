"""Settings read once from the environment into a typed model.

Every function reads its environment here, at the boundary; logic receives values, never
reads ``os.environ``. The names are the environment variables the template sets
(``infra/template.yaml`` Globals and each function's Environment).
"""

from __future__ import annotations

import os
from functools import lru_cache

from pydantic import BaseModel, ConfigDict, Field


class HubSettings(BaseModel):
    """What every function knows about its deployment.

    A plain pydantic model validated from the environment (names compared in upper case), not
    pydantic-settings' ``BaseSettings``: that package costs every handler's cold start about as
    much again as pydantic itself, for features (dotenv files, secrets directories) no function uses."""

    model_config = ConfigDict(extra="ignore")

    region: str = Field(default="us-east-1", validation_alias="AWS_REGION")
    crm_table: str = Field(default="crm-hub-CrmTable", validation_alias="CRM_TABLE")
    pos_table: str = Field(default="crm-hub-PosTable", validation_alias="POS_TABLE")
    plan_table: str = Field(default="crm-hub-PlanTable", validation_alias="PLAN_TABLE")
    state_table: str = Field(default="crm-hub-StateTable", validation_alias="STATE_TABLE")
    events_table: str = Field(default="crm-hub-EventsTable", validation_alias="EVENTS_TABLE")
    idempotency_table: str = Field(default="crm-hub-IdempotencyTable", validation_alias="IDEMPOTENCY_TABLE")
    bucket: str = Field(default="crm-hub-123456789012-us-east-1", validation_alias="HUB_BUCKET")
    sender_email: str = Field(default="hub@example.com", validation_alias="SENDER_EMAIL")
    channel_manager_email: str = Field(
        default="channel@example.com", validation_alias="CHANNEL_MANAGER_EMAIL"
    )
    demo_owner: str = Field(default="rep-demo", validation_alias="DEMO_OWNER")
    secrets_prefix: str = Field(default="/crm-hub", validation_alias="SECRETS_PREFIX")
    mailchimp_secret_name: str = Field(default="", validation_alias="MAILCHIMP_SECRET_NAME")
    mailchimp_list_id: str = Field(default="", validation_alias="MAILCHIMP_LIST_ID")
    mailchimp_server: str = Field(default="", validation_alias="MAILCHIMP_SERVER")
    mailchimp_url: str = Field(default="", validation_alias="MAILCHIMP_URL")
    mailchimp_api_key: str = Field(default="", validation_alias="MAILCHIMP_API_KEY")
    mailchimp_webhook_token: str = Field(default="", validation_alias="MAILCHIMP_WEBHOOK_TOKEN")
    mailchimp_max_connections: int = Field(
        default=4, ge=1, le=10, validation_alias="MAILCHIMP_MAX_CONNECTIONS"
    )
    mailchimp_double_opt_in: bool = Field(default=False, validation_alias="MAILCHIMP_DOUBLE_OPT_IN")
    # a stream batch of at least this many contacts goes through MailChimp's POST /batches (0: never)
    mailchimp_batch_min_contacts: int = Field(
        default=10, ge=0, validation_alias="MAILCHIMP_BATCH_MIN_CONTACTS"
    )
    inbox_retention_hours: int = Field(default=96, ge=72, validation_alias="INBOX_RETENTION_HOURS")
    pos_continuation_queue_url: str = Field(default="", validation_alias="POS_CONTINUATION_QUEUE_URL")
    # Lambda's on-failure records of pos_ingest (and continuations that failed on every try) arrive from
    # this queue; once their run is failed they are kept in the dead-letter queue.
    pos_failure_queue_name: str = Field(default="", validation_alias="POS_FAILURE_QUEUE_NAME")
    pos_dead_letter_queue_url: str = Field(default="", validation_alias="POS_DEAD_LETTER_QUEUE_URL")
    config_dir: str = Field(default="", validation_alias="HUB_CONFIG_DIR")
    # The HTTP API's base URL (no trailing slash), where emails point readers of the files the hub writes.
    api_url: str = Field(default="", validation_alias="HUB_API_URL")
    # The Secrets Manager secret whose value signs the links in emails (shared/links.py), and how long
    # a link opens its file.
    links_secret_name: str = Field(default="", validation_alias="LINKS_SECRET_NAME")
    link_days: int = Field(default=30, ge=1, le=90, validation_alias="LINK_DAYS")
    # Plan figures are in this currency; config/fx.yaml converts the others into it.
    company_currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$", validation_alias="COMPANY_CURRENCY")


@lru_cache(maxsize=1)
def get_settings() -> HubSettings:
    """The settings of this process, read once."""
    return HubSettings.model_validate({name.upper(): value for name, value in os.environ.items()})
