"""Per rep: quota attainment per quarter and activity points pacing bands (CharTec's 500 points a month)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from shared.plan_report import Activity, pacing_band, prorated_target, rep_attainment
from shared.store.plan import RollupCell

D = Decimal


@pytest.mark.parametrize(
    ("points", "band"),
    [
        ("99", "on_track"),
        ("100", "on_track"),
        ("98.99", "behind"),
        ("81", "behind"),
        ("80.99", "at_risk"),
        ("0", "at_risk"),
    ],
)
def test_pacing_bands_at_their_edges(points: str, band: str) -> None:
    assert pacing_band(D(points), D("100")) == band


def test_the_target_is_pro_rated_by_the_days_of_the_current_month() -> None:
    today = date(2026, 12, 2)
    assert prorated_target(D(500), 2026, 11, today) == D(500)
    assert prorated_target(D(500), 2026, 12, today) == D(500) * 2 / 31
    assert prorated_target(D(500), 2027, 1, today) == 0


def test_quota_attainment_is_the_actual_of_the_reps_accounts_over_the_quota() -> None:
    # Given a rep with a default quota and a Q4 override, owning two accounts
    rep = {
        "rep_id": "r1",
        "name": "Nick",
        "quota": {"default": 1000, "2026-Q4": 2000},
        "activity_points_quota": 500,
    }
    a1 = {(2026, 1): RollupCell(orders=D("600")), (2026, 4): RollupCell(orders=D("500"))}
    a2 = {(2026, 1): RollupCell(pos={"nw": D("150")}), (2025, 1): RollupCell(orders=D("9"))}
    activities = [
        Activity(date(2026, 11, 3), D(300)),
        Activity(date(2026, 11, 20), D(150)),
        Activity(date(2026, 12, 1), D(40)),
    ]
    # When
    view = rep_attainment(rep, 2026, [a1, a2], activities, today=date(2026, 12, 2))
    # Then
    assert view["quarters"]["1"] == {"quota": "1000", "actual": "750", "attainment": "0.75"}
    assert view["quarters"]["4"] == {"quota": "2000", "actual": "500", "attainment": "0.25"}
    assert view["months"]["11"]["band"] == "behind"  # 450 of 500
    assert view["months"]["12"]["band"] == "on_track"  # 40 of 500 * 2/31 = 32.26
    assert view["months"]["10"]["band"] == "at_risk"
    assert view["months"]["12"]["points_quota"] == "500"


def test_no_quota_means_no_attainment_and_500_points_by_default() -> None:
    view = rep_attainment({"rep_id": "r2"}, 2026, [], [], today=date(2026, 12, 2))
    assert view["quarters"]["1"]["attainment"] is None
    assert view["months"]["1"]["points_quota"] == "500"
