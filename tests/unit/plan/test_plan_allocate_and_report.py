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

from shared.money import display_money
from tests.unit.plan.plan_builders import A, T, World, board_world

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
    assert page.count("<svg") == 3  # the root and two of its children: north has no figures, so no chart
    assert "north: plan vs actual</h3><p>no figures yet</p>" in page
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


@given(st.decimals(allow_nan=False, allow_infinity=False, min_value=-(10**12), max_value=10**12))
def test_money_on_the_page_is_the_exact_figure_with_thousands_separators(value: Decimal) -> None:
    text = display_money(f"{value:f}")
    assert Decimal(text.replace(",", "")) == value  # every digit kept, nothing rounded
    whole, _, places = text.lstrip("-").partition(".")
    assert len(places) >= 2 and re.fullmatch(r"\d{1,3}(,\d{3})*", whole), text


def _chart_blocks(page: str) -> dict[str, str]:
    """The charts area's blocks by the node name in their title."""
    area = page.split("<div class='charts'>", 1)[1].split("<h2>", 1)[0]
    blocks = [b for b in area.split("<div class='chart") if b.strip()]
    return {re.search(r"(?:<h3>|<title>)([^<:]+): plan vs actual", b)[1]: b for b in blocks}  # type: ignore[index]


def test_the_board_page_shows_money_with_separators_in_the_company_currency() -> None:
    report = gather_report(board_world().store, 2026, "global", today=date(2026, 12, 2), currency="USD")
    page = render_html(report)
    assert "money in USD, the company currency" in page and "<th class='figure'>USD</th>" in page
    assert "<td>1,200,000.00</td>" in page and "<td>1,410,000.50</td>" in page  # global's Q1 and Q3 plan
    assert "<td>5,485,000.50</td>" in page  # its plan year to date
    assert '<td class="neg">-1,410,000.50</td>' in page  # Q3 variance: nothing booked
    assert "95,000.99 EUR" in page  # the order no rate converts, on its own row
    money_cells = re.findall(r'<td(?: class="(?:neg|pos)")?>([^<]*)</td>', page)
    assert len(money_cells) > 100 and not [c for c in money_cells if re.match(r"-?\d{4}", c)]
    # The files for machines keep plain numbers.
    rows = {r["node_id"]: r for r in csv.DictReader(io.StringIO(render_csv(report)))}
    assert (rows["global"]["q1_plan"], rows["global"]["q3_plan"]) == ("1200000", "1410000.50")
    from openpyxl import load_workbook

    sheet = load_workbook(io.BytesIO(render_xlsx(report)))["Level 0"]
    assert sheet.cell(row=2, column=7).value == 1200000  # q1_plan, a number


def test_a_node_without_figures_gets_no_chart_and_one_row_saying_so() -> None:
    report = gather_report(board_world().store, 2026, "global", today=date(2026, 12, 2), currency="EUR")
    page = render_html(report)
    charts = _chart_blocks(page)
    assert sorted(charts) == ["americas", "apac", "emea", "global"]
    assert "<svg" not in charts["apac"] and "no figures yet" in charts["apac"]
    assert all("<svg" in charts[n] for n in ("americas", "emea", "global"))
    # In the tables: apac (level 1) and nordics (level 2) have one row each; the others a block of figures.
    for name in ("apac", "nordics"):
        block = re.search(
            rf"<tbody class='node'><tr><th class='node' rowspan='(\d)'>{name} .*?</tbody>", page
        )
        assert block and block[1] == "1" and "no figures yet" in block[0], name
    assert "rowspan='6'>americas " in page and "rowspan='7'>initech-ltd " in page  # + the unconverted row
    assert "money in EUR, the company currency" in page


def test_an_empty_tree_still_makes_the_three_files() -> None:
    """A deployment without a plan tree yet: the monthly export writes files saying so, not a crash
    (openpyxl refuses to save a workbook without a sheet)."""
    from openpyxl import load_workbook
    from plan_rollup.export import PlanReport, render_all

    files = render_all(PlanReport(2026, date(2026, 12, 1), None, "2026-12-01 05:00 UTC", "USD"))
    book = load_workbook(io.BytesIO(files["xlsx"]))
    assert book.sheetnames == ["Level 0"] and book["Level 0"].max_row == 1
    assert book["Level 0"].cell(row=1, column=1).value is not None  # the header row
    assert list(csv.reader(io.StringIO(files["csv"].decode())))[1:] == []
    assert b"Annual Operating Plan 2026" in files["html"]


def test_the_monthly_export_writes_through_the_file_store_and_tells_the_board_once() -> None:
    """``export_monthly`` on the in-memory stores: the three files at the month's keys, each with its
    content type and the rendered report's bytes; a retried export rewrites them and tells nobody again."""
    from plan_rollup.export import export_monthly, render_all

    from shared.downloads import PLAN_REPORT_FORMATS, plan_report_key
    from shared.store.crm import InMemoryCrmStore
    from shared.store.files import InMemoryFileStore

    w, files, crm = board_world(), InMemoryFileStore(), InMemoryCrmStore()
    today = date(2026, 11, 30)
    first = export_monthly(w.store, files=files, crm=crm, today=today)
    expected = render_all(gather_report(w.store, 2026, today=today))
    assert first["told"] is True and first["nodes"] > 0
    assert sorted(first["keys"]) == sorted(
        plan_report_key(2026, "2026-11", ext) for ext in PLAN_REPORT_FORMATS
    )
    for extension, content_type in PLAN_REPORT_FORMATS.items():
        assert files.objects[plan_report_key(2026, "2026-11", extension)][1] == content_type
    # the CSV is the rendered report's, byte for byte (the page's charts get fresh ids on each rendering,
    # a workbook's bytes the time it was saved)
    assert files.read(plan_report_key(2026, "2026-11", "csv")) == expected["csv"]
    assert files.read(plan_report_key(2026, "2026-11", "html")).startswith(b"<!DOCTYPE html>")  # type: ignore[union-attr]
    assert files.read(plan_report_key(2026, "2026-11", "xlsx"))[:2] == b"PK"  # type: ignore[index]
    files.objects.clear()
    again = export_monthly(w.store, files=files, crm=crm, today=today)
    assert again["told"] is False
    assert len(files.objects) == 3
