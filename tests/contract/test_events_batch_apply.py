"""Events applied many at once (``apply_events``: one read, transactions) against one by one
(``apply_event``): the same outcome for each event and the same stored entities, whatever the order,
the duplicates, the late events and the batch sizes; and under racing batches, the in-order state.
On every backend (memory, moto, DynamoDB Local)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from crm_events.apply import KINDS, EventStores, apply_event, apply_events
from crm_events.models import validate_event

from shared.config_schemas.stages import load_stages_file
from shared.store.common import Outcome, Version
from tests.contract.conftest import StoreBackend
from tests.contract.support import race

STAGES = load_stages_file()
T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
STAGE_NAMES = ["Qualifying Needs", "Sales Presentation", "Proposal Delivered", "Verbal Approval"]
OPPORTUNITIES = ["opp-a", "opp-b", "opp-c"]
ACCOUNTS = ["acc-a", "acc-b"]


def _event(n: int, rng: random.Random, minutes: int | None = None) -> Any:
    when = (T0 + timedelta(minutes=rng.randrange(60) if minutes is None else minutes)).isoformat()
    if rng.random() < 0.75:
        data = {"id": rng.choice(OPPORTUNITIES), "account_id": "acc-a", "name": f"Deal {n}",
                "stage": rng.choice(STAGE_NAMES), "amount": str(100 + n)}  # fmt: skip
        raw = {"type": "opportunity.upserted", "data": data}
    else:
        raw = {"type": "account.upserted", "data": {"id": rng.choice(ACCOUNTS), "name": f"Account {n}"}}
    raw.update(event_id=f"e{n:03d}", occurred_at=when.replace("+00:00", "Z"), source="crm-batch")
    result = validate_event(raw, STAGES, now=T0 + timedelta(days=1))
    assert result.event is not None, result.errors
    return result.event


def _stores(backend: StoreBackend) -> EventStores:
    return EventStores(backend.store("crm"), backend.store("events"), backend.store("plan", "Plan"))


def _state(stores: EventStores) -> dict[str, Any]:
    """What a reader sees: each entity without its write time, and each opportunity's stage history."""
    found: dict[str, Any] = {}
    for opportunity_id in OPPORTUNITIES:
        opportunity = stores.crm.get_opportunity(opportunity_id)
        found[opportunity_id] = opportunity and opportunity.model_dump(exclude={"updated_at"})
        found[f"{opportunity_id} history"] = stores.crm.stage_history(opportunity_id)
    for account_id in ACCOUNTS:
        account = stores.crm.get_account(account_id)
        found[account_id] = account and account.model_dump(exclude={"updated_at"})
    return found


def _run(backend: StoreBackend, apply: Any) -> tuple[list[Any], dict[str, Any]]:
    """``apply(stores)`` on empty stores: what it returned, and the state it left."""
    if backend.is_dynamo:
        _reset(backend)
    stores = _stores(backend)
    return apply(stores), _state(stores)


def test_batches_give_the_outcomes_and_the_state_of_one_by_one(store_backend: StoreBackend) -> None:
    for seed in range(4 if store_backend.is_dynamo else 25):
        rng = random.Random(seed)
        # Given a delivery of shuffled events with duplicates, cut into batches of random sizes
        events = [_event(n, rng) for n in range(24)]
        delivery = events + rng.sample(events, 6)
        rng.shuffle(delivery)
        cuts = sorted(rng.sample(range(1, len(delivery)), 3))
        batches = [delivery[a:b] for a, b in zip([0, *cuts], [*cuts, len(delivery)], strict=True)]

        # When they are applied batch by batch, and (on empty stores) event by event
        def in_batches(stores: EventStores, batches: list[list[Any]] = batches) -> list[Any]:
            return [outcome for part in batches for outcome in apply_events(part, stores, STAGES)]

        def one_by_one(stores: EventStores, delivery: list[Any] = delivery) -> list[Any]:
            return [apply_event(event, stores, STAGES) for event in delivery]

        got, state = _run(store_backend, in_batches)
        expected, expected_state = _run(store_backend, one_by_one)

        # Then each event's outcome and the stored entities are the same
        assert got == expected, seed
        assert state == expected_state, seed


def test_new_events_in_order_are_all_written_by_the_batch_path(store_backend: StoreBackend) -> None:
    # Given events in order for entities not stored yet, some entities more than once
    rng = random.Random(3)
    events = [_event(n, rng, minutes=n) for n in range(20)]
    crm = _stores(store_backend).crm
    writes = [(KINDS[e.type].entity(e), Version(e.occurred_at, e.event_id)) for e in events]

    # When they are written many at once
    outcomes = crm.upsert_many(writes)

    # Then the batch path decided every one (none left to the one-by-one writers), all applied
    assert outcomes == [Outcome.APPLIED] * len(events)
    assert (
        crm.get_opportunity(events[-1].data.id if events[-1].type.startswith("opp") else "opp-a") is not None
    )


def _reset(backend: StoreBackend) -> None:
    """Empty the CRM table (the DynamoDB backends share one table per test)."""
    client = backend.dynamodb()
    table = backend.template.table_definitions()["CrmTable"]["TableName"]  # type: ignore[union-attr]
    for page in client.get_paginator("scan").paginate(TableName=table, ProjectionExpression="pk, sk"):
        for item in page["Items"]:
            client.delete_item(TableName=table, Key=item)


def test_racing_batches_end_in_the_in_order_state(store_backend: StoreBackend) -> None:
    rng = random.Random(5)
    events = [_event(n, rng, minutes=n) for n in range(30)]  # distinct times: one in-order state

    # Given the in-order state, one by one
    _, expected = _run(store_backend, lambda stores: [apply_event(event, stores, STAGES) for event in events])
    if store_backend.is_dynamo:
        _reset(store_backend)

    # When four requests apply the same events at once, each in its own shuffled order and batches
    busy = _stores(store_backend)

    def deliver(i: int) -> list[Outcome | Exception]:
        mine = random.Random(i).sample(events, len(events))
        return [o for start in range(0, 30, 10) for o in apply_events(mine[start : start + 10], busy, STAGES)]

    raced = race(4, deliver)

    # Then nothing failed, every event has an outcome, and the state is the in-order one
    assert raced.errors == [None] * 4
    assert all(isinstance(outcome, Outcome) for outcomes in raced.values() for outcome in outcomes)
    assert _state(busy) == expected
