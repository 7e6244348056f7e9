"""The channel manager's email comes from the run record on the POS table's stream.

(Moved here with the POS alert from ``alerts.pos_runs`` to the alerts' own rules and rendering:
``alerts.rules.alerts_for_change`` and ``alerts.render.render_alert``.)
"""

from __future__ import annotations

from decimal import Decimal

from alerts.render import render_alert
from alerts.rules import RuleContext, alerts_for_change

from shared.config_schemas.alerts import AlertsConfig
from shared.config_schemas.stages import load_stages_file

CTX = RuleContext(AlertsConfig(), load_stages_file(), "channel@example.com")
RUN = {"entity": "POS_RUN", "key": "pos/nw/w1.csv", "version": "v1", "distributor": "nw", "status": "done",
       "rows_total": Decimal(4), "accepted": Decimal(3), "rejected": Decimal(1),
       "rejects_key": "rejects/pos/nw/w1.csv", "reject_sample": [{"row": Decimal(4), "reason": "not a number"}],
       "amount_accepted": {"USD": "1562.46", "EUR": "10.00"}}  # fmt: skip


def test_a_run_finishing_with_rejects_alerts_once_and_says_what_was_refused() -> None:
    # Given a run record moving from running to done with a rejected row
    [alert] = alerts_for_change(RUN, {**RUN, "status": "running"}, CTX)
    # Then one alert, to the channel manager, whose email names the counts, where to get every rejected row
    # (the read route, given the file's own key: the function here knows no API address) and each sampled row
    assert alert.target.address == "channel@example.com"
    rendered = render_alert(alert.kind, alert.facts, "")
    assert rendered.subject == "POS file pos/nw/w1.csv: 1 of 4 rows rejected"
    assert "Every rejected row with its reason: GET /pos/rejects?key=pos/nw/w1.csv\n" in rendered.text
    assert "rejects/pos/nw/w1.csv" not in rendered.text  # the internal S3 key, which nobody can open
    assert "row 4: not a number" in rendered.text
    # and what the accepted rows amount to, per currency, exactly as the run counted it
    assert "Amount accepted: EUR 10.00 · USD 1,562.46\n" in rendered.text
    # And the same record written again (already done) alerts no more
    assert alerts_for_change(RUN, RUN, CTX) == []


def test_a_clean_run_is_quiet_and_a_failed_one_says_why() -> None:
    assert alerts_for_change({**RUN, "rejected": Decimal(0)}, {**RUN, "status": "running"}, CTX) == []
    assert alerts_for_change({**RUN, "status": "continuing"}, None, CTX) == []
    failed = {**RUN, "status": "failed", "error": "no header row found"}
    [alert] = alerts_for_change(failed, {**RUN, "status": "running"}, CTX)
    rendered = render_alert(alert.kind, alert.facts, "")
    assert rendered.subject == "POS file refused: pos/nw/w1.csv"
    assert "The file pos/nw/w1.csv from nw could not be read: no header row found" in rendered.text
    assert alerts_for_change({"entity": "LEAD", "status": "done"}, None, CTX) == []


def test_the_rejects_link_is_on_the_api_the_function_knows_with_the_key_encoded() -> None:
    # Given the API's address and a file name with a space and an ampersand
    ctx = RuleContext(AlertsConfig(), load_stages_file(), "channel@example.com", "https://api.example.com/")
    run = {**RUN, "key": "pos/nw/week 1 & 2.csv", "rejects_key": "rejects/pos/nw/week 1 & 2.csv.csv"}
    # When the run finishes with a rejected row
    [alert] = alerts_for_change(run, {**run, "status": "running"}, ctx)
    rendered = render_alert(alert.kind, alert.facts, "")
    # Then the email names the route on that API, the key's slashes kept and the rest encoded
    link = "https://api.example.com/pos/rejects?key=pos/nw/week%201%20%26%202.csv"
    assert f"Every rejected row with its reason: {link}\n" in rendered.text
    assert link.replace("&", "&amp;") in rendered.html
    # and an alert claimed before links were made (a rejects key, no link) still gets the route
    old_facts = {k: v for k, v in alert.facts.items() if k != "rejects_link"}
    assert (
        "GET /pos/rejects?key=pos/nw/week%201%20%26%202.csv" in render_alert(alert.kind, old_facts, "").text
    )


def test_a_link_the_hub_made_is_an_anchor_and_nothing_else_is() -> None:
    ctx = RuleContext(AlertsConfig(), load_stages_file(), "channel@example.com", "https://api.example.com")
    [alert] = alerts_for_change(RUN, {**RUN, "status": "running"}, ctx)
    rendered = render_alert(alert.kind, alert.facts, "")
    link = "https://api.example.com/pos/rejects?key=pos/nw/w1.csv"
    assert f'<td><a href="{link}">{link}</a></td>' in rendered.html
    # a value that is not an http(s) link the hub made stays text: no anchor to click
    for odd in ("javascript:alert(1)", "GET /pos/rejects?key=x"):
        html_part = render_alert(alert.kind, {**alert.facts, "rejects_link": odd}, "").html
        assert "<a " not in html_part
    # and a long key's link is whole in both parts (a cut link opens nothing)
    long_key = "pos/nw/" + "x" * 600 + ".csv"
    run = {**RUN, "key": long_key, "rejects_key": f"rejects/{long_key}.csv"}
    [alert] = alerts_for_change(run, {**run, "status": "running"}, ctx)
    rendered = render_alert(alert.kind, alert.facts, "")
    assert f"https://api.example.com/pos/rejects?key={long_key}\n" in rendered.text
    assert f'href="https://api.example.com/pos/rejects?key={long_key}"' in rendered.html
