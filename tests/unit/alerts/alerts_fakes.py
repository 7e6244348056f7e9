"""Fakes for alert unit tests: a directory of people, a mailer that keeps what it sent, a clock."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from alerts.delivery import Deliverer
from alerts.recipients import Person, Resolver

from shared.config_schemas.alerts import AlertsConfig
from shared.store.crm import AlertRecord, InMemoryCrmStore

# A Wednesday at 10:00 UTC: inside working hours for UTC reps.
NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


@dataclass
class FakeDirectory:
    reps: dict[str, Person] = field(default_factory=dict)
    contacts: dict[str, Person] = field(default_factory=dict)
    accounts: dict[str, str] = field(default_factory=dict)  # account id → owner's rep id
    account_names: dict[str, str] = field(default_factory=dict)
    preloads: list[tuple[list[str], list[str]]] = field(default_factory=list)  # each batch read asked for

    def rep(self, rep_id: str) -> Person | None:
        return self.reps.get(rep_id)

    def contact(self, contact_id: str) -> Person | None:
        return self.contacts.get(contact_id)

    def account_owner(self, account_id: str) -> str | None:
        return self.accounts.get(account_id)

    def account_name(self, account_id: str) -> str | None:
        return self.account_names.get(account_id)

    def preload(self, rep_ids: Iterable[str] = (), account_ids: Iterable[str] = ()) -> None:
        self.preloads.append((list(rep_ids), list(account_ids)))


def demo_directory() -> FakeDirectory:
    return FakeDirectory(
        reps={
            "rep-maria": Person("rep-maria", "Maria Lopez", "maria@example.com"),
            "rep-sam": Person("rep-sam", "Sam Carter", "sam@example.com", "rep-maria"),
            "rep-ana": Person("rep-ana", "Ana Souza", "ana@example.com", "rep-maria", "America/Sao_Paulo"),
            "rep-tokyo": Person("rep-tokyo", "Ken Sato", "ken@example.com", "rep-maria", "Asia/Tokyo"),
            "rep-nomail": Person("rep-nomail", "No Mail", None, "rep-maria"),
            "rep-lone": Person("rep-lone", "Lone Wolf", "lone@example.com", None),
        },
        contacts={"c-1": Person("c-1", "Chris Buyer", "chris@customer.example")},
        accounts={"A-ACME": "rep-sam", "A-NORTH": "rep-ana"},
        account_names={"A-ACME": "Acme Corp", "A-NORTH": "Northwind Traders"},
    )


@dataclass
class FakeMailer:
    sent: list[dict[str, str]] = field(default_factory=list)
    fail_next: int = 0

    def send(self, to: str, subject: str, text: str, html: str) -> str:
        if self.fail_next:
            self.fail_next -= 1
            raise ConnectionError("SES unreachable")
        self.sent.append({"to": to, "subject": subject, "text": text, "html": html})
        return f"msg-{len(self.sent)}"

    def to(self, address: str) -> list[dict[str, str]]:
        return [m for m in self.sent if m["to"] == address]


def deliverer(store: InMemoryCrmStore, mailer: FakeMailer, config: AlertsConfig | None = None,
              now: datetime = NOW, directory: FakeDirectory | None = None) -> Deliverer:  # fmt: skip
    config = config or AlertsConfig()
    resolver = Resolver(directory or demo_directory(), config.fallback_email, config.default_timezone)
    return Deliverer(store, resolver, mailer, config, now)


def alert_records(store: InMemoryCrmStore) -> dict[str, AlertRecord]:
    """Every alert record in the store, by key."""
    found = {}
    for pk, _sk in list(store.items):
        if pk.startswith("ALERT#"):
            record = store.get_alert(pk.removeprefix("ALERT#"))
            assert record is not None
            found[record.key] = record
    return found
