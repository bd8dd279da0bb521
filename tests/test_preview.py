"""``make preview``: a live HTML preview that follows template and results edits in a real browser."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from pipeline.preview import error_page, with_reload
from tests.test_browser import ARGS, CHROMIUM
from tests.test_verify import ROOT, pipeline_cli

MARKER = "Preview marker 7d41: this sentence was added while the preview ran."


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_is_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


class Preview:
    """``python -m pipeline preview`` in a child process, its output collected line by line."""

    def __init__(self, *args: str, env: dict[str, str] | None = None):
        env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
        # A shell that starts the test run in the background (`nohup … &`) leaves SIGINT ignored, and
        # Python keeps an inherited "ignore": restore the default so that interrupt() acts like Ctrl-C.
        self.proc = subprocess.Popen([sys.executable, "-m", "pipeline", "preview", *args], cwd=ROOT, env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        self.out: list[str] = []
        self.err: list[str] = []
        for stream, sink in ((self.proc.stdout, self.out), (self.proc.stderr, self.err)):
            threading.Thread(target=lambda s=stream, k=sink: k.extend(iter(s.readline, "")), daemon=True).start()

    def wait_for(self, text: str, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(text in line for line in self.out):
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError(f"no {text!r} in the preview's output: {''.join(self.out)}{''.join(self.err)}")

    def interrupt(self) -> int:
        self.proc.send_signal(signal.SIGINT)
        return self.proc.wait(timeout=30)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


# fast --------------------------------------------------------------------------------------------------

def test_a_port_in_use_is_a_one_line_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        proc = pipeline_cli("preview", "--port", str(port), "--no-quarto", timeout=60)
    assert proc.returncode == 2 and proc.stderr.strip() == f"error: port {port} is in use on 127.0.0.1 " \
                                                           "(choose another with --port)"


def test_the_error_page_names_the_template_file_and_line(tmp_path):
    import jinja2

    (tmp_path / "t.j2").write_text("line one\n{{ 1 + }}\nline three\n")
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(tmp_path)))
    with pytest.raises(jinja2.TemplateSyntaxError) as err:
        env.get_template("t.j2")
    page = error_page(err.value)
    assert "t.j2" in page and "line 2" in page and '<span class="bad">    2  {{ 1 + }}</span>' in page


def test_the_reload_script_goes_before_the_end_of_the_body():
    page = with_reload("<html><body><p>x</p></body></html>", 7)
    assert page.index("const version = 7") < page.index("</body>") and "/__version" in page


# slow: a browser watching the preview --------------------------------------------------------------------

@pytest.fixture
def preview_sources(quick_report, tmp_path):
    """A temporary copy of the templates (never the real ones) and the quick results."""
    templates = tmp_path / "templates"
    shutil.copytree(ROOT / "templates", templates)
    return templates, quick_report[3].parent / "results"


@pytest.fixture
def browser_page():
    playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    if not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)):
        pytest.skip(f"no Chromium at {CHROMIUM} (install Debian's chromium, or set HW2_CHROMIUM)")
    with playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        yield page
        browser.close()


def wait_for_text(page, text: str, present: bool = True, timeout_s: float = 90) -> None:
    page.wait_for_function("([t, want]) => document.body && document.body.innerText.includes(t) === want",
                           arg=[text, present], timeout=timeout_s * 1000)


@pytest.mark.slow
def test_the_preview_follows_template_edits_without_a_manual_reload(preview_sources, browser_page):
    templates, results = preview_sources
    section = templates / "sections" / "q1_attention.qmd.j2"
    original = section.read_text()
    port = free_port()
    preview = Preview("--profile", "quick", "--results-dir", str(results), "--templates", str(templates),
                      "--port", str(port), "--no-quarto")
    try:
        preview.wait_for("serving http://127.0.0.1:")
        page = browser_page
        page.goto(f"http://127.0.0.1:{port}/")
        wait_for_text(page, "Self-attention")
        navigations = []
        page.on("framenavigated", lambda frame: navigations.append(frame.url))

        section.write_text(original + f"\n{MARKER}\n")
        wait_for_text(page, MARKER)  # the page reloaded itself
        assert navigations, "the new text came without the page reloading"

        section.write_text(original + "\n{% if %}\n")
        wait_for_text(page, "The report could not be rendered")
        shown = page.inner_text("body")
        assert "q1_attention.qmd.j2" in shown and f"line {len(original.splitlines()) + 2}" in shown
        assert "template syntax error" in shown

        section.write_text(original + "\n{{ r.no_such_key }}\n")
        wait_for_text(page, "no key 'no_such_key'")
        assert "q1_attention.qmd.j2" in page.inner_text("body")

        section.write_text(original + f"\n{MARKER}\n")
        wait_for_text(page, MARKER)
        wait_for_text(page, "could not be rendered", present=False)
    finally:
        status = preview.interrupt() if preview.proc.poll() is None else preview.proc.returncode
        preview.kill()
    assert status == 0
    assert not any("Traceback" in line for line in preview.err), "".join(preview.err)
    assert port_is_free(port)
    assert section.read_text().startswith(original) and (ROOT / "templates" / "sections" /
                                                          "q1_attention.qmd.j2").read_text() == original


@pytest.mark.slow
def test_a_changed_results_file_re_renders(preview_sources, tmp_path):
    import json
    import urllib.request

    templates, source = preview_sources
    results = tmp_path / "results"
    shutil.copytree(source, results)
    port = free_port()
    preview = Preview("--profile", "quick", "--results-dir", str(results), "--templates", str(templates),
                      "--port", str(port), "--no-quarto")
    try:
        preview.wait_for("serving")
        version = urllib.request.urlopen(f"http://127.0.0.1:{port}/__version").read().decode()
        path = results / "quick" / "q2_cnn" / "results.json"
        data = json.loads(path.read_text())
        data["model"]["parameters"]["maxpool"] = 123457
        path.write_text(json.dumps(data))
        deadline = time.monotonic() + 60
        while urllib.request.urlopen(f"http://127.0.0.1:{port}/__version").read().decode() == version:
            assert time.monotonic() < deadline, "no re-render after the results changed"
            time.sleep(0.2)
        preview.wait_for("rendered", timeout=60)
        time.sleep(0.5)
        assert "123,457" in urllib.request.urlopen(f"http://127.0.0.1:{port}/").read().decode()
    finally:
        assert preview.interrupt() == 0
        preview.kill()


QUARTO = Path(os.environ.get("HW2_TEST_QUARTO", "/root/.quarto-offline/bin/quarto"))


@pytest.mark.slow
@pytest.mark.skipif(not QUARTO.exists(), reason=f"no Quarto at {QUARTO}")
def test_a_quarto_without_live_reload_falls_back_to_the_builtin_server(preview_sources):
    templates, results = preview_sources
    port = free_port()
    preview = Preview("--profile", "quick", "--results-dir", str(results), "--templates", str(templates),
                      "--port", str(port), env={"QUARTO": str(QUARTO)})
    try:
        preview.wait_for("serving http://127.0.0.1:", timeout=240)
    finally:
        status = preview.interrupt() if preview.proc.poll() is None else preview.proc.returncode
        preview.kill()
    output = "".join(preview.out)
    if "quarto preview serving" in output:  # a Quarto with its preview web UI: nothing to fall back from
        assert status == 0
        return
    assert "note: quarto preview gave no live-reload script" in output and status == 0
    assert port_is_free(port)
