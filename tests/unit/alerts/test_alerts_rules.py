"""Which alerts a stream change makes, from its old and new images (pure, no AWS)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from alerts.rules import RuleContext, alerts_for_change

from shared.config_schemas.alerts import AlertsConfig
from shared.config_schemas.stages import load_stages_file

CTX = RuleContext(AlertsConfig(), load_stages_file(), "channel@example.com")


def opportunity(stage: str, **extra: object) -> dict[str, object]:
    return {
        "entity": "OPPORTUNITY", "opportunity_id": "o-1", "account_id": "A-ACME", "name": "Robot arms",
        "owner": "rep-sam", "stage": stage, "probability": 80, "amount": Decimal("125000.50"),
        "close_date": "2026-12-20", "next_step": "Send the contract", "occurred_at": "2026-11-25T09:00:00.000000Z",
        "last_event_id": "e-2", **extra,
    }  # fmt: skip


def test_a_new_lead_with_an_owner_is_assigned_once_per_version() -> None:
    lead = {"entity": "LEAD", "lead_id": "l-1", "owner": "rep-sam", "version": 1, "email": "a@b.example"}
    [alert] = alerts_for_change(lead, None, CTX)
    assert (alert.kind, alert.target.role, alert.target.rep_id) == ("lead_assigned", "owner", "rep-sam")
    assert alerts_for_change(lead, None, CTX)[0].key == alert.key


def test_the_rep_reads_why_the_lead_is_theirs_not_the_what_if_line_naming_them() -> None:
    from alerts.render import render_alert

    assignment = {
        "reason": "rule",
        "owner": "rep-ana",
        "summary": "rep rep-ana: rule us-east",
        "why": "rule us-east",
    }
    lead = {"entity": "LEAD", "lead_id": "l-1", "owner": "rep-ana", "version": 1, "assignment": assignment}
    [alert] = alerts_for_change(lead, None, CTX)
    assert "Why you: rule us-east\n" in render_alert(alert.kind, alert.facts, "Ana Souza").text
    # an assignment written with a summary only (the demo's) still says it
    [alert] = alerts_for_change({**lead, "assignment": {"summary": "demo: assigned"}}, None, CTX)
    assert "Why you: demo: assigned\n" in render_alert(alert.kind, alert.facts, "Ana Souza").text


def test_a_lead_moved_to_another_rep_is_reassigned_and_the_same_owner_again_is_nothing() -> None:
    old = {"entity": "LEAD", "lead_id": "l-1", "owner": "rep-sam", "version": 1}
    new = {**old, "owner": "rep-ana", "version": 2}
    [alert] = alerts_for_change(new, old, CTX)
    assert alert.kind == "lead_reassigned" and alert.facts["previous_owner"] == "rep-sam"
    assert alerts_for_change({**old, "version": 3, "company": "x"}, old, CTX) == []


def test_a_quarantined_lead_alerts_nobody() -> None:
    assert (
        alerts_for_change({"entity": "LEAD", "lead_id": "l", "owner": "r", "quarantined": True}, None, CTX)
        == []
    )


def test_verbal_approval_tells_the_owner_with_the_figures() -> None:
    [alert] = alerts_for_change(opportunity("Verbal Approval"), opportunity("Refining Solution"), CTX)
    assert alert.kind == "opportunity_stage" and alert.target.role == "owner"
    assert alert.facts["old_stage"] == "Refining Solution" and alert.facts["amount"] == Decimal("125000.50")
    assert alert.facts["next_step"] == "Send the contract" and alert.facts["probability"] == 80


@pytest.mark.parametrize(("stage", "kind"), [("Job Won", "opportunity_won"), ("Lost", "opportunity_lost")])
def test_won_and_lost_tell_the_owner_and_the_owners_manager(stage: str, kind: str) -> None:
    alerts = alerts_for_change(opportunity(stage), opportunity("Formal Approval"), CTX)
    assert [(a.kind, a.target.role, a.target.manager) for a in alerts] == [
        (kind, "owner", False), (kind, "owner_manager", True),
    ]  # fmt: skip
    assert len({a.key for a in alerts}) == 2


def test_an_ordinary_stage_move_or_no_move_alerts_nobody() -> None:
    assert alerts_for_change(opportunity("Sales Presentation"), opportunity("Qualifying Needs"), CTX) == []
    assert alerts_for_change(opportunity("Job Won"), opportunity("Job Won"), CTX) == []


def test_notable_stages_are_configurable() -> None:
    config = AlertsConfig.model_validate(
        {"notable_stages": {"stages": ["Proposal Delivered"], "lost": False}}
    )
    ctx = RuleContext(config, CTX.stages, "c@example.com")
    assert [a.kind for a in alerts_for_change(opportunity("Proposal Delivered"), opportunity("x"), ctx)] == [
        "opportunity_stage"
    ]
    assert alerts_for_change(opportunity("Lost"), opportunity("Formal Approval"), ctx) == []
    assert alerts_for_change(opportunity("Verbal Approval"), opportunity("x"), ctx) == []


def escalation(status: str, assignee: str | None = "rep-ana", **extra: object) -> dict[str, object]:
    return {
        "entity": "ESCALATION", "escalation_id": "x-1", "account_id": "A-ACME", "title": "Part fails at 85 C",
        "severity": "high", "status": status, "assignee": assignee, "occurred_at": "2026-11-25T09:00:00.000000Z",
        "last_event_id": "e-9", **extra,
    }  # fmt: skip


def test_an_escalation_opened_with_an_assignee_and_reassigned_tells_each_assignee() -> None:
    [opened] = alerts_for_change(escalation("open"), None, CTX)
    assert (opened.kind, opened.target.rep_id) == ("escalation_assigned", "rep-ana")
    [moved] = alerts_for_change(escalation("in_progress", "rep-sam"), escalation("open"), CTX)
    assert (moved.kind, moved.target.rep_id) == ("escalation_assigned", "rep-sam")
    assert alerts_for_change(escalation("in_progress"), escalation("open"), CTX) == []


def test_a_resolved_escalation_tells_the_account_owner_and_the_contact_who_raised_it() -> None:
    new = escalation("resolved", resolution="Firmware 2.1 fixes it", contact_id="c-1")
    alerts = alerts_for_change(new, escalation("in_progress"), CTX)
    assert [(a.kind, a.target.role) for a in alerts] == [
        ("escalation_resolved", "account_owner"), ("escalation_outcome", "contact"),
    ]  # fmt: skip
    assert alerts[0].facts["resolution"] == "Firmware 2.1 fixes it"
    assert alerts[1].target.contact_id == "c-1"
    # Without a contact on record only the account owner is told; closing after resolving is nothing new.
    assert len(alerts_for_change(escalation("closed"), escalation("open"), CTX)) == 1
    assert alerts_for_change(escalation("closed"), escalation("resolved"), CTX) == []


def test_a_pos_run_with_rejects_tells_the_channel_manager_once() -> None:
    run = {"entity": "POS_RUN", "key": "pos/d-1/nov.csv", "version": "v1", "distributor": "d-1", "status": "done",
           "rows_total": 10, "accepted": 7, "rejected": 3, "rejects_key": "rejects/pos/d-1/nov.csv"}  # fmt: skip
    [alert] = alerts_for_change(run, {**run, "status": "running"}, CTX)
    assert alert.target.address == "channel@example.com" and alert.facts["rejects_key"].startswith("rejects/")
    assert alerts_for_change(run, run, CTX) == []
    assert alerts_for_change({**run, "rejected": 0}, {**run, "status": "running"}, CTX) == []


def test_a_kind_turned_off_sends_nothing_and_a_fixed_address_is_a_recipient() -> None:
    config = AlertsConfig.model_validate(
        {
            "recipients": {
                "lead_assigned": {"enabled": False, "to": ["owner"]},
                "opportunity_stage": {"to": ["owner", "Deals@Example.com"]},
            }
        }
    )
    ctx = RuleContext(config, CTX.stages, "c@example.com")
    assert alerts_for_change({"entity": "LEAD", "lead_id": "l", "owner": "r", "version": 1}, None, ctx) == []
    alerts = alerts_for_change(opportunity("Verbal Approval"), None, ctx)
    assert [a.target.address for a in alerts] == [None, "deals@example.com"]


def test_a_lead_a_trade_show_list_created_is_left_to_its_import_digest_and_a_later_move_is_not() -> None:
    lead = {"entity": "LEAD", "lead_id": "l-1", "owner": "rep-sam", "version": 0,
            "imported_from": "imports/leads/expo.csv"}  # fmt: skip
    assert alerts_for_change(lead, None, CTX) == []
    [moved] = alerts_for_change({**lead, "owner": "rep-ana", "version": 1}, lead, CTX)
    assert moved.kind == "lead_reassigned"


def test_an_import_digest_is_one_alert_for_its_rep_keyed_by_the_import_and_the_rep() -> None:
    import json

    from alerts.render import render_alert

    digest = {"entity": "IMPORT_DIGEST", "import_key": "imports/leads/expo-2026.csv", "etag": "e1",
              "rep_id": "rep-sam", "lead_count": 400, "results_key": "imports/leads/expo-2026.results.csv",
              "leads_json": json.dumps([{"lead_id": "l-1", "first_name": "Ada", "company": "Acme",
                                         "email": "ada@acme.example", "country": "US"}])}  # fmt: skip
    [alert] = alerts_for_change(digest, None, CTX)
    assert (alert.kind, alert.target.role, alert.target.rep_id) == ("leads_imported", "owner", "rep-sam")
    assert alert.key == "leads_imported|IMPORT#imports/leads/expo-2026.csv#e1|rep-sam|owner"
    assert alerts_for_change({**digest, "rep_id": "rep-ana"}, None, CTX)[0].key != alert.key
    assert alerts_for_change(digest, digest, CTX) == []  # only its creation announces it
    rendered = render_alert(alert.kind, alert.facts, "Sam")
    assert rendered.subject == "400 leads from expo-2026 assigned to you"
    assert (
        "Leads assigned to you: 400" in rendered.text
    )  # the body states the count too, not only the subject
    assert "<td>400</td>" in rendered.html.replace(" ", "")
    assert "List: expo-2026" in rendered.text  # and which list they came from
    assert "Ada (Acme)" in rendered.text and "ada@acme.example" in rendered.text
    assert "399 more" in rendered.text
    # every row of the list: the read route that hands the results over, given the list's own key
    assert (
        "Every row of the list with its owner: GET /leads/imports/results?key=imports/leads/expo-2026.csv\n"
        in (rendered.text)
    )
