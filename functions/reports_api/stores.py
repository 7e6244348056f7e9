"""The stores the read routes use, built once per container (never at import: tests and the local hub
set endpoints and table names first)."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shared.store.crm import CrmStore


@lru_cache(maxsize=1)
def crm_store() -> CrmStore:
    from shared.store.crm import DynamoCrmStore

    return DynamoCrmStore()
