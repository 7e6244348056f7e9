"""The intake's services as deployed: DynamoDB storage, configuration from the bucket, SSM secrets."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from typing import Generic, TypeVar

from pydantic import BaseModel

from leads_webhook.intake import LeadServices
from leads_webhook.routing import RepDirectory, RepRecord
from shared.config_schemas.leads import LeadsConfig
from shared.config_schemas.routing import RoutingConfig

M = TypeVar("M", bound=BaseModel)
CONFIG_RECHECK_SECONDS = 30.0


class RecheckedConfig(Generic[M]):
    """A configuration document whose ETag is checked at most every `every` seconds (not on every lead)."""

    def __init__(
        self,
        name: str,
        model: type[M],
        every: float = CONFIG_RECHECK_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name, self.model, self.every, self.clock = name, model, every, clock
        self._value: M | None = None
        self._checked = 0.0
        self._lock = threading.Lock()

    def __call__(self) -> M:
        with self._lock:
            if self._value is None or self.clock() - self._checked >= self.every:
                from shared.config_store import load_config

                self._value = load_config(self.name, self.model)
                self._checked = self.clock()
            return self._value


REPS_RECHECK_SECONDS = 5.0


class RecheckedReps:
    """The CRM's rep records, read again at most every `every` seconds: a change of out-of-office or capacity
    takes effect within that, and a 10,000-row import does not read them 10,000 times."""

    def __init__(
        self,
        directory: RepDirectory,
        every: float = REPS_RECHECK_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.directory, self.every, self.clock = directory, every, clock
        self._ids: tuple[str, ...] | None = None
        self._records: Mapping[str, RepRecord] = {}
        self._read = 0.0
        self._lock = threading.Lock()

    def get_reps(self, rep_ids: Iterable[str]) -> Mapping[str, RepRecord]:
        ids = tuple(dict.fromkeys(rep_ids))
        with self._lock:
            if ids != self._ids or self.clock() - self._read >= self.every:
                self._records = dict(self.directory.get_reps(ids))
                self._ids, self._read = ids, self.clock()
            return self._records


@lru_cache(maxsize=1)
def deployed_services() -> LeadServices:
    """Built once per container, on first use (never at import: moto and the local hub set endpoints first)."""
    from leads_webhook.storage import DynamoLeadRepository
    from shared.settings import get_settings
    from shared.signing import SsmSourceSecrets
    from shared.store.crm import DynamoCrmStore
    from shared.store.state import DynamoStateStore

    state = DynamoStateStore()  # rotation turns and rate-limit windows
    return LeadServices(
        leads=DynamoLeadRepository(),
        rotation=state,
        rate_limiter=state,
        leads_config=RecheckedConfig("leads.yaml", LeadsConfig),
        routing_config=RecheckedConfig("routing.yaml", RoutingConfig),
        reps=RecheckedReps(DynamoCrmStore()),  # the CRM's rep records: shared.store.crm.Rep is a RepRecord
        secrets=SsmSourceSecrets(get_settings().secrets_prefix),
    )
