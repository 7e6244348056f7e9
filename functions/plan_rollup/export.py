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
from typing import Any

from shared import plan_report
from shared.store.plan import OPPORTUNITY, PlanNode

MAX_CHARTS = 12
REPORT_PREFIX = "reports/plan/"
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
    nodes: list[ReportNode] = field(default_factory=list)

    def levels(self) -> dict[int, list[ReportNode]]:
        out: dict[int, list[ReportNode]] = {}
        for entry in self.nodes:
            out.setdefault(entry.level, []).append(entry)
        return out


def gather_report(
    store: Any, year: int, root: str | None = None, *, today: date | None = None, max_depth: int = 6
) -> PlanReport:
    """The figures of every territory and account under ``root`` (every root when None), level by level."""
    today = today or datetime.now(UTC).date()
    report = PlanReport(year, today, root, datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"))
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
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


# ------------------------------------------------------------------ HTML
_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px;color:#222;background:#fff}
h1{font-size:22px;margin:0 0 4px} h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #ddd}
.meta{color:#666;font-size:13px;margin-bottom:16px}
.charts{display:flex;flex-wrap:wrap;gap:16px}.chart{width:520px;border:1px solid #eee;padding:4px}
table{border-collapse:collapse;font-size:12px;margin-bottom:12px}
th,td{border:1px solid #ddd;padding:3px 6px;text-align:right;white-space:nowrap}
th{background:#f4f6f8}td.t{text-align:left}td.neg{color:#b00020}td.pos{color:#1b7a2f}
"""


def _chart_svg(entry: ReportNode, year: int) -> str:
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
        x_title="quarter", print_values=False, show_y_guides=True, truncate_legend=-1,
    )  # fmt: skip
    chart.x_labels = ["Q1", "Q2", "Q3", "Q4"]

    def series(figures: dict[str, Any], field_name: str) -> list[float]:
        return [float(Decimal(figures["quarters"][q][field_name])) for q in ("1", "2", "3", "4")]

    chart.add(f"Plan {year - 1}", series(entry.last_year, "plan"))
    chart.add(f"Actual {year - 1}", series(entry.last_year, "actual"))
    chart.add(f"Plan {year}", series(entry.this_year, "plan"))
    chart.add(f"Actual {year}", series(entry.this_year, "actual"))
    svg = str(chart.render(is_unicode=True))
    # pygal inlines its styles; its one script only carries the tooltip config (js=[]: no tooltip code)
    return _SCRIPT.sub("", svg)


def _money_cell(text: str | None, signed: bool = False) -> str:
    if text is None:
        return "<td>&ndash;</td>"
    klass = ""
    if signed and text not in ("0", "0.00"):
        klass = ' class="neg"' if text.startswith("-") else ' class="pos"'
    return f"<td{klass}>{html.escape(text)}</td>"


def _pct_cell(text: str | None) -> str:
    if text is None:
        return "<td>&ndash;</td>"
    value = Decimal(text) * 100
    klass = ' class="neg"' if value < 0 else (' class="pos"' if value > 0 else "")
    return f"<td{klass}>{value:.1f} %</td>"


def render_html(report: PlanReport) -> str:
    year = report.year
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>Annual Operating Plan {year}</title><style>{_CSS}</style></head><body>",
        f"<h1>Annual Operating Plan {year}: plan vs actual</h1>",
        f"<div class='meta'>Root: {html.escape(report.root or 'all')} · year to date through "
        f"{html.escape(str(report.today))} · generated {html.escape(report.generated_at)} · "
        "money in the company currency; variance = actual &minus; plan</div>",
        "<h2>Plan vs actual per quarter, last year beside this year</h2><div class='charts'>",
    ]
    chart_nodes = [e for e in report.nodes if e.level <= 1][:MAX_CHARTS]
    for entry in chart_nodes:
        parts.append(f"<div class='chart'>{_chart_svg(entry, year)}</div>")
    parts.append("</div>")
    for level, entries in sorted(report.levels().items()):
        parts.append(f"<h2>Level {level}: variance</h2><table><thead><tr><th>node</th><th>owner</th>")
        for q in ("Q1", "Q2", "Q3", "Q4"):
            parts.append(f"<th>{q} plan</th><th>{q} actual</th><th>{q} var</th><th>{q} var %</th>")
        parts.append("<th>YTD plan</th><th>YTD actual</th><th>YTD var</th><th>YTD var %</th>"
                     f"<th>{year - 1} actual</th><th>plan gap (YTD)</th></tr></thead><tbody>")  # fmt: skip
        for entry in entries:
            this = entry.this_year
            name = entry.node.name or entry.node.ref.id
            row = [f"<tr><td class='t'>{html.escape(name)} <small>({entry.node.ref.type.lower()})</small></td>",
                   f"<td class='t'>{html.escape(entry.node.owner or '')}</td>"]  # fmt: skip
            for q in ("1", "2", "3", "4"):
                f = this["quarters"][q]
                row += [_money_cell(f["plan"]), _money_cell(f["actual"]), _money_cell(f["variance"], True),
                        _pct_cell(f["variance_pct"])]  # fmt: skip
            ytd = this["ytd"]
            gap = sum((Decimal(this["quarters"][str(q)]["plan_gap"]) for q in ytd["quarters"]), Decimal(0))
            row += [_money_cell(ytd["plan"]), _money_cell(ytd["actual"]), _money_cell(ytd["variance"], True),
                    _pct_cell(ytd["variance_pct"]), _money_cell(entry.last_year["ytd"]["actual"]),
                    _money_cell(plan_report.money(gap))]  # fmt: skip
            parts.append("".join(row) + "</tr>")
        parts.append("</tbody></table>")
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


def export_monthly(store: Any = None, *, today: date | None = None) -> dict[str, Any]:
    """The scheduled export: this year's board report to ``reports/plan/<yyyy-mm>/``."""
    from shared.aws import client
    from shared.settings import get_settings

    if store is None:
        from plan_rollup.wiring import store as default_store

        store = default_store()
    today = today or datetime.now(UTC).date()
    report = gather_report(store, today.year, today=today)
    keys = []
    for extension, body in render_all(report).items():
        key = f"{REPORT_PREFIX}{today:%Y-%m}/{report_name(report)}.{extension}"
        client("s3").put_object(Bucket=get_settings().bucket, Key=key, Body=body)
        keys.append(key)
    return {"nodes": len(report.nodes), "keys": keys}
