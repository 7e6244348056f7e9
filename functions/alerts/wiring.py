"""The alerts function's collaborators on AWS: the CRM store, SES, the configuration documents."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from alerts.delivery import Deliverer
from alerts.recipients import Person, Resolver
from alerts.rules import RuleContext
from shared.alerts_config import AlertsConfig
from shared.config_store import load_config
from shared.email import Email, send_email
from shared.settings import get_settings
from shared.stages import StageCatalog


class SesMailer:
    """The one sender (``shared.email``); counts what it sent."""

    def __init__(self) -> None:
        self.sent = 0

    def send(self, to: str, subject: str, text: str, html: str) -> str:
        message_id = send_email(Email(to=to, subject=subject, text=text, html=html))
        self.sent += 1
        return message_id


@dataclass
class CachedDirectory:
    """Reps, contacts and account owners read once per invocation."""

    store: Any
    _cache: dict[tuple[str, str], Any] = field(default_factory=dict)

    def _get(self, kind: str, entity_id: str) -> dict[str, Any] | None:
        from shared.crm_entities import entity_key

        key = (kind, entity_id)
        if key not in self._cache:
            self._cache[key] = self.store.get(entity_key(kind, entity_id))
        return self._cache[key]  # type: ignore[no-any-return]

    def rep(self, rep_id: str) -> Person | None:
        item = self._get("REP", rep_id)
        if item is None:
            return None
        return Person(rep_id, str(item.get("name") or rep_id), item.get("email"), item.get("manager_id"),
                      item.get("timezone"))  # fmt: skip

    def contact(self, contact_id: str) -> Person | None:
        item = self._get("CONTACT", contact_id)
        if item is None:
            return None
        name = " ".join(str(item[k]) for k in ("first_name", "last_name") if item.get(k))
        return Person(contact_id, name, item.get("email"))

    def account_owner(self, account_id: str) -> str | None:
        item = self._get("ACCOUNT", account_id)
        return str(item["owner"]) if item and item.get("owner") else None


def crm_reader() -> Any:
    from shared.crm_entities import CRM, DynamoEntityStore

    return DynamoEntityStore({CRM: get_settings().crm_table})


def alerts_config() -> AlertsConfig:
    return load_config("alerts.yaml", AlertsConfig)


def stage_catalog() -> StageCatalog:
    return load_config("stages.yaml", StageCatalog)


def rule_context() -> RuleContext:
    return RuleContext(alerts_config(), stage_catalog(), get_settings().channel_manager_email)


def build_deliverer(now: datetime, lease: timedelta, directory: CachedDirectory | None = None) -> Deliverer:
    from shared.store.crm_alerts import DynamoAlertStore

    config = alerts_config()
    resolver = Resolver(
        directory or CachedDirectory(crm_reader()), config.fallback_email, config.default_timezone
    )
    return Deliverer(DynamoAlertStore(), resolver, SesMailer(), config, now, lease=lease)
