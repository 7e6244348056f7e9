"""The board report (``hub report plan``, the monthly export) as a person sees it in headless Chromium:
it fits a 1400 px window and an A4 landscape page without scrolling sideways, and a node with no
figures has a line saying so instead of an empty chart. Screenshots go to ``$SCREENSHOT_DIR``."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
from plan_rollup.export import gather_report, render_html

from tests.unit.plan.plan_builders import board_world

pytestmark = pytest.mark.e2e

A4_LANDSCAPE_PRINTABLE = 1032  # 297 mm less the 2 x 12 mm margins of the page's @page rule, at 96 px/in
WIDEST = """() => Math.max(document.documentElement.scrollWidth,
                           ...[...document.querySelectorAll('table')].map(t => t.getBoundingClientRect().left
                                                                            + t.scrollWidth))"""


@pytest.fixture
def report_page(browser: Any, tmp_path: Path) -> Any:
    report = gather_report(board_world().store, 2026, "global", today=date(2026, 12, 2), currency="USD")
    path = tmp_path / "plan-2026-global.html"
    path.write_text(render_html(report), encoding="utf-8")
    page = browser.new_page()
    page.set_viewport_size({"width": 1400, "height": 900})
    page.goto(path.as_uri())
    yield page
    page.close()


def test_the_report_fits_a_1400_px_window_and_an_a4_landscape_page(report_page: Any, shots: Path) -> None:
    page = report_page
    assert page.locator("table.variance").count() == 3  # one per level
    assert page.evaluate(WIDEST) <= 1400
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    # Figures read as a person reads money.
    assert "1,200,000.00" in page.locator("table.variance").first.inner_text()
    page.screenshot(path=str(shots / "plan-report-1400.png"), full_page=True)

    page.emulate_media(media="print")
    page.set_viewport_size({"width": A4_LANDSCAPE_PRINTABLE, "height": 730})
    assert page.evaluate(WIDEST) <= A4_LANDSCAPE_PRINTABLE
    page.pdf(path=str(shots / "plan-report.pdf"), prefer_css_page_size=True, print_background=True)


def test_a_node_without_figures_shows_a_line_not_a_chart(report_page: Any) -> None:
    page = report_page
    empty = page.locator(".chart", has_text="apac: plan vs actual")
    assert " ".join(empty.inner_text().split()) == "apac: plan vs actual no figures yet"
    assert empty.locator("svg").count() == 0
    assert page.locator(".chart svg").count() == 3  # global, americas, emea
    nordics = page.locator("tbody.node", has_text="nordics")
    assert nordics.locator("tr").count() == 1 and "no figures yet" in nordics.inner_text()
