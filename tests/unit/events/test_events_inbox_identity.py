"""The inbox keeps every accepted event: one event per id, a reused id with another body refused (409)."""

from __future__ import annotations

from crm_events.service import EventsContext, receive_events, replay_events

from shared.config_schemas.stages import load_stages_file
from shared.signing import StaticSourceSecrets
from shared.store.crm import InMemoryCrmStore
from shared.store.events import InboxEvent, InMemoryEventsStore, Kept
from shared.store.plan import InMemoryPlanStore
from tests.unit.events.events_builders import NOW, SECRET, SOURCE, batch, opportunity, signed_headers

STAGES = load_stages_file()


def context() -> EventsContext:
    from crm_events.service import EventStores

    stores = EventStores(InMemoryCrmStore(), InMemoryEventsStore(), InMemoryPlanStore())
    return EventsContext(
        store=stores, secrets=StaticSourceSecrets({SOURCE: [SECRET]}), stages=lambda: STAGES, now=lambda: NOW
    )


def post(ctx: EventsContext, body: bytes):
    return receive_events(signed_headers(body), body, ctx)


def test_the_same_id_with_the_same_body_is_one_event():
    ctx = context()
    body = batch(opportunity("e1", 0, "Qualifying Needs", amount=100))
    first, second = post(ctx, body), post(ctx, body)
    assert (first.status_code, second.status_code) == (200, 200)
    assert second.body["results"][0]["status"] == "duplicate"
    assert len(list(ctx.store.inbox.read_inbox(NOW.replace(hour=0)))) == 1


def test_the_same_id_with_another_body_is_refused_and_nothing_is_overwritten():
    ctx = context()
    post(ctx, batch(opportunity("e1", 0, "Qualifying Needs", amount=100)))
    # When another event comes with the same id (a later time, another amount)
    answer = post(ctx, batch(opportunity("e1", 5, "Verbal Approval", amount=999)))
    # Then that event is refused with 409, and neither the inbox nor the opportunity changed
    assert answer.status_code == 409
    (result,) = answer.body["results"]
    assert (result["status"], result["status_code"]) == ("conflict", 409)
    assert result["errors"][0]["field"] == "event_id"
    (kept,) = ctx.store.inbox.read_inbox(NOW.replace(hour=0))
    assert kept.body["data"]["amount"] == "100" or kept.body["data"]["amount"] == 100
    opp = ctx.store.crm.get_opportunity("opp-1")
    assert (opp.stage, opp.amount) == ("Qualifying Needs", 100)
    # And a replay restores what happened
    fresh = context()
    replay_events(
        fresh.store, STAGES, NOW.replace(hour=0), entries=ctx.store.inbox.read_inbox(NOW.replace(hour=0))
    )
    assert fresh.store.crm.get_opportunity("opp-1").stage == "Qualifying Needs"


def test_a_batch_with_a_reused_id_keeps_the_others():
    ctx = context()
    post(ctx, batch(opportunity("e1", 0, "Qualifying Needs")))
    answer = post(
        ctx, batch(opportunity("e1", 1, "Verbal Approval"), opportunity("e2", 2, "Verbal Approval"))
    )
    assert answer.status_code == 200
    assert [(r["event_id"], r["status"]) for r in answer.body["results"]] == [
        ("e1", "conflict"),
        ("e2", "accepted"),
    ]
    assert answer.body["accepted"] == 1
    assert ctx.store.crm.get_opportunity("opp-1").stage == "Verbal Approval"


def test_the_store_says_what_keeping_did():
    store = InMemoryEventsStore()
    one = InboxEvent(SOURCE, "x", "opportunity.upserted", NOW, '{"a": 1}')
    other = InboxEvent(SOURCE, "x", "opportunity.upserted", NOW, '{"a": 2}')
    assert store.keep_events([one, one, other], received_at=NOW) == [Kept.NEW, Kept.REPEAT, Kept.CONFLICT]
    assert [e.body for e in store.read_inbox(NOW.replace(hour=0))] == [{"a": 1}]
