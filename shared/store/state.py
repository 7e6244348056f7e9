"""The state table: rotation turns, rate-limit windows, configuration status, backfill positions.

Operational state, not entities: no ``entity`` discriminator and no index. Key patterns (the only
place they are spelled; ``docs/data-model.md`` lists each access pattern with its method):

- a pool's rotation turn: ``ROTATION#<pool_id>`` / ``ROTATION``, ``count`` = the next turn, moved by a
  compare-and-set (``current_turn``, ``advance``);
- a rate-limit window: ``RATE#<key>`` / ``W#<unix time div window>``, ``count`` added atomically,
  gone by TTL (``allow``);
- a configuration document's status: ``CONFIG#<name>`` / ``STATUS``, ``data`` = the status
  (``put_config_status``, ``config_status``);
- a MailChimp backfill's position: ``MAILCHIMP#BACKFILL`` / ``<list_id>``, ``data.cursor``, deleted when
  the backfill finishes (``backfill_position``, ``save_backfill_position``).

``DynamoStateStore`` serves it with pynamodb; ``InMemoryStateStore`` has the same semantics for unit
tests. Storage failures are raised as ``shared.store.errors`` (``Throttled``, ...).
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from pynamodb.attributes import MapAttribute, NumberAttribute, TTLAttribute, UnicodeAttribute
from pynamodb.exceptions import DoesNotExist, UpdateError
from pynamodb.models import Model

from shared.settings import get_settings
from shared.store.errors import translated
from shared.store.items import now_text, refuse_oversized

_settings = get_settings()


# ------------------------------------------------------------------ keys
def rotation_key(pool_id: str) -> tuple[str, str]:
    return f"ROTATION#{pool_id}", "ROTATION"


def rate_window_key(key: str, window: int) -> tuple[str, str]:
    return f"RATE#{key}", f"W#{window}"


def rate_windows_pk(key: str) -> str:
    """The partition of one client's windows (operators and tests list them)."""
    return rate_window_key(key, 0)[0]


def config_status_key(name: str) -> tuple[str, str]:
    return f"CONFIG#{name}", "STATUS"


def backfill_position_key(list_id: str) -> tuple[str, str]:
    return "MAILCHIMP#BACKFILL", list_id


# ------------------------------------------------------------------ item model
class StateItem(Model):
    """One piece of operational state."""

    class Meta:
        table_name = _settings.state_table
        region = _settings.region

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    counter = NumberAttribute(attr_name="count", default=0)  # "count" would shadow Model.count()
    data = MapAttribute[str, Any](null=True)
    updated_at = UnicodeAttribute(null=True)
    expires_at = TTLAttribute(null=True)


# ------------------------------------------------------------------ the protocol
class StateStore(Protocol):
    """The state table's access patterns."""

    def current_turn(self, pool_id: str) -> int:
        """A pool's next turn (0 when the pool never turned); a consistent read."""
        ...

    def advance(self, pool_id: str, expected: int, new: int) -> bool:
        """Move a pool's turn from ``expected`` to ``new``; False when another writer moved it first."""
        ...

    def allow(self, key: str, *, limit: int, window_seconds: int, now: datetime) -> bool:
        """Count one request for ``key`` in the current fixed window; False once past ``limit``."""
        ...

    def put_config_status(self, name: str, status: dict[str, Any]) -> None:
        """Record whether a configuration document was accepted or refused, and why."""
        ...

    def config_status(self, name: str) -> dict[str, Any] | None: ...

    def backfill_position(self, list_id: str) -> str | None:
        """Where the last MailChimp backfill of ``list_id`` stopped (None: start from the beginning)."""
        ...

    def save_backfill_position(self, list_id: str, cursor: str | None) -> None:
        """Keep the position (None: the backfill finished, forget it)."""
        ...


def _window(key: str, window_seconds: int, now: datetime) -> tuple[tuple[str, str], datetime]:
    window = int(now.timestamp()) // window_seconds
    expires = datetime.fromtimestamp((window + 1) * window_seconds, UTC) + timedelta(minutes=5)
    return rate_window_key(key, window), expires


# ------------------------------------------------------------------ DynamoDB
class DynamoStateStore:
    """``StateStore`` on the state table (pynamodb)."""

    def current_turn(self, pool_id: str) -> int:
        with translated():
            try:
                return int(StateItem.get(*rotation_key(pool_id), consistent_read=True).counter or 0)
            except DoesNotExist:
                return 0

    def advance(self, pool_id: str, expected: int, new: int) -> bool:
        condition = StateItem.counter == expected
        if expected == 0:
            condition = condition | StateItem.pk.does_not_exist()
        with translated():
            try:
                StateItem(*rotation_key(pool_id)).update(
                    actions=[StateItem.counter.set(new), StateItem.updated_at.set(now_text())],
                    condition=condition,
                )
            except UpdateError as exc:
                if exc.cause_response_code == "ConditionalCheckFailedException":
                    return False
                raise
        return True

    def allow(self, key: str, *, limit: int, window_seconds: int, now: datetime) -> bool:
        (pk, sk), expires = _window(key, window_seconds, now)
        item = StateItem(pk, sk)
        with translated():
            item.update(actions=[StateItem.counter.add(1), StateItem.expires_at.set(expires)])
        return int(item.counter or 0) <= limit

    def put_config_status(self, name: str, status: dict[str, Any]) -> None:
        with translated():
            StateItem(*config_status_key(name), data=status, updated_at=now_text()).save()

    def config_status(self, name: str) -> dict[str, Any] | None:
        with translated():
            try:
                item = StateItem.get(*config_status_key(name), consistent_read=True)
            except DoesNotExist:
                return None
        return _plain(item.data)

    def backfill_position(self, list_id: str) -> str | None:
        with translated():
            try:
                item = StateItem.get(*backfill_position_key(list_id), consistent_read=True)
            except DoesNotExist:
                return None
        data = _plain(item.data) or {}
        cursor = data.get("cursor")
        return str(cursor) if cursor else None

    def save_backfill_position(self, list_id: str, cursor: str | None) -> None:
        item = StateItem(*backfill_position_key(list_id), updated_at=now_text())
        with translated():
            if cursor is None:
                item.delete()
            else:
                item.data = {"cursor": cursor}
                item.save()


def _plain(data: Any) -> dict[str, Any] | None:
    if data is None:
        return None
    return data.as_dict() if hasattr(data, "as_dict") else dict(data)


# ------------------------------------------------------------------ in memory
class InMemoryStateStore:
    """``StateStore`` in a dict, with the same compare-and-set and window semantics."""

    def __init__(self, turns: dict[str, int] | None = None) -> None:
        self.turns: dict[str, int] = dict(turns or {})
        self.windows: dict[tuple[str, str], int] = {}
        self.statuses: dict[str, dict[str, Any]] = {}
        self.positions: dict[str, str] = {}

    def current_turn(self, pool_id: str) -> int:
        return self.turns.get(pool_id, 0)

    def advance(self, pool_id: str, expected: int, new: int) -> bool:
        if self.turns.get(pool_id, 0) != expected:
            return False
        self.turns[pool_id] = new
        return True

    def allow(self, key: str, *, limit: int, window_seconds: int, now: datetime) -> bool:
        window, _expires = _window(key, window_seconds, now)
        self.windows[window] = self.windows.get(window, 0) + 1
        return self.windows[window] <= limit

    def put_config_status(self, name: str, status: dict[str, Any]) -> None:
        refuse_oversized(StateItem(*config_status_key(name), data=status, updated_at=now_text()).serialize())
        self.statuses[name] = copy.deepcopy(status)

    def config_status(self, name: str) -> dict[str, Any] | None:
        found = self.statuses.get(name)
        return copy.deepcopy(found) if found is not None else None

    def backfill_position(self, list_id: str) -> str | None:
        return self.positions.get(list_id)

    def save_backfill_position(self, list_id: str, cursor: str | None) -> None:
        if cursor is None:
            self.positions.pop(list_id, None)
        else:
            self.positions[list_id] = cursor
