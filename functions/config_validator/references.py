"""What an uploaded document is checked against beyond itself: routing.yaml's rep ids against the CRM's reps.

The CRM's rep records are the one rep registry, so a routing document naming a rep the CRM does not know is
refused with the field and the reason, and the last good one stays in force.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol


class HasRepId(Protocol):
    @property
    def rep_id(self) -> str: ...


class RepList(Protocol):
    """The CRM store's `list_reps` (the rep records routing reads)."""

    def list_reps(self) -> Iterable[HasRepId]: ...


def validation_context(name: str, reps: RepList | None = None) -> dict[str, Any] | None:
    """The validation context of document `name`: for routing.yaml, the rep ids the CRM knows."""
    if name != "routing.yaml":
        return None
    # Only routing.yaml reads the CRM: the other documents' uploads do not load its schema nor its store.
    from shared.config_schemas.routing import REP_IDS
    from shared.store.crm import DynamoCrmStore

    if reps is None:
        reps = DynamoCrmStore()
    return {REP_IDS: frozenset(rep.rep_id for rep in reps.list_reps())}
