"""Top-down allocation (sums exactly, by last year's actual or equally) and the board report's files
(self-contained HTML with SVG charts, formula-safe CSV, a workbook sheet per level)."""

from __future__ import annotations

import csv
import io
import re
from datetime import date
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st
from plan_rollup.allocate import allocate, split
from plan_rollup.export import gather_report, render_csv, render_html, render_xlsx

from tests.unit.plan.plan_builders import A, T, World

D = Decimal


@given(
    st.decimals(min_value=0, max_value=10**9, places=2),
    st.lists(st.decimals(min_value=0, max_value=10**6, places=2), min_size=1, max_size=12).filter(
        lambda w: sum(w) > 0
    ),
)
def test_a_split_always_sums_to_the_total_to_the_cent(total: Decimal, weights: list[Decimal]) -> None:
    shares = split(total, weights)
    assert sum(shares) == total
    assert all(s == s.quantize(D("0.01")) and s >= 0 for s in shares)


def world() -> World:
    w = World()
    w.territory("root").territory("west", "root").territory("east", "root").territory("north", "root")
    w.account("a1", "west").account("a2", "east")
    w.order("o1", "a1", "300", date(2025, 2, 1)).order("o2", "a2", "100", date(2025, 2, 1))
    w.plan(T("root"), 2026, 1, "1000").plan(T("root"), 2026, 2, "100.01")
    return w


def test_allocation_by_last_year_actual_and_equal() -> None:
    w = world()
    node = w.store.get_node(T("root"))
    children = w.store.child_nodes(T("root"))
    last = {
        c.ref: {q: cell.actual for (y, q), cell in w.store.cells_of(c.ref).items() if y == 2025}
        for c in children
    }
    plan = {1: D("1000"), 2: D("100.01")}
    by_actual = allocate(node, 2026, "last-year-actual", plan, children, last)  # type: ignore[arg-type]
    assert by_actual.proposals[T("west")][1] == D("750.00") and by_actual.proposals[T("east")][1] == D(
        "250.00"
    )
    assert by_actual.proposals[T("north")][1] == D("0.00")
    assert "Q2: no actual in 2025, split equally" in by_actual.notes
    assert sum(p[2] for p in by_actual.proposals.values()) == D("100.01")
    equal = allocate(node, 2026, "equal", plan, children, last)  # type: ignore[arg-type]
    assert sorted(p[1] for p in equal.proposals.values()) == [D("333.33"), D("333.33"), D("333.34")]
    assert {e["node_type"] for e in equal.events_data()} == {"territory"} and len(equal.events_data()) == 6


def test_the_report_files() -> None:
    w = world()
    w.plan(T("west"), 2026, 1, "700").account("evil", "west")
    w.store.put_node(
        w.store.get_node(A("evil")).__class__(A("evil"), name="=HYPERLINK(1)", parent=T("west"), version="z")
    )  # type: ignore[union-attr]
    w.order("o3", "evil", "5", date(2026, 1, 3))
    report = gather_report(w.store, 2026, "root", today=date(2026, 12, 2))
    assert [e.level for e in report.nodes] == [0, 1, 1, 1, 2, 2, 2]
    # HTML: charts drawn as inline SVG, nothing fetched from the network
    page = render_html(report)
    assert page.count("<svg") == 4  # the root and its three children
    assert "<script" not in page and not re.search(r"""(src|href)=["']?https?:""", page)
    assert "Level 2: variance" in page
    # CSV: a name that looks like a formula is text
    rows = list(csv.DictReader(io.StringIO(render_csv(report))))
    evil = next(r for r in rows if r["node_id"] == "evil")
    assert evil["name"] == "'=HYPERLINK(1)" and evil["q1_actual"] == "5"
    root = next(r for r in rows if r["node_id"] == "root")
    assert (root["q1_plan"], root["q1_variance"], root["last_year_actual"]) == ("1000", "-995", "400")
    # XLSX: a sheet per level
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(render_xlsx(report)))
    assert book.sheetnames == ["Level 0", "Level 1", "Level 2"]
    sheet = book["Level 2"]
    names = [sheet.cell(row=r, column=4).value for r in range(2, sheet.max_row + 1)]
    assert "'=HYPERLINK(1)" in names
