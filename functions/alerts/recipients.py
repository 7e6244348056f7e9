"""Resolving an alert's target to an address; what cannot be resolved goes to the fallback, with why.

An owner who is not a known rep, a rep without an email address, a rep without a manager, an
account without an owner: none of these is an error. The alert goes to the configured fallback
address and says why, and the stream record or sweep that made it never fails for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from alerts.model import Recipient, Target
from shared.email import InvalidAddressError, check_address


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
