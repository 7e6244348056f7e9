"""The channel manager's email comes from the run record on the POS table's stream."""

from __future__ import annotations

from decimal import Decimal

from alerts.pos_runs import pos_run_alerts, render

RUN = {"entity": "POS_RUN", "key": "pos/nw/w1.csv", "version": "v1", "distributor": "nw", "status": "done",
       "rows_total": Decimal(4), "accepted": Decimal(3), "rejected": Decimal(1),
       "rejects_key": "rejects/pos/nw/w1.csv", "reject_sample": [{"row": Decimal(4), "reason": "not a number"}]}  # fmt: skip


def test_a_run_finishing_with_rejects_alerts_once_and_says_what_was_refused() -> None:
    # Given a run record moving from running to done with a rejected row
    [alert] = pos_run_alerts(RUN, {**RUN, "status": "running"})
    # Then one alert, whose email names the counts, the rejects object and each sampled row
    subject, text = render(alert.run)
    assert subject == "POS file pos/nw/w1.csv: 1 of 4 rows rejected"
    assert "rejects/pos/nw/w1.csv" in text and "row 4: not a number" in text
    # And the same record written again (already done) alerts no more
    assert pos_run_alerts(RUN, RUN) == []


def test_a_clean_run_is_quiet_and_a_failed_one_says_why() -> None:
    assert pos_run_alerts({**RUN, "rejected": Decimal(0)}, {**RUN, "status": "running"}) == []
    assert pos_run_alerts({**RUN, "status": "continuing"}, None) == []
    failed = {**RUN, "status": "failed", "error": "no header row found"}
    [alert] = pos_run_alerts(failed, {**RUN, "status": "running"})
    assert render(alert.run) == ("POS file refused: pos/nw/w1.csv",
                                 "The file pos/nw/w1.csv from nw could not be read: no header row found\n")  # fmt: skip
    assert pos_run_alerts({"entity": "LEAD", "status": "done"}, None) == []
