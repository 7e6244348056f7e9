"""The CRM store's alert sections (issue 10), the same on memory, moto and DynamoDB Local: alert records
claimed once, taken over only when due, marked, digested; the sweep indexes written and read."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from tests.contract.conftest import StoreBackend

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


def stamp(delta: timedelta = timedelta()) -> str:
    from shared.store.common import format_time

    return format_time(NOW + delta)


def a_record(key: str = "opportunity_won|OPPORTUNITY#o-1|v1|owner", **fields: Any) -> Any:
    from shared.store.crm import AlertRecord

    values = {"kind": "opportunity_won", "entity": "OPPORTUNITY#o-1", "recipient": "Sam@Example.com",
              "created_at": stamp(), "claim_token": "t1", "due_at": stamp(timedelta(minutes=2)),
              "facts": {"amount": "12.50", "name": "Deal"}, **fields}  # fmt: skip
    return AlertRecord(key=key, **values)


def test_an_alert_is_claimed_once_marked_and_listed(store_backend: StoreBackend) -> None:
    crm = store_backend.store("crm")
    assert crm.claim_alert(a_record()) is True
    assert crm.claim_alert(a_record(claim_token="t2")) is False
    # a live claim is not taken over; a wrong token marks nothing
    stored = crm.get_alert(a_record().key)
    assert stored is not None and stored.facts == {"amount": "12.50", "name": "Deal"}
    assert crm.take_over_alert(stored, "t9", stamp(timedelta(minutes=5)), stamp()) is False
    assert crm.mark_alert_sent(stored.key, "t2", "m-0", stamp()) is False
    assert crm.mark_alert_sent(stored.key, "t1", "m-1", stamp()) is True
    sent = crm.get_alert(stored.key)
    assert sent is not None and (sent.status, sent.message_id, sent.recipient) == (
        "sent",
        "m-1",
        "sam@example.com",
    )
    # listed by recipient and by day; no longer pending
    assert [r.key for r in crm.alerts_to("sam@example.com", stamp(-timedelta(hours=1)))] == [stored.key]
    assert [r.key for r in crm.list_alerts(stamp(-timedelta(days=1)), stamp(timedelta(seconds=1)))] == [
        stored.key
    ]
    assert crm.alerts_due(stamp(timedelta(hours=1))) == []
    assert set(crm.get_alerts([stored.key, "nothing|x|y|z"])) == {stored.key}


def test_a_dead_claim_is_taken_over_once_when_due_and_a_hold_ends(store_backend: StoreBackend) -> None:
    crm = store_backend.store("crm")
    crm.claim_alert(a_record())
    later = stamp(timedelta(minutes=3))
    [due] = crm.alerts_due(later)
    assert crm.take_over_alert(due, "t2", stamp(timedelta(minutes=6)), later) is True
    assert crm.take_over_alert(due, "t3", stamp(timedelta(minutes=6)), later) is False  # the token moved on
    held_key = "opportunity_stale|OPPORTUNITY#o-2|p0|owner"
    crm.claim_alert(a_record(held_key, kind="opportunity_stale", claim_token="h1"))
    assert crm.hold_alert(held_key, "h1", "quiet hours", stamp(timedelta(hours=9))) is True
    assert held_key not in [r.key for r in crm.alerts_due(stamp(timedelta(hours=8)))]
    [held] = [r for r in crm.alerts_due(stamp(timedelta(hours=10))) if r.key == held_key]
    assert (held.status, held.hold_reason) == ("held", "quiet hours")


def test_a_digest_takes_its_members_and_a_retry_adopts_the_rest(store_backend: StoreBackend) -> None:
    crm = store_backend.store("crm")
    keys = [f"opportunity_stale|OPPORTUNITY#o-{n}|p0|owner" for n in range(3)]
    for n, key in enumerate(keys):
        crm.claim_alert(a_record(key, kind="opportunity_stale", claim_token=f"m{n}"))
    digest = a_record("digest|RECIPIENT#sam@example.com|2026-11-25|abc", kind="digest", claim_token="d1")
    marked = crm.claim_digest(digest, [(keys[0], "m0"), (keys[1], "wrong")])
    assert marked == [keys[0]]
    assert crm.claim_digest(digest, [(keys[2], "m2")]) is None  # the digest exists
    assert crm.adopt_into_digest(keys[0], digest.key, stamp()) is True  # already in it
    assert crm.adopt_into_digest(keys[2], digest.key, stamp()) is False  # its claim is still live
    assert crm.adopt_into_digest(keys[2], digest.key, stamp(timedelta(minutes=5))) is True
    statuses = {k: crm.get_alert(k).status for k in keys}
    assert statuses == {keys[0]: "digested", keys[1]: "pending", keys[2]: "digested"}


def test_the_sweep_indexes_follow_the_writers(store_backend: StoreBackend) -> None:
    from shared.store.common import Version
    from shared.store.crm import Activity, Opportunity, Sample

    crm = store_backend.store("crm")
    v = Version(NOW - timedelta(days=40), "e1")
    base = {"account_id": "A-1", "owner": "rep-sam", "amount": Decimal("10.00"), "outcome": "open"}
    crm.upsert_opportunity(Opportunity(opportunity_id="o-stale", name="Stale", stage="Proposal Delivered",
                                       next_step="Call", **base), v)  # fmt: skip
    crm.upsert_opportunity(Opportunity(opportunity_id="o-nostep", name="No step", stage="Sales Presentation",
                                       **base), v)  # fmt: skip
    crm.upsert_opportunity(Opportunity(opportunity_id="o-won", name="Won", stage="Job Won",
                                       **{**base, "outcome": "won"}), v)  # fmt: skip
    crm.upsert_sample(Sample(sample_id="s-1", account_id="A-1", part_number="P", quantity=1,
                             follow_up_at=NOW - timedelta(days=1), status="shipped"), v)  # fmt: skip
    crm.upsert_sample(Sample(sample_id="s-2", account_id="A-1", part_number="P", quantity=1,
                             follow_up_at=NOW - timedelta(days=1), status="followed_up"), v)  # fmt: skip
    crm.log_activity(Activity(activity_id="a-1", rep_id="rep-sam", type="SA", at=NOW - timedelta(days=2),
                              due_at=NOW - timedelta(hours=3), done=False), v)  # fmt: skip

    stale = crm.stale_opportunities("Proposal Delivered", NOW - timedelta(days=10))
    assert [o.opportunity_id for o in stale] == ["o-stale"]
    assert crm.stale_opportunities("Job Won", NOW) == []
    assert [o.opportunity_id for o in crm.opportunities_next_step_due(NOW.date())] == ["o-nostep"]
    assert [s.sample_id for s in crm.samples_due(NOW)] == ["s-1"]
    assert [a.activity_id for a in crm.activities_due(NOW)] == ["a-1"]
    assert set(crm.get_opportunities(["o-stale", "o-none"])) == {"o-stale"}

    # An activity logged for the stale deal moves its last activity forward, and off the stale list;
    # an older one changes nothing.
    crm.log_activity(Activity(activity_id="a-2", rep_id="rep-sam", type="Call", at=NOW - timedelta(hours=1),
                              opportunity_id="o-stale"), Version(NOW, "e2"))  # fmt: skip
    assert crm.stale_opportunities("Proposal Delivered", NOW - timedelta(days=10)) == []
    assert crm.touch_opportunity("o-stale", NOW - timedelta(days=5)) is False
    # A later upsert of the deal (without a last activity) keeps it
    crm.upsert_opportunity(Opportunity(opportunity_id="o-stale", name="Stale", stage="Proposal Delivered",
                                       next_step="Call", next_step_date=date(2026, 11, 20), **base),
                           Version(NOW, "e3"))  # fmt: skip
    opp = crm.get_opportunity("o-stale")
    assert opp is not None and opp.last_activity_at == NOW - timedelta(hours=1)
    assert [o.opportunity_id for o in crm.opportunities_next_step_due(NOW.date())] == [
        "o-stale",
        "o-nostep",
    ] or [o.opportunity_id for o in crm.opportunities_next_step_due(NOW.date())] == ["o-nostep", "o-stale"]
