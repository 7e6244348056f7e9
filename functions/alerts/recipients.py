"""Resolving an alert's target to an address; what cannot be resolved goes to the fallback, with why.

An owner who is not a known rep, a rep without an email address, a rep without a manager, an
account without an owner: none of these is an error. The alert goes to the configured fallback
address and says why, and the stream record or sweep that made it never fails for it.

The same directory names the reps and accounts an alert's facts mention by id (``named``): the
facts keep the ids and gain ``<fact>_name`` (``owner_name``, ``assignee_name``, ``account_name``)
for each id the CRM holds, so the email reads "Owner: Sam Carter", "Account: Acme Corp (A-ACME)";
an id the CRM does not hold gains nothing and is shown as it is. An alert's key is made of its kind,
entity, version and role, never its facts, so naming changes no key. ``prepare`` reads what a batch
of alerts will ask for in a few batch reads, before they are resolved and named one by one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from alerts.model import Alert, Recipient, Target
from shared.email import InvalidAddressError, check_address

# facts that hold a rep id, shown by the rep's name (the previous ones: who had a re-assigned lead or escalation)
REP_FACTS = ("owner", "assignee", "previous_owner", "previous_assignee")
ACCOUNT_FACTS = ("account_id",)  # facts that hold an account id, shown as "name (id)"


@dataclass(frozen=True)
class Person:
    """A rep or a contact as alerts need them."""

    id: str
    name: str = ""
    email: str | None = None
    manager_id: str | None = None
    timezone: str | None = None


class Directory(Protocol):
    """The CRM reads recipient resolution needs (cached per invocation by the caller)."""

    def rep(self, rep_id: str) -> Person | None: ...

    def contact(self, contact_id: str) -> Person | None: ...

    def account_owner(self, account_id: str) -> str | None: ...

    def account_name(self, account_id: str) -> str | None: ...

    def preload(self, rep_ids: Iterable[str] = (), account_ids: Iterable[str] = ()) -> None:
        """Read these reps and accounts at once (a batch read of those not read yet)."""
        ...


def _name_key(fact: str) -> str:
    return f"{fact.removesuffix('_id')}_name"


class Resolver:
    def __init__(self, directory: Directory, fallback_email: str, default_timezone: str) -> None:
        self.directory = directory
        self.fallback_email = fallback_email
        self.default_timezone = default_timezone

    def _fallback(self, reason: str) -> Recipient:
        return Recipient(self.fallback_email, "Sales operations", self.default_timezone, None, reason)

    def _person(self, person: Person, reason_if_no_email: str) -> Recipient:
        if not person.email:
            return self._fallback(reason_if_no_email)
        try:
            address = check_address(person.email)
        except InvalidAddressError:
            return self._fallback(f"{reason_if_no_email} (the address on record is not usable)")
        return Recipient(address, person.name, person.timezone or self.default_timezone, person.id, None)

    def prepare(self, alerts: Iterable[Alert]) -> None:
        """Read at once what resolving and naming ``alerts`` will ask the directory for: the reps and
        accounts they name, then the owners of the accounts they go to and the managers they mean."""
        alerts = list(alerts)
        if not alerts:
            return
        directory = self.directory
        accounts = {a.target.account_id for a in alerts if a.target.account_id}
        accounts |= {str(a.facts[f]) for a in alerts for f in ACCOUNT_FACTS if a.facts.get(f)}
        reps = {a.target.rep_id for a in alerts if a.target.rep_id}
        reps |= {str(a.facts[f]) for a in alerts for f in REP_FACTS if a.facts.get(f)}
        directory.preload(sorted(reps), sorted(accounts))
        owners = {  # resolved through the account's owner (``resolve``)
            owner
            for a in alerts
            if a.target.account_id and (a.target.role == "account_owner" or not a.target.rep_id)
            and (owner := directory.account_owner(a.target.account_id))
        }  # fmt: skip
        managers = {
            rep.manager_id
            for a in alerts
            if a.target.manager and a.target.rep_id
            and (rep := directory.rep(a.target.rep_id)) is not None and rep.manager_id
        }  # fmt: skip
        directory.preload(sorted(owners | managers))

    def named(self, facts: dict[str, Any]) -> dict[str, Any]:
        """``facts`` with the name beside each rep and account id the directory knows."""
        names: dict[str, Any] = {}
        for fact in REP_FACTS:
            rep = self.directory.rep(str(facts[fact])) if facts.get(fact) else None
            if rep is not None and rep.name.strip():
                names[_name_key(fact)] = rep.name
        for fact in ACCOUNT_FACTS:
            name = self.directory.account_name(str(facts[fact])) if facts.get(fact) else None
            if name and name.strip():
                names[_name_key(fact)] = name
        return {**facts, **names} if names else facts

    def resolve(self, target: Target) -> Recipient:
        if target.role == "contact":
            contact = self.directory.contact(target.contact_id or "") if target.contact_id else None
            if contact is None:
                return self._fallback(f"contact {target.contact_id!r} is not in the CRM")
            return self._person(contact, f"contact {contact.id!r} has no email address")
        if target.role not in ("owner", "assignee", "owner_manager", "assignee_manager", "account_owner"):
            # A fixed address or the channel manager: the address is the target.
            if target.address:
                try:
                    return Recipient(check_address(target.address), "", self.default_timezone)
                except InvalidAddressError:
                    return self._fallback(f"{target.role} address is not usable")
            return self._fallback(f"no address configured for {target.role}")
        rep_id = target.rep_id
        if target.role == "account_owner" or (rep_id is None and target.account_id):
            rep_id = self.directory.account_owner(target.account_id) if target.account_id else None
            if not rep_id:
                return self._fallback(f"account {target.account_id!r} has no owner in the CRM")
        if not rep_id:
            return self._fallback(f"no {target.role.removesuffix('_manager')} on the record")
        rep = self.directory.rep(rep_id)
        if target.manager:
            if rep is None:
                return self._fallback(f"{rep_id!r} is not a known rep, so their manager is unknown")
            if not rep.manager_id:
                return self._fallback(f"rep {rep_id!r} has no manager")
            manager = self.directory.rep(rep.manager_id)
            if manager is None:
                return self._fallback(f"manager {rep.manager_id!r} of {rep_id!r} is not a known rep")
            return self._person(manager, f"manager {manager.id!r} has no email address")
        if rep is None:
            if target.address:  # routing's address for a rep the CRM does not hold
                try:
                    return Recipient(check_address(target.address), rep_id, self.default_timezone, rep_id)
                except InvalidAddressError:
                    pass
            return self._fallback(f"{target.role} {rep_id!r} is not a known rep")
        return self._person(rep, f"rep {rep_id!r} has no email address")
