"""``stage_entered_at`` comes from the same observations as the stage history, whatever the order of delivery."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime, timedelta

from shared.store import crm
from shared.store.common import Version, format_time
from shared.store.crm import InMemoryCrmStore

T0 = datetime(2026, 11, 22, 20, 0, tzinfo=UTC)
# (event id, minutes after T0, stage): A, then B twice, then C, then B again
OBSERVATIONS = [
    ("e1", 0, "A"),
    ("e2", 7, "B"),
    ("e3", 8, "B"),
    ("e4", 9, "C"),
    ("e5", 10, "B"),
    ("e6", 11, "B"),
]


def deliver(order: list[tuple[str, int, str]]) -> InMemoryCrmStore:
    store = InMemoryCrmStore()
    for event_id, minutes, stage in order:
        opportunity = crm.Opportunity(opportunity_id="opp-1", account_id="acc-1", name="Deal", stage=stage)
        store.upsert_opportunity(opportunity, Version(T0 + timedelta(minutes=minutes), event_id))
    return store


def summary(store: InMemoryCrmStore) -> tuple:
    opportunity = store.get_opportunity("opp-1")
    history = store.stage_history("opp-1")
    assert opportunity is not None
    # The record agrees with its own history: the current stage began at the last change
    assert opportunity.stage_entered_at == format_time(history[-1].at)
    assert opportunity.previous_stage == history[-1].from_stage
    return (
        opportunity.stage,
        opportunity.stage_entered_at,
        opportunity.previous_stage,
        [c.as_dict() for c in history],
    )


def test_in_order_delivery_gives_the_entry_of_the_last_run():
    assert summary(deliver(OBSERVATIONS))[:3] == ("B", format_time(T0 + timedelta(minutes=10)), "C")


def test_reversed_and_shuffled_deliveries_agree_with_in_order_delivery():
    expected = summary(deliver(OBSERVATIONS))
    orders = [OBSERVATIONS[::-1]] + [
        random.Random(seed).sample(OBSERVATIONS, len(OBSERVATIONS)) for seed in range(30)
    ]
    for order in orders:
        assert summary(deliver(order)) == expected, order


def test_every_order_of_a_small_history_agrees():
    few = OBSERVATIONS[:4]
    expected = summary(deliver(few))
    for order in itertools.permutations(few):
        assert summary(deliver(list(order))) == expected, order
