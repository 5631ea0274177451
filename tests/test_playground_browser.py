"""The playground in a real browser: Chromium (the system's package) driven by Playwright, against a real
``descend serve``. The page must load without console errors, ask nothing of any other host, redraw when a
slider moves (asking the server again), keep its state in the URL, and show why an optimizer is missing."""

from __future__ import annotations

import os
import shutil
import urllib.parse

import pytest
from tests.playground_server import serve

CHROMIUM = os.environ.get("DESCEND_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
if not os.path.exists(CHROMIUM):
    pytest.skip(
        f"no Chromium at {CHROMIUM} (install the system's package: apt-get install -y chromium)",
        allow_module_level=True,
    )
sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is in the dev extra")

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]  # fmt: skip


@pytest.fixture(scope="module")
def server():
    with serve() as served:
        yield served


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


class Visit:
    """One page of the playground, with every console message and request it made."""

    def __init__(self, browser, server, query: str = "") -> None:
        # bypass_csp lets Playwright's own waiting scripts run; the page's requests are unchanged
        self.context = browser.new_context(viewport={"width": 1500, "height": 1000}, bypass_csp=True)
        self.page = self.context.new_page()
        self.server = server
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.goto(server.url + query)
        self.page.wait_for_selector("body[data-ready], body[data-failed]", state="attached", timeout=60_000)
        assert self.page.get_attribute("body", "data-failed") is None, self.page.get_attribute(
            "body", "data-failed"
        )
        self.settle()

    def settle(self) -> None:
        """Wait until every request the page made is answered and drawn."""
        self.page.wait_for_function("document.body.dataset.pending === '0'", timeout=60_000)

    def paths(self) -> list[str]:
        return self.page.eval_on_selector_all(
            "#landscape path.path", "ps => ps.map(p => p.getAttribute('d'))"
        )

    def query(self) -> dict[str, list[str]]:
        return urllib.parse.parse_qs(urllib.parse.urlparse(self.page.url).query)

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def visit(browser, server):
    opened: list[Visit] = []

    def open_(query: str = "") -> Visit:
        opened.append(Visit(browser, server, query))
        return opened[-1]

    yield open_
    for v in opened:
        v.close()


def test_the_page_draws_four_paths_with_no_errors_and_no_outside_requests(visit, server, tmp_path):
    v = visit()
    assert v.errors == []
    assert v.requests and all(url.startswith(server.url) for url in v.requests), v.requests
    paths = v.paths()
    assert len(paths) == 4 and all(d and d.count("L") >= 10 for d in paths)
    assert v.page.locator("#loss path.loss").count() == 4
    # the chapter's quadratic: the stability map with its boundary and the heavy-ball settings marked
    assert v.page.locator("#stability path.boundary").count() == 1
    assert v.page.locator("#stability circle.setting").count() == 2  # sgd and momentum
    v.page.screenshot(path=str(tmp_path / "playground.png"), full_page=True)


def test_a_slider_moved_with_the_keyboard_asks_the_server_and_redraws(visit):
    v = visit("?f=rosenbrock&steps=200&start=-1.5,2&o=adam:lr=0.0501&o=momentum:lr=0.001")
    before = v.paths()
    slider = v.page.locator(".optimizer").nth(0).get_by_label("lr", exact=True)
    with v.page.expect_response(lambda r: "/api/trace" in r.url and "adam" in r.url) as answer:
        slider.focus()
        for _ in range(5):
            v.page.keyboard.press("ArrowRight")
    response = answer.value
    assert response.status == 200
    asked = urllib.parse.parse_qs(urllib.parse.urlparse(response.url).query)["optimizer"][0]
    assert asked.startswith("adam:lr=") and asked != "adam:lr=0.0501"
    v.settle()
    after = v.paths()
    assert after[0] != before[0] and after[1] == before[1]  # only the moved optimizer's path changed
    assert v.page.locator(".optimizer .spec").nth(0).inner_text() == asked
    assert v.query()["o"][0] == asked  # the state is in the URL
    assert v.errors == []


def test_a_click_sets_the_start_and_the_url_restores_the_view(visit):
    v = visit("?f=himmelblau&steps=60&o=nesterov:lr=0.005&o=adam:lr=0.1,betas=(0.8,0.99)")
    box = v.page.locator("#landscape").bounding_box()
    with v.page.expect_response(lambda r: "/api/trace" in r.url and "start=" in r.url):
        v.page.mouse.click(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.3)
    v.settle()
    start = v.query()["start"][0]
    x1, x2 = (float(t) for t in start.split(","))
    assert x1 < 0 < x2  # upper left of the box
    w = visit("?" + urllib.parse.urlparse(v.page.url).query)  # the link, shared
    assert w.page.locator("#function").input_value() == "himmelblau"
    specs = w.page.locator(".optimizer .spec").all_inner_texts()
    assert specs == ["nesterov:lr=0.005", "adam:lr=0.1,betas=(0.8,0.99)"]
    assert w.paths() == v.paths()
    assert w.errors == []


def test_optimizers_that_cannot_run_on_a_point_say_why(visit):
    v = visit()
    muon = v.page.locator("#add-choice option[value='muon']")
    assert muon.is_disabled()
    assert "2D parameters" in (muon.get_attribute("title") or "")
    text = v.page.locator("#unavailable").inner_text()
    assert "muon" in text and "sparse-adam" in text


def test_a_one_dimensional_function_a_schedule_and_an_added_optimizer(visit):
    v = visit("?f=xcos&steps=40&o=gd:lr=0.5")
    assert v.page.locator("#landscape path.curve").count() == 1
    assert len(v.paths()) == 1
    v.page.select_option("#add-choice", "adan")
    with v.page.expect_response(lambda r: "/api/trace" in r.url and "adan" in r.url):
        v.page.click("#add")
    # Adan's three betas, each with a slider
    card = v.page.locator(".optimizer").nth(1)
    assert card.locator("input[type='range'][aria-label^='betas[']").count() == 3
    with v.page.expect_response(lambda r: "/api/trace" in r.url and "schedule=" in r.url):
        v.page.select_option("#schedule-choice", "cosine")
    v.settle()
    assert v.query()["s"] == ["cosine"]  # its settings at the defaults the server fills in
    assert v.page.locator("#schedule path.schedule-line").count() == 1
    assert len(v.paths()) == 2
    assert "not a quadratic" in v.page.locator("#stability-note").inner_text()
    assert v.errors == []
