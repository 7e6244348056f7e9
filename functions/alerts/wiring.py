"""The alerts function's collaborators on AWS: the CRM store, SES, the configuration documents."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from alerts.delivery import Deliverer
from alerts.recipients import Person, Resolver
from alerts.rules import RuleContext
from shared.config_schemas.alerts import AlertsConfig
from shared.config_schemas.stages import StageCatalog
from shared.config_store import RecheckedConfig
from shared.email import Email, send_email
from shared.links import link_signer
from shared.settings import get_settings
from shared.store.crm import CrmStore


class SesMailer:
    """The one sender (``shared.email``)."""

    def send(self, to: str, subject: str, text: str, html: str) -> str:
        return send_email(Email(to=to, subject=subject, text=text, html=html))


class CachedDirectory:
    """Reps, contacts and account owners, each read once per invocation through the CRM store."""

    def __init__(self, store: CrmStore) -> None:
        self.store = store
        self._cache: dict[tuple[str, str], Any] = {}

    def _once(self, kind: str, entity_id: str, read: Any) -> Any:
        if (kind, entity_id) not in self._cache:
            self._cache[(kind, entity_id)] = read(entity_id)
        return self._cache[(kind, entity_id)]

    def rep(self, rep_id: str) -> Person | None:
        rep = self._once("rep", rep_id, self.store.get_rep)
        if rep is None:
            return None
        return Person(rep.rep_id, rep.name, rep.email, rep.manager_id, rep.timezone)

    def contact(self, contact_id: str) -> Person | None:
        contact = self._once("contact", contact_id, self.store.get_contact)
        if contact is None:
            return None
        name = " ".join(n for n in (contact.first_name, contact.last_name) if n)
        return Person(contact.contact_id, name, contact.email)

    def account_owner(self, account_id: str) -> str | None:
        account = self._once("account", account_id, self.store.get_account)
        return str(account.owner) if account is not None and account.owner else None

    def account_name(self, account_id: str) -> str | None:
        account = self._once("account", account_id, self.store.get_account)
        return str(account.name) if account is not None and account.name else None

    def preload(self, rep_ids: Iterable[str] = (), account_ids: Iterable[str] = ()) -> None:
        reps = [i for i in dict.fromkeys(rep_ids) if ("rep", i) not in self._cache]
        accounts = [i for i in dict.fromkeys(account_ids) if ("account", i) not in self._cache]
        if not reps and not accounts:
            return
        found_reps, found_accounts = self.store.get_reps_and_accounts(reps, accounts)
        self._cache.update({("rep", i): found_reps.get(i) for i in reps})
        self._cache.update({("account", i): found_accounts.get(i) for i in accounts})


@lru_cache(maxsize=1)
def crm_store() -> CrmStore:
    from shared.store.crm import DynamoCrmStore

    return DynamoCrmStore()


# Checked against the bucket at most every 30 s on the stream's path (an import's changes arrive in hundreds of
# batches); the hourly sweep checks them on each run (``now``), so a change is in force for the next sweep.
_alerts_config = RecheckedConfig("alerts.yaml", AlertsConfig)
_stage_catalog = RecheckedConfig("stages.yaml", StageCatalog)


def alerts_config(*, now: bool = False) -> AlertsConfig:
    return _alerts_config(now=now)


def stage_catalog(*, now: bool = False) -> StageCatalog:
    return _stage_catalog(now=now)


def rule_context() -> RuleContext:
    settings = get_settings()
    return RuleContext(
        alerts_config(), stage_catalog(), settings.channel_manager_email, settings.api_url, link_signer()
    )


def build_deliverer(
    now: datetime,
    lease: timedelta,
    directory: CachedDirectory | None = None,
    config: AlertsConfig | None = None,
) -> Deliverer:
    config = config or alerts_config()
    store = crm_store()
    resolver = Resolver(directory or CachedDirectory(store), config.fallback_email, config.default_timezone)
    return Deliverer(store, resolver, SesMailer(), config, now, lease=lease)
