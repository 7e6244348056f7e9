"""What the plan's readers show from the stored rollups: variances, ytd, growth, attainment, pacing.

Shared by the reports API (``GET /plan/...``, ``/reps/{id}/attainment``, ``/pipeline``) and the
board report (``plan_rollup``'s monthly export and ``hub report plan``). Everything here is pure:
it receives cells (``shared.store.plan.RollupCell``) and answers plain dicts, money as exact decimal
text and percentages as fractions (decimal text, six places at most).

Figures that depend on the reading (year to date by the request's date) or on other quarters (qoq,
yoy) are derived here when read, so one changed figure only rewrites its own quarter's cells.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from shared.config_schemas.stages import StageCatalog
from shared.store.plan import ZERO, Period, PlanNode, RollupCell

FRACTION = Decimal("0.000001")
QUARTERS = (1, 2, 3, 4)
ON_TRACK_AT = Decimal("0.99")
BEHIND_AT = Decimal("0.81")
DEFAULT_POINTS_QUOTA = Decimal(500)  # CharTec's sales activity points per month


def money(value: Decimal) -> str:
    return f"{value:f}"


def fraction(value: Decimal | None) -> str | None:
    if value is None:
        return None
    rounded = value.quantize(FRACTION)
    text = f"{rounded.normalize():f}"
    return "0" if text in ("-0", "0") else text


def ratio(numerator: Decimal, denominator: Decimal) -> Decimal | None:
    """numerator / denominator, None when the denominator is 0."""
    return None if not denominator else numerator / denominator


def variance(actual: Decimal, plan: Decimal) -> Decimal:
    return actual - plan


def variance_pct(actual: Decimal, plan: Decimal) -> Decimal | None:
    return ratio(actual - plan, plan)


def over_assignment_pct(children_plan: Decimal, plan: Decimal) -> Decimal | None:
    return None if not plan else children_plan / plan - 1


def growth(current: Decimal, base: Decimal) -> Decimal | None:
    """Growth of ``current`` over ``base``; None when the base is 0."""
    return None if not base else (current - base) / base


def quarter_of(day: date) -> int:
    return (day.month - 1) // 3 + 1


def ytd_quarters(year: int, today: date) -> tuple[int, ...]:
    """Quarters 1 to today's (UTC) for the current year, all four for past years, none for later ones."""
    if year < today.year:
        return QUARTERS
    if year == today.year:
        return tuple(range(1, quarter_of(today) + 1))
    return ()


def previous_period(period: Period) -> Period:
    year, quarter = period
    return (year - 1, 4) if quarter == 1 else (year, quarter - 1)


def pos_completeness(cell: RollupCell) -> dict[str, Any]:
    missing = {d: n - cell.pos_reported.get(d, 0) for d, n in cell.pos_expected.items()}
    missing = {d: n for d, n in sorted(missing.items()) if n > 0}
    return {
        "expected": sorted(cell.pos_expected),
        "reported": sorted(d for d in cell.pos_expected if d not in missing),
        "missing": sorted(missing),
        "accounts_missing": missing,
        "complete": not missing,
    }


def quarter_figures(
    cell: RollupCell | None, previous: RollupCell | None, last_year: RollupCell | None
) -> dict[str, Any]:
    """One quarter of one node, as ``GET /plan/{year}/nodes/{id}`` shows it."""
    cell = cell or RollupCell()
    actual = cell.actual
    previous_actual = previous.actual if previous else ZERO
    last_year_actual = last_year.actual if last_year else ZERO
    return {
        "plan": money(cell.plan),
        "actual": money(actual),
        "variance": money(variance(actual, cell.plan)),
        "variance_pct": fraction(variance_pct(actual, cell.plan)),
        "children_plan": money(cell.children_plan),
        "plan_gap": money(cell.plan - cell.children_plan),
        "over_assignment_pct": fraction(over_assignment_pct(cell.children_plan, cell.plan)),
        "qoq": fraction(growth(actual, previous_actual)),
        "yoy": fraction(growth(actual, last_year_actual)),
        "weighted_pipeline": money(cell.weighted_pipeline),
        "actual_by_source": {
            "orders": money(cell.orders),
            "pos": {d: money(v) for d, v in sorted(cell.pos.items())},
        },
        "unconverted": {c: money(v) for c, v in sorted(cell.unconverted.items())},
        "actual_incomplete": cell.incomplete,
        "pos_completeness": pos_completeness(cell),
    }


def ytd_figures(cells: Mapping[Period, RollupCell], year: int, today: date) -> dict[str, Any]:
    plan = actual = ZERO
    incomplete = False
    quarters = ytd_quarters(year, today)
    for quarter in quarters:
        cell = cells.get((year, quarter))
        if cell is not None:
            plan += cell.plan
            actual += cell.actual
            incomplete = incomplete or cell.incomplete
    return {
        "quarters": list(quarters),
        "plan": money(plan),
        "actual": money(actual),
        "variance": money(variance(actual, plan)),
        "variance_pct": fraction(variance_pct(actual, plan)),
        "actual_incomplete": incomplete,
    }


def year_figures(cells: Mapping[Period, RollupCell], year: int, today: date) -> dict[str, Any]:
    """The four quarters and the ytd of ``year``; ``cells`` must also hold the year before (qoq, yoy)."""
    quarters = {
        str(q): quarter_figures(
            cells.get((year, q)), cells.get(previous_period((year, q))), cells.get((year - 1, q))
        )
        for q in QUARTERS
    }
    return {"quarters": quarters, "ytd": ytd_figures(cells, year, today)}


def node_header(node: PlanNode) -> dict[str, Any]:
    return {
        "id": node.ref.id,
        "type": node.ref.type.lower(),
        "name": node.name,
        "owner": node.owner,
        "parent_id": node.parent.id if node.parent else None,
    }


def node_figures(
    year: int,
    node: PlanNode,
    cells: Mapping[Period, RollupCell],
    children: Sequence[PlanNode],
    today: date,
    as_of: str,
) -> dict[str, Any]:
    """``GET /plan/{year}/nodes/{id}``: ``cells`` holds the node's cells of year - 2 to year."""
    this_year = year_figures(cells, year, today)
    last_year = year_figures(cells, year - 1, today)
    return {
        "year": year,
        "node": node_header(node),
        "quarters": this_year["quarters"],
        "ytd": this_year["ytd"],
        "last_year": {"year": year - 1, "quarters": last_year["quarters"], "ytd": last_year["ytd"]},
        "children": [{"id": c.ref.id, "type": c.ref.type.lower(), "name": c.name} for c in children],
        "as_of": as_of,
    }


# ------------------------------------------------------------------ pipeline
def funnel(cell: RollupCell | None, stages: StageCatalog) -> list[dict[str, Any]]:
    """Count, amount and weighted amount per opportunity stage, in the catalogue's order."""
    pipeline = dict(cell.pipeline) if cell else {}
    rows = []
    for stage in sorted(stages.opportunity_stages, key=lambda s: s.order):
        figure = pipeline.pop(stage.name, None)
        rows.append(
            {
                "stage": stage.name,
                "order": stage.order,
                "outcome": stage.outcome,
                "probability": fraction(Decimal(stage.probability) / 100),
                "count": figure.count if figure else 0,
                "amount": money(figure.amount if figure else ZERO),
                "weighted_amount": money(figure.weighted if figure else ZERO),
            }
        )
    for name, figure in sorted(pipeline.items()):  # stages the catalogue no longer knows stay visible
        rows.append(
            {
                "stage": name,
                "order": None,
                "outcome": None,
                "probability": None,
                "count": figure.count,
                "amount": money(figure.amount),
                "weighted_amount": money(figure.weighted),
            }
        )
    return rows


# ------------------------------------------------------------------ reps
@dataclass(frozen=True)
class Activity:
    at: date
    points: Decimal


def rep_quota(quota: Mapping[str, Any] | None, year: int, quarter: int) -> Decimal | None:
    """The rep's quota of a quarter: ``{"2026-Q4": n}`` for that quarter, else ``{"default": n}``."""
    if not quota:
        return None
    value = quota.get(f"{year:04d}-Q{quarter}", quota.get("default"))
    return None if value is None else Decimal(str(value))


def pacing_band(points: Decimal, target: Decimal) -> str | None:
    """on_track at ≥ 99 % of the pro-rated target, behind at 81-99 %, at_risk below 81 %."""
    if target <= 0:
        return None
    achieved = points / target
    if achieved >= ON_TRACK_AT:
        return "on_track"
    if achieved >= BEHIND_AT:
        return "behind"
    return "at_risk"


def prorated_target(quota: Decimal, year: int, month: int, today: date) -> Decimal:
    """The month's quota for past months, the elapsed share of it this month (UTC days), 0 later."""
    if (year, month) < (today.year, today.month):
        return quota
    if (year, month) > (today.year, today.month):
        return ZERO
    days = calendar.monthrange(year, month)[1]
    return quota * today.day / days


def rep_attainment(
    rep: Mapping[str, Any],
    year: int,
    account_cells: Iterable[Mapping[Period, RollupCell]],
    activities: Iterable[Activity],
    today: date,
) -> dict[str, Any]:
    """``GET /reps/{id}/attainment``: quota attainment per quarter, activity points pacing per month."""
    actual = dict.fromkeys(QUARTERS, ZERO)
    for cells in account_cells:
        for (cell_year, quarter), cell in cells.items():
            if cell_year == year:
                actual[quarter] += cell.actual
    quarters = {}
    for quarter in QUARTERS:
        quota = rep_quota(rep.get("quota"), year, quarter)
        quarters[str(quarter)] = {
            "quota": money(quota) if quota is not None else None,
            "actual": money(actual[quarter]),
            "attainment": fraction(ratio(actual[quarter], quota) if quota is not None else None),
        }
    points = dict.fromkeys(range(1, 13), ZERO)
    for activity in activities:
        if activity.at.year == year:
            points[activity.at.month] += activity.points
    raw_quota = rep.get("activity_points_quota")
    points_quota = Decimal(str(raw_quota)) if raw_quota is not None else DEFAULT_POINTS_QUOTA
    months = {}
    for month in range(1, 13):
        target = prorated_target(points_quota, year, month, today)
        months[str(month)] = {
            "points": money(points[month]),
            "points_quota": money(points_quota),
            "prorated_target": money(target.quantize(Decimal("0.01"))),
            "pacing": fraction(ratio(points[month], target)),
            "band": pacing_band(points[month], target),
        }
    return {
        "rep": {"id": rep.get("rep_id"), "name": rep.get("name")},
        "year": year,
        "quarters": quarters,
        "months": months,
    }
