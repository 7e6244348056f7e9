"""Names in alert emails: the reps and accounts a message mentions are shown by name (the account
with its id), read in a few batches per delivery; an id the CRM does not hold is shown as it is;
the alert's key does not change."""

from __future__ import annotations

from datetime import timedelta

from alerts.model import Alert, Target

from shared.store.crm import InMemoryCrmStore
from tests.unit.alerts.alerts_fakes import NOW, FakeMailer, alert_records, deliverer, demo_directory


def won(owner: str = "rep-sam", account: str = "A-ACME") -> Alert:
    facts = {"opportunity_id": "o-1", "name": "Big one", "account_id": account, "owner": owner,
             "old_stage": "Formal Approval", "stage": "Job Won"}  # fmt: skip
    return Alert("opportunity_won", "OPPORTUNITY#o-1", "v1", Target("owner", rep_id=owner, account_id=account),
                 facts)  # fmt: skip


def overdue(assignee: str, account: str) -> Alert:
    facts = {"escalation_id": "e-1", "title": "Cracks", "status": "open", "account_id": account,
             "assignee": assignee, "reminder": 1}  # fmt: skip
    return Alert("escalation_overdue", f"ESCALATION#{assignee}@{account}", "2026-11-24#1", Target("assignee", rep_id=assignee),
                 facts)  # fmt: skip


def sample(account: str) -> Alert:
    facts = {"sample_id": "s-1", "account_id": account, "part_number": "LM-7", "quantity": 5}
    return Alert("sample_follow_up_due", f"SAMPLE#s-{account}", "2026-11-24#0", Target("account_owner", account_id=account),
                 facts)  # fmt: skip


def test_the_owner_and_the_account_are_named_and_the_key_is_unchanged() -> None:
    # Given a won deal of Sam's at Acme
    store, mailer = InMemoryCrmStore(), FakeMailer()
    alert = won()
    key = alert.key

    # When it is delivered
    deliverer(store, mailer).deliver([alert], strict=True)

    # Then the email names Sam and Acme (with Acme's id), in text and HTML, and not by id alone
    [sent] = mailer.sent
    assert "Owner: Sam Carter\n" in sent["text"] and "Account: Acme Corp (A-ACME)\n" in sent["text"]
    assert "<td>Sam Carter</td>" in sent["html"] and "<td>Acme Corp (A-ACME)</td>" in sent["html"]
    assert "Owner: rep-sam" not in sent["text"]
    # And the record keeps the ids beside the names, under the same key as before
    [record] = alert_records(store).values()
    assert record.key == key == "opportunity_won|OPPORTUNITY#o-1|v1|owner"
    assert (record.facts["owner"], record.facts["owner_name"]) == ("rep-sam", "Sam Carter")
    assert (record.facts["account_id"], record.facts["account_name"]) == ("A-ACME", "Acme Corp")


def test_an_assignee_and_an_account_the_crm_does_not_hold_are_shown_by_id() -> None:
    store, mailer = InMemoryCrmStore(), FakeMailer()
    deliverer(store, mailer).deliver([overdue("rep-ghost", "A-GONE"), overdue("rep-ana", "A-NORTH")])
    ghost = next(m for m in mailer.sent if m["to"] == "sales-ops@example.com")
    assert "Assignee: rep-ghost\n" in ghost["text"] and "Account: A-GONE\n" in ghost["text"]
    ana = next(m for m in mailer.sent if m["to"] == "ana@example.com")
    assert "Assignee: Ana Souza\n" in ana["text"] and "Account: Northwind Traders (A-NORTH)\n" in ana["text"]


def test_a_sample_subject_names_the_account_or_keeps_its_id() -> None:
    store, mailer = InMemoryCrmStore(), FakeMailer()
    deliverer(store, mailer).deliver([sample("A-ACME")])
    deliverer(store, mailer).deliver([sample("A-GONE")])
    assert [m["subject"] for m in mailer.sent] == [
        "Sample follow-up due: LM-7 at Acme Corp",
        "Sample follow-up due: LM-7 at A-GONE",
    ]


def test_an_alert_held_through_quiet_hours_is_sent_later_with_the_names() -> None:
    store, mailer = InMemoryCrmStore(), FakeMailer()
    stale = Alert("opportunity_stale", "OPPORTUNITY#o-2", "2026-10-01#0", Target("owner", rep_id="rep-sam"),
                  {"name": "Deal", "owner": "rep-sam", "account_id": "A-ACME"})  # fmt: skip
    night = NOW.replace(hour=23)
    deliverer(store, mailer, now=night).deliver([stale])
    assert mailer.sent == []
    # The next morning the sweep's release renders from the record alone, names included
    deliverer(store, mailer, now=night + timedelta(hours=8, minutes=5)).release_due()
    [sent] = mailer.sent
    assert "Owner: Sam Carter\n" in sent["text"] and "Account: Acme Corp (A-ACME)\n" in sent["text"]


def test_a_sweep_reads_names_in_two_batches_whatever_the_count_and_none_for_known_alerts() -> None:
    # Given forty alerts naming several reps and accounts, to owners, managers and account owners
    directory = demo_directory()
    alerts = [
        overdue(rep, acct) for rep in ("rep-sam", "rep-ana", "rep-ghost") for acct in ("A-ACME", "A-GONE")
    ]
    alerts = [
        Alert(a.kind, f"ESCALATION#e-{n}", a.version, a.target, a.facts) for n, a in enumerate(alerts * 5)
    ] + [won(), sample("A-NORTH"), *[won(owner="rep-tokyo", account=f"A-{n}") for n in range(3)]]
    manager = Alert("opportunity_won", "OPPORTUNITY#o-1", "v1", Target("owner_manager", rep_id="rep-ana",
                    manager=True), won().facts)  # fmt: skip
    alerts.append(manager)
    store, mailer = InMemoryCrmStore(), FakeMailer()

    # When one sweep delivers them
    deliverer(store, mailer, directory=directory).deliver(alerts)

    # Then the directory was asked twice: the reps and accounts named, then the account owners and managers meant
    assert len(directory.preloads) == 2, directory.preloads
    (reps, accounts), (more_reps, no_accounts) = directory.preloads
    assert set(accounts) == {"A-ACME", "A-GONE", "A-NORTH", "A-0", "A-1", "A-2"}
    assert set(reps) == {"rep-sam", "rep-ana", "rep-ghost", "rep-tokyo"}
    assert (more_reps, no_accounts) == (["rep-ana", "rep-maria"], [])  # A-NORTH's owner, rep-ana's manager
    # And a sweep that finds the same alerts again asks for nothing
    directory.preloads.clear()
    deliverer(store, mailer, directory=directory).deliver(alerts)
    assert directory.preloads == []


def test_a_re_assignment_names_who_had_the_lead_or_the_escalation_before() -> None:
    """A lead moved from Sam to Ana, an escalation from Sam to Ana: Ana's email says who had it (by name,
    from the CRM), so she knows whom to ask; a first assignment says nothing of the kind."""
    from alerts.rules import alerts_for_change

    from tests.unit.alerts.test_alerts_rules import CTX

    store, mailer = InMemoryCrmStore(), FakeMailer()
    old = {"entity": "LEAD", "lead_id": "l-1", "first_name": "Ada", "owner": "rep-sam", "version": 1}
    [moved] = alerts_for_change({**old, "owner": "rep-ana", "version": 2}, old, CTX)
    [first] = alerts_for_change({**old, "lead_id": "l-2"}, None, CTX)
    escalation = {"entity": "ESCALATION", "escalation_id": "e-1", "title": "Cracks", "status": "open",
                  "account_id": "A-NORTH", "assignee": "rep-sam", "version": 1}  # fmt: skip
    handed = alerts_for_change({**escalation, "assignee": "rep-ana", "version": 2}, escalation, CTX)
    deliverer(store, mailer).deliver([moved, first, *handed], strict=True)

    ana = [m for m in mailer.sent if m["to"] == "ana@example.com"]
    lead_mail = next(m for m in ana if m["subject"].startswith("Prospect re-assigned"))
    assert "Previously with: Sam Carter\n" in lead_mail["text"] and "<td>Sam Carter</td>" in lead_mail["html"]
    escalation_mail = next(m for m in ana if m["subject"].startswith("Escalation assigned"))
    assert "Previously with: Sam Carter\n" in escalation_mail["text"]
    sam = next(m for m in mailer.sent if m["to"] == "sam@example.com" and "Ada" in m["subject"])
    assert "Previously with" not in sam["text"]
