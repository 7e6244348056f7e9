"""Delivery: resolution with fallback, exactly once, crash between claim and send, digest, quiet hours."""

from __future__ import annotations

from datetime import timedelta

import pytest
from alerts.delivery import AlertInProgress
from alerts.model import Alert, Target
from alerts.recipients import Resolver

from shared.config_schemas.alerts import AlertsConfig
from shared.store.crm import InMemoryCrmStore
from tests.unit.alerts.alerts_fakes import NOW, FakeMailer, alert_records, deliverer, demo_directory


def stale(n: int, owner: str = "rep-sam") -> Alert:
    return Alert("opportunity_stale", f"OPPORTUNITY#o-{n}", "2026-10-01#0", Target("owner", rep_id=owner),
                 {"opportunity_id": f"o-{n}", "name": f"Deal {n}", "stage": "Proposal Delivered"})  # fmt: skip


def won(owner: str = "rep-sam") -> list[Alert]:
    facts = {"name": "Big one", "old_stage": "Formal Approval", "stage": "Job Won"}
    return [
        Alert("opportunity_won", "OPPORTUNITY#o-w", "v1", Target("owner", rep_id=owner), facts),
        Alert(
            "opportunity_won",
            "OPPORTUNITY#o-w",
            "v1",
            Target("owner_manager", rep_id=owner, manager=True),
            facts,
        ),
    ]


# ------------------------------------------------------------------ recipients
@pytest.mark.parametrize(
    ("target", "address", "reason"),
    [
        (Target("owner", rep_id="rep-sam"), "sam@example.com", None),
        (Target("owner_manager", rep_id="rep-sam", manager=True), "maria@example.com", None),
        (Target("owner", rep_id="someone-else"), "sales-ops@example.com", "owner 'someone-else' is not a known rep"),
        (Target("owner", rep_id="rep-nomail"), "sales-ops@example.com", "rep 'rep-nomail' has no email address"),
        (Target("owner_manager", rep_id="rep-lone", manager=True), "sales-ops@example.com", "rep 'rep-lone' has no manager"),
        (Target("account_owner", account_id="A-NORTH"), "ana@example.com", None),
        (Target("account_owner", account_id="A-NONE"), "sales-ops@example.com", "account 'A-NONE' has no owner in the CRM"),
        (Target("contact", contact_id="c-1"), "chris@customer.example", None),
        (Target("owner", rep_id="not-in-crm", address="routed@example.com"), "routed@example.com", None),
        (Target("owner", account_id="A-ACME"), "sam@example.com", None),
    ],
)  # fmt: skip
def test_recipients_resolve_or_fall_back_with_the_reason(
    target: Target, address: str, reason: str | None
) -> None:
    found = Resolver(demo_directory(), "sales-ops@example.com", "UTC").resolve(target)
    assert (found.email, found.fallback_reason) == (address, reason)


def test_an_owner_who_is_not_a_rep_goes_to_the_fallback_and_is_recorded_as_such() -> None:
    store, mailer = InMemoryCrmStore(), FakeMailer()
    summary = deliverer(store, mailer).deliver(won(owner="ghost"), strict=True)
    assert summary.counts["sent"] == 2 and not summary.failures
    assert [m["to"] for m in mailer.sent] == ["sales-ops@example.com"] * 2
    assert "ghost" in mailer.sent[0]["text"]
    assert {r.fallback_reason for r in alert_records(store).values()} == {
        "owner 'ghost' is not a known rep", "'ghost' is not a known rep, so their manager is unknown",
    }  # fmt: skip


# ------------------------------------------------------------------ exactly once
def test_the_same_alerts_twice_send_once() -> None:
    store, mailer = InMemoryCrmStore(), FakeMailer()
    deliverer(store, mailer).deliver(won(), strict=True)
    again = deliverer(store, mailer).deliver(won(), strict=True)
    assert len(mailer.sent) == 2 and again.counts["already_done"] == 2
    assert all(r.status == "sent" and r.message_id for r in alert_records(store).values())


class Crash(BaseException):
    """The process dies: nothing after this line runs, no handler tidies up."""


def test_a_crash_between_claim_and_send_sends_once_after_the_lease() -> None:
    store, mailer = InMemoryCrmStore(), FakeMailer()

    def die(*args: object) -> str:
        raise Crash

    crashing = deliverer(store, mailer)
    crashing.mailer = type("Dying", (), {"send": staticmethod(die)})()
    with pytest.raises(Crash):
        crashing.deliver(won()[:1], strict=True)
    [claimed] = alert_records(store).values()
    assert claimed.status == "pending" and claimed.message_id is None
    # A retry while the dead sender's lease runs is told to come back (the stream retries it)...
    with pytest.raises(AlertInProgress):
        deliverer(store, mailer, now=NOW + timedelta(seconds=30)).deliver(won()[:1], strict=True)
    # ...after it, the retry takes the claim over and sends; anything later sends nothing.
    later = NOW + timedelta(minutes=3)
    deliverer(store, mailer, now=later).deliver(won()[:1], strict=True)
    deliverer(store, mailer, now=later).deliver(won()[:1], strict=True)
    deliverer(store, mailer, now=later + timedelta(hours=1)).release_due()
    assert len(mailer.sent) == 1 and alert_records(store)[claimed.key].attempts == 2


def test_a_dead_claim_is_finished_by_the_next_sweep() -> None:
    store, mailer = InMemoryCrmStore(), FakeMailer()
    d = deliverer(store, mailer)
    d.mailer = type("Dying", (), {"send": staticmethod(lambda *a: (_ for _ in ()).throw(Crash()))})()
    with pytest.raises(Crash):
        d.deliver([stale(1)])
    summary = deliverer(store, mailer, now=NOW + timedelta(minutes=5)).release_due()
    assert summary.counts["sent"] == 1 and len(mailer.sent) == 1


def test_a_failed_send_gives_the_claim_up_and_the_retry_sends_once() -> None:
    store, mailer = InMemoryCrmStore(), FakeMailer(fail_next=1)
    with pytest.raises(RuntimeError):
        deliverer(store, mailer).deliver(won()[:1], strict=True)
    deliverer(store, mailer).deliver(won()[:1], strict=True)
    deliverer(store, mailer).deliver(won()[:1], strict=True)
    assert len(mailer.sent) == 1


# ------------------------------------------------------------------ digest and quiet hours
def test_thirty_stale_deals_of_one_rep_make_one_digest_and_an_urgent_kind_goes_at_once() -> None:
    store, mailer = InMemoryCrmStore(), FakeMailer()
    summary = deliverer(store, mailer).deliver([stale(n) for n in range(30)] + won())
    to_sam = mailer.to("sam@example.com")
    assert len(to_sam) == 2, [m["subject"] for m in to_sam]
    digest = next(m for m in to_sam if "digest" in m["subject"])
    assert (
        "Opportunity without recent activity (30)" in digest["text"] and digest["text"].count("Deal ") == 30
    )
    assert any(m["subject"].startswith("Opportunity won") for m in to_sam)
    assert summary.counts["digested"] == 30 and summary.counts["sent:digest"] == 1
    assert sum(r.status == "digested" for r in alert_records(store).values()) == 30
    # The sweep fired again finds the same keys: nothing more.
    deliverer(store, mailer).deliver([stale(n) for n in range(30)] + won())
    assert len(mailer.sent) == 3


def test_few_alerts_go_one_by_one_and_past_the_limit_one_waits_for_the_evening_digest() -> None:
    store, mailer = InMemoryCrmStore(), FakeMailer()
    config = AlertsConfig.model_validate({"digest": {"max_per_day": 3}})
    deliverer(store, mailer, config).deliver([stale(n) for n in range(3)])
    assert len(mailer.sent) == 3
    held = deliverer(store, mailer, config, now=NOW + timedelta(hours=1)).deliver([stale(9)])
    assert held.counts["held"] == 1 and len(mailer.sent) == 3
    assert alert_records(store)[stale(9).key].hold_reason == "digest: over 3 alerts today"
    deliverer(store, mailer, config, now=NOW.replace(hour=16)).release_due()
    assert len(mailer.sent) == 3
    deliverer(store, mailer, config, now=NOW.replace(hour=17, minute=5)).release_due()
    assert len(mailer.sent) == 4 and "digest" in mailer.sent[-1]["subject"]


def test_quiet_hours_in_the_recipients_zone_hold_until_morning_but_not_urgent_mail() -> None:
    store, mailer = InMemoryCrmStore(), FakeMailer()
    # 10:00 UTC is 19:00 in Tokyo... and 01:00 UTC is 10:00 there; 13:00 UTC is 22:00 there.
    late = NOW.replace(hour=13)
    deliverer(store, mailer, now=late).deliver([stale(1, owner="rep-tokyo"), *won(owner="rep-tokyo")])
    assert [m["to"] for m in mailer.sent] == ["ken@example.com", "maria@example.com"]
    record = alert_records(store)[stale(1, owner="rep-tokyo").key]
    assert record.status == "held" and record.hold_reason == "quiet hours until 07:00 Asia/Tokyo"
    deliverer(store, mailer, now=late + timedelta(hours=8)).release_due()  # 06:00 Tokyo
    assert len(mailer.sent) == 2
    deliverer(store, mailer, now=late + timedelta(hours=9, minutes=1)).release_due()  # 07:01 Tokyo
    assert len(mailer.sent) == 3 and mailer.sent[-1]["subject"].startswith(
        "Opportunity without recent activity"
    )


def test_quiet_hours_hold_reminders_but_news_of_a_change_goes_at_once_unless_all_are_held() -> None:
    assigned = Alert(
        "lead_assigned", "LEAD#l-1", "v1#rep-sam", Target("owner", rep_id="rep-sam"), {"email": "p@x.example"}
    )
    night = NOW.replace(hour=23)
    store, mailer = InMemoryCrmStore(), FakeMailer()
    deliverer(store, mailer, now=night).deliver([assigned, stale(1)])
    assert [m["subject"].split(":")[0] for m in mailer.sent] == ["New prospect assigned"]
    config = AlertsConfig.model_validate({"quiet_hours": {"applies_to": "all"}})
    store, mailer = InMemoryCrmStore(), FakeMailer()
    deliverer(store, mailer, config, now=night).deliver([assigned, stale(1)])
    assert mailer.sent == [] and {r.status for r in alert_records(store).values()} == {"held"}


def test_a_crash_inside_a_digest_is_finished_as_one_digest_by_the_next_sweep() -> None:
    class DiesMidDigest(InMemoryCrmStore):
        def claim_digest(self, digest, members):  # type: ignore[no-untyped-def]
            self.claim_alert(digest)  # the digest's record is written, then the process dies
            raise Crash

    store, mailer = DiesMidDigest(), FakeMailer()
    with pytest.raises(Crash):
        deliverer(store, mailer).deliver([stale(n) for n in range(30)])
    assert mailer.sent == []
    summary = deliverer(store, mailer, now=NOW + timedelta(minutes=5)).release_due()
    assert [m["subject"] for m in mailer.sent] == ["Your alerts digest for 2026-11-25: 30 items"]
    assert summary.counts["digested"] == 30
    deliverer(store, mailer, now=NOW + timedelta(hours=2)).release_due()
    assert len(mailer.sent) == 1
