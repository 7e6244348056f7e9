"""The intake's services as deployed: DynamoDB storage, configuration from the bucket, SSM secrets."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from typing import TYPE_CHECKING

from leads_webhook.intake import LeadServices
from leads_webhook.routing import RepDirectory, RepRecord, RepWorkload, RotationRepository
from shared.config_schemas.leads import LeadsConfig
from shared.config_schemas.routing import RoutingConfig

if TYPE_CHECKING:
    from leads_webhook.imports import DigestStore

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


OPEN_LEADS_RECHECK_SECONDS = 5.0


class RecheckedWorkload:
    """Each rep's open-lead count (a count query) read at most every `every` seconds, plus the assignments this
    container made since: capacity, like the rep records it is checked against, follows other containers'
    changes within that time, and a lead does not cost a query per rep it considers."""

    def __init__(
        self,
        base: RepWorkload,
        every: float = OPEN_LEADS_RECHECK_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.base, self.every, self.clock = base, every, clock
        self._counts: dict[str, tuple[int, float]] = {}
        self._lock = threading.Lock()

    def open_leads(self, rep_id: str) -> int:
        with self._lock:
            known = self._counts.get(rep_id)
            if known is not None and self.clock() - known[1] < self.every:
                return known[0]
        count = self.base.open_leads(rep_id)
        with self._lock:
            self._counts[rep_id] = (count, self.clock())
        return count

    def note_assigned(self, rep_id: str) -> None:
        with self._lock:
            if rep_id in self._counts:
                count, read = self._counts[rep_id]
                self._counts[rep_id] = (count + 1, read)


class OptimisticRotation:
    """A pool's turn as this container last saw it (read, or written by its own last advance): the rotation's
    conditional write still decides, so a turn another container took makes the advance fail, the turn is read
    again and the pick is made again. One write per routed lead instead of a read and a write."""

    def __init__(self, base: RotationRepository) -> None:
        self.base = base
        self._turns: dict[str, int] = {}
        self._lock = threading.Lock()

    def current_turn(self, pool_id: str) -> int:
        with self._lock:
            if pool_id in self._turns:
                return self._turns[pool_id]
        turn = self.base.current_turn(pool_id)
        with self._lock:
            self._turns[pool_id] = turn
        return turn

    def advance(self, pool_id: str, expected: int, new: int) -> bool:
        moved = self.base.advance(pool_id, expected, new)
        with self._lock:
            if moved:
                self._turns[pool_id] = new
            else:
                self._turns.pop(pool_id, None)  # someone else moved it: read it again
        return moved


@lru_cache(maxsize=1)
def deployed_services() -> LeadServices:
    """Built once per container, on first use (never at import: moto and the local hub set endpoints first)."""
    from leads_webhook.storage import DynamoLeadRepository
    from shared.config_store import RecheckedConfig  # not at import: the handler's cold start does without it
    from shared.settings import get_settings
    from shared.signing import SsmSourceSecrets
    from shared.store.crm import DynamoCrmStore
    from shared.store.state import DynamoStateStore

    state = DynamoStateStore()  # rotation turns and rate-limit windows
    leads = DynamoLeadRepository()
    return LeadServices(
        leads=leads,
        rotation=OptimisticRotation(state),
        workload=RecheckedWorkload(leads),
        rate_limiter=state,
        leads_config=RecheckedConfig("leads.yaml", LeadsConfig),
        routing_config=RecheckedConfig("routing.yaml", RoutingConfig),
        reps=RecheckedReps(DynamoCrmStore()),  # the CRM's rep records: shared.store.crm.Rep is a RepRecord
        secrets=SsmSourceSecrets(get_settings().secrets_prefix),
    )


@lru_cache(maxsize=1)
def import_digest_store() -> DigestStore:
    """Where trade-show imports write their digests: the CRM store."""
    from shared.store.crm import DynamoCrmStore

    return DynamoCrmStore()
