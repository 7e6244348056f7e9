"""What an alert is: its kind, its key, whom it is for (a role to resolve) and the facts it tells.

``Alert.key`` makes it exactly-once: ``<kind>|<entity>|<version or period>|<role>``. The same
change (a stream record delivered twice) or the same sweep period (a schedule fired twice) gives
the same key, and a key is claimed once (``alerts.delivery``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Target:
    """Whom an alert is for, before it is resolved to an address.

    ``role`` is the configured role (or a fixed address); ``rep_id`` the rep the role names (the
    owner, the assignee; for ``*_manager`` roles the rep whose manager is meant); ``account_id``
    for ``account_owner``; ``contact_id`` for ``contact``; ``address`` a known address (a fixed
    recipient, the channel manager, or the address routing gave a rep the CRM does not hold).
    """

    role: str
    rep_id: str | None = None
    account_id: str | None = None
    contact_id: str | None = None
    address: str | None = None
    manager: bool = False


@dataclass(frozen=True)
class Alert:
    kind: str
    entity: str  # the key (pk) of what the alert is about: ``shared.store.crm.opportunity_key(id)[0]``, ...
    version: str  # the change's version (stream) or the period (sweeps)
    target: Target
    facts: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def key(self) -> str:
        return f"{self.kind}|{self.entity}|{self.version}|{self.target.role}"


@dataclass(frozen=True)
class Recipient:
    """A resolved recipient: where the alert goes, and why there if it is the fallback."""

    email: str
    name: str = ""
    timezone: str = "UTC"
    rep_id: str | None = None
    fallback_reason: str | None = None
