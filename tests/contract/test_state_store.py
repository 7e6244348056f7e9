"""The state store's contract (``shared.store.state``), the same on memory, moto and DynamoDB Local."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shared.store.errors import StoreError, Throttled
from tests.contract.conftest import StoreBackend
from tests.contract.support import OVER_400_KB, race

NOW = datetime(2026, 11, 22, 10, 0, 30, tzinfo=UTC)


def test_a_rotation_turn_moves_only_from_the_turn_read(store_backend: StoreBackend) -> None:
    # Given a pool that never turned
    state = store_backend.store("state")
    assert state.current_turn("pool-a") == 0

    # When it is advanced from 0, and again from 0
    first = state.advance("pool-a", 0, 1)
    again = state.advance("pool-a", 0, 1)

    # Then only the first move counts (create-once), and a move from the turn read goes ahead
    assert (first, again) == (True, False)
    assert state.advance("pool-a", 1, 2) is True
    assert state.current_turn("pool-a") == 2


def test_racing_rotations_exactly_one_wins(store_backend: StoreBackend) -> None:
    # Given a pool at turn 3
    state = store_backend.store("state")
    assert state.advance("pool-b", 0, 3)

    # When eight callers, each having read turn 3, advance it at once
    raced = race(8, lambda i: state.advance("pool-b", 3, 4))

    # Then exactly one wins; the others are told so, and nothing fails
    assert raced.errors == [None] * 8
    assert sorted(raced.results) == [False] * 7 + [True]
    assert state.current_turn("pool-b") == 4


def test_racing_requests_count_exactly_to_the_limit(store_backend: StoreBackend) -> None:
    # Given a limit of 5 requests a window
    state = store_backend.store("state")

    # When 12 requests of one client come at once, in one window
    raced = race(12, lambda i: state.allow("203.0.113.7", limit=5, window_seconds=60, now=NOW))

    # Then exactly 5 are allowed (the window's "count", a reserved word, is added atomically)
    assert raced.errors == [None] * 12
    assert raced.results.count(True) == 5
    assert state.allow("203.0.113.7", limit=5, window_seconds=60, now=NOW) is False
    assert state.allow("198.51.100.1", limit=5, window_seconds=60, now=NOW) is True


def test_config_status_keeps_reserved_words_and_nesting(store_backend: StoreBackend) -> None:
    # Given a status whose keys are DynamoDB reserved words
    status = {"status": "refused", "name": "routing.yaml", "size": 3, "errors": [{"field": "rules"}]}
    state = store_backend.store("state")

    # When it is stored and read back
    state.put_config_status("routing", status)

    # Then it comes back as written
    assert state.config_status("routing") == status
    assert state.config_status("alerts") is None


def test_a_backfill_position_is_kept_until_the_backfill_finishes(store_backend: StoreBackend) -> None:
    state = store_backend.store("state")
    assert state.backfill_position("list-1") is None

    state.save_backfill_position("list-1", "LEAD#42")
    assert state.backfill_position("list-1") == "LEAD#42"

    state.save_backfill_position("list-1", None)
    assert state.backfill_position("list-1") is None


def test_a_config_status_over_400_kb_is_refused(store_backend: StoreBackend) -> None:
    state = store_backend.store("state")

    # When a status too big for one item is stored
    # Then it is refused as a StoreError (not a crash, not a retryable Throttled), and nothing is kept
    with pytest.raises(StoreError) as refused:
        state.put_config_status("routing", {"errors": OVER_400_KB})
    assert not isinstance(refused.value, Throttled)
    assert state.config_status("routing") is None


def test_a_config_status_just_under_400_kb_is_kept(store_backend: StoreBackend) -> None:
    state = store_backend.store("state")

    # When a status just under the limit is stored (DynamoDB and DynamoDB Local refuse past 400 KiB,
    # 409,600 bytes; moto past 400,000 bytes, so the case stays under both)
    near_limit = "z" * 399_500
    state.put_config_status("routing", {"errors": near_limit})

    # Then every backend keeps it whole: the in-memory size rule refuses no more than DynamoDB does
    assert state.config_status("routing") == {"errors": near_limit}
