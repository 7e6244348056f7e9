"""The board report: plan against actual per level of the tree, as HTML (charts), CSV and XLSX.

Built from the rollup items (``shared.store.plan``) and the figures readers see (``shared.plan_report``).
The HTML page is self-contained: the charts are SVG drawn on the server by pygal (imported here, only
when a report is made), the styles inline, no script and no link, so it opens with no network.
The CSV is formula-safe (a text cell starting with = + - @ or a control character gets a leading ').
The workbook has one sheet per level. The monthly schedule writes all three to S3 ``reports/plan/``;
``hub report plan`` writes them to a folder.
"""

from __future__ import annotations

import csv
import html
import io
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from shared import plan_report
from shared.downloads import PLAN_REPORT_FORMATS, plan_report_key, report_year
from shared.money import display_money
from shared.store.plan import OPPORTUNITY, PlanNode

if TYPE_CHECKING:
    from shared.store.crm import CrmStore
    from shared.store.files import FileStore

MAX_CHARTS = 12
_SCRIPT = re.compile(r"<script\b.*?</script>", re.S)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")


@dataclass
class ReportNode:
    level: int
    node: PlanNode
    this_year: dict[str, Any]
    last_year: dict[str, Any]


@dataclass
class PlanReport:
    year: int
    today: date
    root: str | None
    generated_at: str
    currency: str  # the company currency: every figure is in it
    nodes: list[ReportNode] = field(default_factory=list)

    def levels(self) -> dict[int, list[ReportNode]]:
        out: dict[int, list[ReportNode]] = {}
        for entry in self.nodes:
            out.setdefault(entry.level, []).append(entry)
        return out


def gather_report(
    store: Any,
    year: int,
    root: str | None = None,
    *,
    today: date | None = None,
    max_depth: int = 6,
    currency: str | None = None,
) -> PlanReport:
    """The figures of every territory and account under ``root`` (every root when None), level by level.

    ``currency``: the company currency the figures are in (default: the ``COMPANY_CURRENCY`` setting)."""
    if currency is None:
        from shared.settings import get_settings

        currency = get_settings().company_currency
    today = today or datetime.now(UTC).date()
    report = PlanReport(year, today, root, datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), currency)
    if root:
        found = store.nodes_with_id(root)
        if not found:
            raise LookupError(f"no plan node {root}")
        level_nodes: list[PlanNode] = sorted(found, key=lambda n: n.ref)[:1]
    else:
        level_nodes = store.root_nodes()
    level = 0
    while level_nodes and level <= max_depth:
        next_level: list[PlanNode] = []
        for node in level_nodes:
            if node.ref.type == OPPORTUNITY:
                continue
            cells = store.cells_of(node.ref)
            report.nodes.append(
                ReportNode(
                    level,
                    node,
                    plan_report.year_figures(cells, year, today),
                    plan_report.year_figures(cells, year - 1, today),
                )
            )
            next_level.extend(c for c in store.child_nodes(node.ref) if c.ref.type != OPPORTUNITY)
        level_nodes, level = next_level, level + 1
    return report


# ------------------------------------------------------------------ rows (CSV, XLSX, HTML tables)
HEADER = [
    "level", "node_type", "node_id", "name", "owner", "parent_id",
    *[f"q{q}_{f}" for q in (1, 2, 3, 4) for f in ("plan", "actual", "variance", "variance_pct", "last_year_actual", "yoy")],
    "ytd_plan", "ytd_actual", "ytd_variance", "ytd_variance_pct", "last_year_plan", "last_year_actual",
    "children_plan_ytd", "actual_incomplete",
]  # fmt: skip
_TEXT_COLUMNS = {"node_type", "node_id", "name", "owner", "parent_id"}


def safe_text(value: str) -> str:
    """A text cell a spreadsheet will not run as a formula."""
    return "'" + value if value.startswith(_FORMULA_START) else value


def report_rows(entry: ReportNode) -> list[Any]:
    node, this, last = entry.node, entry.this_year, entry.last_year
    row: list[Any] = [entry.level, node.ref.type.lower(), node.ref.id, node.name, node.owner or "",
                      node.parent.id if node.parent else ""]  # fmt: skip
    for q in ("1", "2", "3", "4"):
        figures = this["quarters"][q]
        row += [figures["plan"], figures["actual"], figures["variance"], figures["variance_pct"],
                last["quarters"][q]["actual"], figures["yoy"]]  # fmt: skip
    ytd, last_ytd = this["ytd"], last["ytd"]
    children_plan = sum(
        (Decimal(this["quarters"][str(q)]["children_plan"]) for q in ytd["quarters"]), Decimal(0)
    )
    incomplete = ytd["actual_incomplete"] or any(this["quarters"][q]["actual_incomplete"] for q in "1234")
    row += [ytd["plan"], ytd["actual"], ytd["variance"], ytd["variance_pct"], last_ytd["plan"], last_ytd["actual"],
            plan_report.money(children_plan), "yes" if incomplete else "no"]  # fmt: skip
    return row


def render_csv(report: PlanReport) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(HEADER)
    for entry in report.nodes:
        row = report_rows(entry)
        writer.writerow(
            [
                safe_text(str(v)) if name in _TEXT_COLUMNS else ("" if v is None else v)
                for name, v in zip(HEADER, row, strict=True)
            ]
        )
    return buffer.getvalue()


def render_xlsx(report: PlanReport) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    book.remove(book.active)  # type: ignore[arg-type]
    for level, entries in sorted(report.levels().items()):
        sheet = book.create_sheet(f"Level {level}")
        sheet.append(HEADER)
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        for entry in entries:
            values: list[Any] = []
            for name, value in zip(HEADER, report_rows(entry), strict=True):
                if name in _TEXT_COLUMNS:
                    values.append(safe_text(str(value)))
                elif isinstance(value, str) and value not in ("yes", "no"):
                    values.append(Decimal(value))
                else:
                    values.append(value)
            sheet.append(values)
            for cell in sheet[sheet.max_row]:
                if isinstance(cell.value, str):
                    cell.data_type = "s"  # never a formula
        sheet.freeze_panes = "G2"
    if not book.sheetnames:  # no plan tree yet: a workbook needs a sheet (openpyxl refuses to save none)
        book.create_sheet("Level 0").append(HEADER)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


# ------------------------------------------------------------------ HTML
# Fits a 1400 px window (and an A4 landscape page): one table per level, a block of rows per node (plan,
# actual, variance, variance %, last year's actual, plan gap) under seven columns (node, figure, Q1-Q4,
# year to date), rather than 24 columns of one row per node.
_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px;color:#222;background:#fff}
h1{font-size:22px;margin:0 0 4px} h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #ddd}
.meta{color:#666;font-size:13px;margin-bottom:16px}
.charts{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start}
.chart{width:520px;border:1px solid #eee;padding:4px;box-sizing:border-box}
.chart.empty{padding:12px 16px}.chart.empty h3{font-size:15px;margin:0 0 6px;font-weight:normal}
.chart.empty p,.none{color:#666;font-style:italic;margin:0}
table{border-collapse:collapse;font-size:13px;margin-bottom:12px;width:100%;max-width:1100px}
th,td{border:1px solid #ddd;padding:3px 8px;text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}
thead th{background:#f4f6f8;vertical-align:bottom}thead small{font-weight:normal;color:#555}
th.node{text-align:left;vertical-align:top;white-space:normal;width:200px;font-weight:600}
th.figure{width:90px;text-align:left}th.q{width:15%}
th.node small{font-weight:normal;color:#555}
tbody.node{border-top:2px solid #bbb}
td.t{text-align:left;color:#444}td.neg{color:#b00020}td.pos{color:#1b7a2f}
@page{size:A4 landscape;margin:12mm}
@media print{
body{margin:0}h2{break-after:avoid}
.charts{gap:8px}.chart{width:49%;break-inside:avoid}
tbody.node{break-inside:avoid}
thead th{-webkit-print-color-adjust:exact;print-color-adjust:exact}
}
"""
_QUARTERS = ("1", "2", "3", "4")


def _money_cell(text: str | None, signed: bool = False) -> str:
    if text is None:
        return "<td>&ndash;</td>"
    klass = ""
    if signed and Decimal(text):
        klass = ' class="neg"' if Decimal(text) < 0 else ' class="pos"'
    return f"<td{klass}>{html.escape(display_money(text))}</td>"


def _pct_cell(text: str | None) -> str:
    if text is None:
        return "<td>&ndash;</td>"
    value = (Decimal(text) * 100).quantize(Decimal("0.1"))
    if not value:
        value = abs(value)  # no "-0.0 %"
    klass = ' class="neg"' if value < 0 else (' class="pos"' if value > 0 else "")
    return f"<td{klass}>{value:,} %</td>"


def _quarter_values(figures: dict[str, Any], field_name: str) -> list[Decimal]:
    return [Decimal(figures["quarters"][q][field_name]) for q in _QUARTERS]


def has_chart_figures(entry: ReportNode) -> bool:
    """Any plan or actual in the two years the chart shows."""
    return any(
        any(_quarter_values(figures, field_name))
        for figures in (entry.this_year, entry.last_year)
        for field_name in ("plan", "actual")
    )


def has_figures(entry: ReportNode) -> bool:
    """Anything the node's rows would show: a plan, an actual, a child's plan or an unconverted amount."""
    return has_chart_figures(entry) or any(
        Decimal(q["children_plan"]) or q["unconverted"]
        for figures in (entry.this_year, entry.last_year)
        for q in figures["quarters"].values()
    )


def _unconverted_note(entry: ReportNode) -> str:
    totals: dict[str, Decimal] = {}
    for q in entry.this_year["quarters"].values():
        for currency, amount in q["unconverted"].items():
            totals[currency] = totals.get(currency, Decimal(0)) + Decimal(amount)
    if not totals:
        return ""
    amounts = ", ".join(f"{display_money(plan_report.money(v))} {c}" for c, v in sorted(totals.items()))
    return f"; {html.escape(amounts)} without an exchange rate"


def _chart_svg(entry: ReportNode, year: int, currency: str) -> str:
    import pygal
    from pygal.style import Style

    style = Style(
        background="white", plot_background="white", foreground="#333", foreground_strong="#111",
        foreground_subtle="#999", colors=("#9ecae1", "#3182bd", "#fdd0a2", "#e6550d"),
        font_family="Helvetica, Arial, sans-serif",
    )  # fmt: skip
    chart = pygal.Bar(
        style=style, width=520, height=300, js=[], disable_xml_declaration=True, legend_at_bottom=True,
        legend_at_bottom_columns=4, title=f"{entry.node.name or entry.node.ref.id}: plan vs actual",
        x_title="quarter", y_title=currency, print_values=False, show_y_guides=True, truncate_legend=-1,
        max_scale=8, value_formatter=_axis_label,
    )  # fmt: skip
    chart.x_labels = ["Q1", "Q2", "Q3", "Q4"]

    # The bars' heights are drawn from floats; no figure of the report is printed from them.
    def series(figures: dict[str, Any], field_name: str) -> list[float]:
        return [float(v) for v in _quarter_values(figures, field_name)]

    chart.add(f"Plan {year - 1}", series(entry.last_year, "plan"))
    chart.add(f"Actual {year - 1}", series(entry.last_year, "actual"))
    chart.add(f"Plan {year}", series(entry.this_year, "plan"))
    chart.add(f"Actual {year}", series(entry.this_year, "actual"))
    svg = str(chart.render(is_unicode=True))
    # pygal inlines its styles; its one script only carries the tooltip config (js=[]: no tooltip code)
    return _SCRIPT.sub("", svg)


def _axis_label(value: float) -> str:
    """A y-axis tick (pygal's own scale, not a figure), with thousands separators."""
    return f"{value:,.0f}" if value == int(value) else f"{value:,.2f}"


def _chart_block(entry: ReportNode, year: int, currency: str) -> str:
    if has_chart_figures(entry):
        return f"<div class='chart'>{_chart_svg(entry, year, currency)}</div>"
    name = html.escape(entry.node.name or entry.node.ref.id)
    return (
        f"<div class='chart empty'><h3>{name}: plan vs actual</h3>"
        f"<p>no figures yet{_unconverted_note(entry)}</p></div>"
    )


def _unconverted_cell(amounts: dict[str, str]) -> str:
    return "<td>" + "<br>".join(f"{display_money(v)} {html.escape(c)}" for c, v in amounts.items()) + "</td>"


def _node_header(entry: ReportNode, rows: int) -> str:
    node = entry.node
    owner = f"<br><small>{html.escape(node.owner)}</small>" if node.owner else ""
    return (
        f"<th class='node' rowspan='{rows}'>{html.escape(node.name or node.ref.id)} "
        f"<small>({node.ref.type.lower()})</small>{owner}</th>"
    )


def _node_rows(entry: ReportNode, year: int) -> str:
    """The node's block of rows: one figure a row, the quarters and the year to date across."""
    this, last = entry.this_year, entry.last_year
    if not has_figures(entry):
        return (
            f"<tbody class='node'><tr>{_node_header(entry, 1)}"
            f"<td class='t none' colspan='6'>no figures yet</td></tr></tbody>"
        )
    ytd = this["ytd"]
    ytd_quarters = [str(q) for q in ytd["quarters"]]

    def ytd_sum(figures: dict[str, Any], field_name: str) -> str:
        return plan_report.money(
            sum((Decimal(figures["quarters"][q][field_name]) for q in ytd_quarters), Decimal(0))
        )

    quarters = [this["quarters"][q] for q in _QUARTERS]
    rows = [
        ("plan", [_money_cell(f["plan"]) for f in quarters], _money_cell(ytd["plan"])),
        ("actual", [_money_cell(f["actual"]) for f in quarters], _money_cell(ytd["actual"])),
        ("variance", [_money_cell(f["variance"], True) for f in quarters], _money_cell(ytd["variance"], True)),
        ("variance %", [_pct_cell(f["variance_pct"]) for f in quarters], _pct_cell(ytd["variance_pct"])),
        (f"{year - 1} actual", [_money_cell(last["quarters"][q]["actual"]) for q in _QUARTERS],
         _money_cell(ytd_sum(last, "actual"))),
        ("plan gap", [_money_cell(f["plan_gap"]) for f in quarters], _money_cell(ytd_sum(this, "plan_gap"))),
    ]  # fmt: skip
    if any(f["unconverted"] for f in quarters):  # amounts in a currency config/fx.yaml has no rate for
        rows.append(("not converted", [_unconverted_cell(f["unconverted"]) for f in quarters], "<td></td>"))
    out = ["<tbody class='node'>"]
    for index, (label, cells, ytd_cell) in enumerate(rows):
        header = _node_header(entry, len(rows)) if index == 0 else ""
        out.append(f"<tr>{header}<td class='t'>{label}</td>{''.join(cells)}{ytd_cell}</tr>")
    out.append("</tbody>")
    return "".join(out)


def _ytd_label(report: PlanReport) -> str:
    quarters = plan_report.ytd_quarters(report.year, report.today)
    if not quarters:
        return "none yet"
    return f"Q{quarters[0]}" + (f"&ndash;Q{quarters[-1]}" if len(quarters) > 1 else "")


def _as_of(report: PlanReport) -> str:
    """What the figures cover: the year to date, or a year gone by whole (its final report)."""
    if report.year < report.today.year:
        return f"the whole year, figures as of {html.escape(str(report.today))}"
    return f"year to date through {html.escape(str(report.today))}"


def render_html(report: PlanReport) -> str:
    year, currency = report.year, html.escape(report.currency)
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>Annual Operating Plan {year}</title><style>{_CSS}</style></head><body>",
        f"<h1>Annual Operating Plan {year}: plan vs actual</h1>",
        f"<div class='meta'>Root: {html.escape(report.root or 'all')} · {_as_of(report)} · "
        f"generated {html.escape(report.generated_at)} · "
        f"money in {currency}, the company currency; variance = actual &minus; plan; "
        "plan gap = plan &minus; the children's plans</div>",
        "<h2>Plan vs actual per quarter, last year beside this year</h2><div class='charts'>",
    ]
    chart_nodes = [e for e in report.nodes if e.level <= 1][:MAX_CHARTS]
    for entry in chart_nodes:
        parts.append(_chart_block(entry, year, report.currency))
    parts.append("</div>")
    for level, entries in sorted(report.levels().items()):
        parts.append(
            f"<h2>Level {level}: variance</h2><table class='variance'><thead><tr>"
            f"<th class='node'>node</th><th class='figure'>{currency}</th>"
            + "".join(f"<th class='q'>Q{q}</th>" for q in _QUARTERS)
            + f"<th class='q'>YTD<br><small>{_ytd_label(report)}</small></th></tr></thead>"
        )
        parts.extend(_node_rows(entry, year) for entry in entries)
        parts.append("</table>")
    parts.append("</body></html>")
    return "\n".join(parts)


def render_all(report: PlanReport) -> dict[str, bytes]:
    """The three files of a report, by extension."""
    return {
        "html": render_html(report).encode("utf-8"),
        "csv": render_csv(report).encode("utf-8"),
        "xlsx": render_xlsx(report),
    }


def report_name(report: PlanReport) -> str:
    return f"plan-{report.year}" + (f"-{report.root}" if report.root else "")


def export_monthly(
    store: Any = None,
    *,
    files: FileStore | None = None,
    crm: CrmStore | None = None,
    today: date | None = None,
) -> dict[str, Any]:
    """The scheduled export: the board report of the year the month just closed belongs to
    (``report_year``: this year's, but in January the year just ended, its figures through 31 December,
    and the new year's own beside it) to ``reports/plan/<yyyy-mm>/plan-<year>.<format>`` (``shared.downloads.plan_report_key``;
    ``GET /plan/{year}/report`` hands it over), then the month's notice in the CRM table
    (``BOARD_REPORT#<yyyy-mm>``), written once: its INSERT is what the alerts function turns into the
    board's email with the links, so a retried schedule rewrites the files and tells nobody again
    (``told`` is False). ``store`` (the plan's), ``files`` (the bucket) and ``crm``: the deployed ones
    unless given."""
    if store is None:
        from plan_rollup.wiring import store as default_store

        store = default_store()
    if files is None:
        from shared.store.files import file_store

        files = file_store()
    if crm is None:
        from shared.store.crm import DynamoCrmStore

        crm = DynamoCrmStore()
    today = today or datetime.now(UTC).date()
    report = gather_report(store, report_year(today), today=today)
    # In January the new year's own report too (its plan, nothing actual yet), beside the final one: the
    # board's email is the final report's; the new year's is found by its route.
    reports = [report] + (
        [gather_report(store, today.year, today=today)] if report.year != today.year else []
    )
    keys = []
    for each in reports:
        for extension, body in render_all(each).items():
            key = plan_report_key(each.year, f"{today:%Y-%m}", extension)
            files.write(key, body, PLAN_REPORT_FORMATS[extension])
            keys.append(key)
    told = crm.record_board_report(report.year, f"{today:%Y-%m}", len(report.nodes), datetime.now(UTC))
    return {"nodes": len(report.nodes), "keys": keys, "told": told}
