"""The compare report in a real browser (headless Chromium through Playwright): it draws every chart with no
network, a hover shows the values, and a click on a legend entry hides that curve and its band."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from descend.lab.compare import compare

SHOT = os.environ.get("DESCEND_SCREENSHOT")  # where to keep a full-page screenshot, to look at
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
playwright = pytest.importorskip("playwright.sync_api", reason="the dev extra installs playwright")
# CI installs chromium (.ci/run); a machine without it cannot run this check
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium on this machine")


@pytest.fixture(scope="module")
def page_path(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("report")
    result = compare("diabetes", ["sgd", "adam"], epochs=2, seeds=[0, 1], progress=False)
    return result.write(folder)["html"]


def test_the_report_draws_offline_and_its_charts_answer_hover_and_legend_clicks(page_path, tmp_path):
    requests: list[str] = []
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        page.on("request", lambda r: requests.append(r.url))
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(page_path.as_uri())
        page.wait_for_function("() => window.Plotly !== undefined")
        assert errors == []
        assert all(url.startswith("file://") for url in requests), requests  # nothing from the network
        # every chart drawn (plotly marks its div): a regression's losses and learning rate, no accuracy
        drawn = "() => document.querySelectorAll('figure .js-plotly-plot .main-svg').length >= 5"
        page.wait_for_function(drawn)
        assert page.locator("figure .js-plotly-plot").count() == 5
        assert page.locator("figure figcaption").count() == 5  # each caption kept under its chart
        chart = "chart-val_loss_vs_epoch"
        # hover: the point's values in a label
        page.evaluate(f"() => Plotly.Fx.hover('{chart}', [{{curveNumber: 1, pointNumber: 1}}])")
        label = page.locator(f"#{chart} .hoverlayer").text_content()
        assert "sgd" in label and "validation loss" in label
        # a click on the legend entry of sgd hides its line and band
        page.locator(f"#{chart}").scroll_into_view_if_needed()
        page.locator(f"#{chart} .legend .traces .legendtoggle").first.click()
        page.wait_for_timeout(800)  # plotly waits out a double click (300 ms) before it toggles
        visible = page.evaluate(f"() => document.getElementById('{chart}').data.map(t => t.visible)")
        assert visible[:2] == ["legendonly", "legendonly"] and visible[2:] in ([None, None], [True, True])
        page.screenshot(path=str(tmp_path / "report.png"), full_page=False)
        if SHOT is not None:
            page.screenshot(path=SHOT, full_page=True)
        browser.close()
    assert (tmp_path / "report.png").stat().st_size > 10_000
