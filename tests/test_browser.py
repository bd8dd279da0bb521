"""The HTML report as a reader sees it, in a real headless Chromium driven by Playwright."""

from __future__ import annotations

import os
import shutil

import pytest

pytestmark = pytest.mark.slow  # renders the quick report and opens it in Chromium

CHROMIUM = os.environ.get("HW2_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic"]


@pytest.fixture(scope="module")
def page(quick_report, tmp_path_factory):
    playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    if not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)):
        pytest.skip(f"no Chromium at {CHROMIUM} (install Debian's chromium, or set HW2_CHROMIUM)")
    _, _, _, out = quick_report
    errors: list[str] = []
    with playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        pg = browser.new_page(viewport={"width": 1100, "height": 900})
        pg.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        pg.on("pageerror", lambda exc: errors.append(str(exc)))
        pg.goto((out / "report-quick.html").as_uri())
        pg.wait_for_load_state("load")
        pg.errors = errors
        yield pg
        shot = out / "report-quick-screenshot.png"
        pg.goto((out / "report-quick.html").as_uri())
        pg.screenshot(path=str(shot), full_page=True)
        print(f"screenshot: {shot}")
        browser.close()


def test_no_console_errors(page):
    assert page.errors == []


def test_every_image_loaded(page):
    widths = page.eval_on_selector_all("img", "els => els.map(e => [e.complete, e.naturalWidth])")
    assert widths, "no images in the report"
    assert all(done and width > 0 for done, width in widths), widths


def test_math_is_rendered_as_mathml(page):
    boxes = page.eval_on_selector_all("math", "els => els.map(e => e.getBoundingClientRect().width)")
    assert len(boxes) > 10
    assert all(width > 0 for width in boxes)
    assert page.locator("script[src]").count() == 0  # nothing loaded from a CDN


def _in_viewport(page, element_id: str) -> bool:
    return page.evaluate(
        """id => { const el = document.getElementById(id); if (!el) return false;
                   const r = el.getBoundingClientRect();
                   return r.bottom > 0 && r.top < window.innerHeight; }""", element_id)


def test_cross_references_land_on_their_targets(page):
    hrefs = page.eval_on_selector_all(
        "a[href^='#fig-'], a[href^='#tbl-'], a[href^='#eq-'], a[href^='#sec-']",
        "els => els.map(e => e.getAttribute('href'))")
    assert any(h.startswith("#fig-") for h in hrefs) and any(h.startswith("#tbl-") for h in hrefs)
    for href in dict.fromkeys(hrefs):
        target = href[1:]
        kind = page.evaluate("id => { const el = document.getElementById(id); return el && el.tagName; }", target)
        assert kind, f"{href} points at nothing"
        if target.startswith("fig-"):
            assert kind == "FIGURE", (href, kind)
        if target.startswith("tbl-"):
            assert kind == "TABLE", (href, kind)
        page.evaluate("() => window.scrollTo(0, 0)")
        page.locator(f"a[href='{href}']").first.click()
        assert _in_viewport(page, target), f"clicking {href} did not bring it into view"


def test_table_of_contents_works(page):
    links = page.eval_on_selector_all("nav#TOC a", "els => els.map(e => e.getAttribute('href'))")
    assert len(links) >= 5
    for href in links:
        page.evaluate("() => window.scrollTo(0, 0)")
        page.locator(f"nav#TOC a[href='{href}']").first.click()
        assert _in_viewport(page, href[1:]), f"TOC link {href} did not scroll to its section"


def test_numbers_have_hover_titles(page):
    titles = page.eval_on_selector_all("span.num", "els => els.map(e => e.title)")
    assert titles and all("results.json: " in t for t in titles)
