"""The sweeps' findings from the items the indexes return (pure): keys stable within a period."""

from __future__ import annotations

from datetime import timedelta

from alerts import sweeps

from shared.config_schemas.alerts import AlertsConfig
from tests.unit.alerts.alerts_fakes import NOW

CONFIG = AlertsConfig()


def iso(delta: timedelta) -> str:
    return (NOW + delta).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_speed_to_lead_reminds_the_rep_then_tells_the_manager() -> None:
    lead = {"lead_id": "l-1", "owner": "rep-sam", "status": "New", "created_at": iso(-timedelta(hours=5))}
    [reminder] = sweeps.speed_to_lead([lead], NOW, CONFIG)
    assert (reminder.kind, reminder.target.rep_id) == ("speed_to_lead", "rep-sam")
    later = sweeps.speed_to_lead([lead], NOW + timedelta(hours=20), CONFIG)
    assert [a.kind for a in later] == ["speed_to_lead", "speed_to_lead_manager"]
    assert later[0].key == reminder.key  # the reminder is not repeated
    assert later[1].target.manager


def test_a_touched_or_fresh_lead_is_left_alone() -> None:
    base = {"lead_id": "l-1", "owner": "rep-sam", "status": "New", "created_at": iso(-timedelta(hours=5))}
    assert sweeps.speed_to_lead([{**base, "status": "Working"}], NOW, CONFIG) == []
    assert sweeps.speed_to_lead([{**base, "last_activity_at": iso(-timedelta(hours=1))}], NOW, CONFIG) == []
    assert sweeps.speed_to_lead([{**base, "created_at": iso(-timedelta(hours=1))}], NOW, CONFIG) == []


def test_next_step_missing_or_in_the_past_reminds_every_interval() -> None:
    missing = {"opportunity_id": "o-1", "owner": "rep-sam", "stage_entered_at": iso(-timedelta(days=1))}
    past = {"opportunity_id": "o-2", "owner": "rep-sam", "next_step": "Call", "next_step_date": "2026-11-20"}
    fine = {"opportunity_id": "o-3", "owner": "rep-sam", "next_step": "Call", "next_step_date": "2026-11-25"}
    found = sweeps.next_step([missing, past, fine], NOW, CONFIG)
    assert [(a.kind, a.entity) for a in found] == [
        ("next_step_missing", "OPPORTUNITY#o-1"), ("next_step_overdue", "OPPORTUNITY#o-2"),
    ]  # fmt: skip
    same_period = sweeps.next_step([missing, past], NOW + timedelta(hours=6), CONFIG)
    assert [a.key for a in same_period] == [a.key for a in found]
    next_period = sweeps.next_step([missing, past], NOW + timedelta(days=3), CONFIG)
    assert not {a.key for a in next_period} & {a.key for a in found}


def test_stale_uses_the_stages_threshold() -> None:
    verbal = {
        "opportunity_id": "o-1",
        "owner": "r",
        "stage": "Verbal Approval",
        "last_activity_at": iso(-timedelta(days=6)),
    }
    early = {
        "opportunity_id": "o-2",
        "owner": "r",
        "stage": "Qualifying Needs",
        "last_activity_at": iso(-timedelta(days=6)),
    }
    [alert] = sweeps.stale_opportunities([verbal, early], NOW, CONFIG)
    assert alert.entity == "OPPORTUNITY#o-1" and alert.facts["allowed_days"] == 5


def test_an_overdue_escalation_repeats_and_reaches_the_manager_after_n_reminders() -> None:
    esc = {
        "escalation_id": "x-1",
        "status": "open",
        "assignee": "rep-ana",
        "due_at": iso(-timedelta(hours=1)),
    }
    first = sweeps.overdue_escalations([esc], NOW, CONFIG)
    assert [(a.target.role, a.facts["reminder"]) for a in first] == [("assignee", 1)]
    second = sweeps.overdue_escalations([esc], NOW + timedelta(hours=24), CONFIG)
    assert [(a.target.role, a.facts["reminder"]) for a in second] == [("assignee", 2)]
    third = sweeps.overdue_escalations([esc], NOW + timedelta(hours=48), CONFIG)
    assert [(a.target.role, a.facts["reminder"]) for a in third] == [("assignee", 3), ("assignee_manager", 3)]
    assert sweeps.overdue_escalations([{**esc, "status": "resolved"}], NOW, CONFIG) == []


def test_samples_and_activities_due_and_not_done() -> None:
    sample = {"sample_id": "s-1", "account_id": "A-ACME", "opportunity_id": "o-1", "part_number": "LM-7",
              "follow_up_at": iso(-timedelta(days=1)), "status": "shipped"}  # fmt: skip
    [alert] = sweeps.samples_due([sample, {**sample, "sample_id": "s-2", "status": "followed_up"}], NOW, CONFIG,
                                 {"o-1": "rep-sam"})  # fmt: skip
    assert alert.target.rep_id == "rep-sam"
    [unowned] = sweeps.samples_due([{**sample, "opportunity_id": None}], NOW, CONFIG, {})
    assert unowned.target.rep_id is None and unowned.target.account_id == "A-ACME"
    activity = {"activity_id": "a-1", "rep_id": "rep-sam", "type": "SA", "due_at": iso(-timedelta(hours=2))}
    assert (
        len(
            sweeps.activities_overdue(
                [activity, {**activity, "activity_id": "a-2", "done": True}], NOW, CONFIG
            )
        )
        == 1
    )
