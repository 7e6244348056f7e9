"""The intake's services as deployed: DynamoDB storage, configuration from the bucket, SSM secrets."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from functools import lru_cache
from typing import Generic, TypeVar

from pydantic import BaseModel

from leads_webhook.intake import LeadServices
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


@lru_cache(maxsize=1)
def deployed_services() -> LeadServices:
    """Built once per container, on first use (never at import: moto and the local hub set endpoints first)."""
    from leads_webhook.storage import DynamoLeadRepository, DynamoRateLimiter, DynamoRotationRepository
    from shared.settings import get_settings
    from shared.signing import SsmSourceSecrets

    return LeadServices(
        leads=DynamoLeadRepository(),
        rotation=DynamoRotationRepository(),
        rate_limiter=DynamoRateLimiter(),
        leads_config=RecheckedConfig("leads.yaml", LeadsConfig),
        routing_config=RecheckedConfig("routing.yaml", RoutingConfig),
        secrets=SsmSourceSecrets(get_settings().secrets_prefix),
    )
