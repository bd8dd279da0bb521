"""``make preview``: the report as HTML in a browser, re-rendered whenever its sources change.

No experiment runs and no PDF is made: the templates are filled with the results on
disk and pandoc writes HTML (about a second).  A small server on 127.0.0.1 serves the
page with a script that polls ``/__version`` and reloads (keeping the scroll position)
when a template, a file of ``report/`` or a results file changes; the sources are
polled by modification time.  An error (a template that does not parse, a key a
template names that the results lack) is shown in the page with its message, file
and line, and the page comes back once the source is fixed.  Ctrl-C stops it cleanly.

When Quarto is on PATH (or ``$QUARTO``), ``quarto preview`` serves the page instead,
after a check that its live-reload script is there; Quarto builds without the preview
web UI fall back to the built-in server with a one-line note.
"""

from __future__ import annotations

import argparse
import errno
import html
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from pipeline.errors import Hw2Error
from pipeline.results import REPO_ROOT, results_root

DEFAULT_PORT = 4848
POLL_S = 0.3
BUILD_OUTPUTS = ("report*.html", "report*.pdf", "report*.qmd", "report*.typ", "diff-*.html", ".tmp-*")


# what to watch ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Sources:
    """The folders a preview reads: templates, the report's assets, and the results of one profile."""

    templates: Path
    report: Path
    results: Path  # the results root; <results>/<profile>/ is watched
    profile: str

    def files(self) -> list[Path]:
        """Return every file whose change should re-render the page."""
        found = [p for p in self.templates.rglob("*") if p.is_file()]
        found += [p for p in self.report.iterdir() if p.is_file() and not _is_output(p)]
        profile_dir = self.results / self.profile
        if profile_dir.is_dir():
            found += sorted(profile_dir.glob("*/results.json")) + sorted(profile_dir.glob("*/figures/*.png"))
            found += [profile_dir / "verification.json"] if (profile_dir / "verification.json").exists() else []
        return found

    def snapshot(self) -> dict[Path, tuple[int, int]]:
        """Return (mtime in ns, size) of every watched file."""
        out = {}
        for path in self.files():
            try:
                st = path.stat()
            except OSError:
                continue
            out[path] = (st.st_mtime_ns, st.st_size)
        return out


def _is_output(path: Path) -> bool:
    return path.name.startswith(".") or any(path.match(pattern) for pattern in BUILD_OUTPUTS)


# rendering -----------------------------------------------------------------------------------------

def fill(sources: Sources, renderer: Any, out_dir: Path) -> Path:
    """Fill the templates with the results on disk into ``out_dir/preview.qmd`` (figures copied); return it."""
    from pipeline.report.build import copy_figures, fill_templates
    from pipeline.stages import names
    from pipeline.verify import read_sections

    sections = read_sections(sources.profile, sources.results, names())
    text = fill_templates(sources.profile, sections, renderer, f"figures/{sources.profile}",
                          templates=sources.templates, metadata=sources.report / "metadata.yml")
    copy_figures(sections, out_dir, sources.profile)
    qmd = out_dir / "preview.qmd"
    qmd.write_text(text, encoding="utf-8")
    return qmd


def render_page(sources: Sources, out_dir: Path) -> str:
    """Return the report as one HTML page (pandoc, resources embedded)."""
    from pipeline.report.render import choose_renderer, render_html_pandoc

    qmd = fill(sources, choose_renderer("pandoc"), out_dir)
    return render_html_pandoc(qmd, out_dir / "preview.html").read_text(encoding="utf-8")


def template_location(exc: BaseException) -> tuple[str, int] | None:
    """Return (template file, line) an error came from, looking through its causes; None if not a template's."""
    import jinja2

    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, jinja2.TemplateSyntaxError) and seen.lineno:
            return (seen.filename or seen.name or "?"), seen.lineno
        frames = [f for f in traceback.extract_tb(seen.__traceback__) if f.filename.endswith(".j2")]
        if frames:
            return frames[-1].filename, frames[-1].lineno or 0
        seen = seen.__cause__ or seen.__context__
    return None


def error_page(exc: BaseException) -> str:
    """Return an HTML page showing an error: its message, the template file and line, and the lines around it."""
    message = str(exc) or type(exc).__name__
    where = template_location(exc)
    snippet = ""
    if where:
        file, line = where
        try:
            lines = Path(file).read_text(encoding="utf-8").splitlines()
        except OSError:
            lines = []
        rows = [f'<span class="{"bad" if i == line else ""}">{i:>5}  {html.escape(text)}</span>'
                for i, text in enumerate(lines, 1) if abs(i - line) <= 3]
        snippet = (f'<p class="where">in <code>{html.escape(file)}</code>, line {line}</p>'
                   f"<pre>{chr(10).join(rows)}</pre>")
    return ("<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>Preview: error</title><style>"
            "body{font-family:system-ui,sans-serif;max-width:60em;margin:2em auto}"
            "h1{color:#a00}pre{background:#f6f6f6;padding:1em;overflow:auto}.bad{background:#fcc;display:block}"
            "</style></head><body><h1>The report could not be rendered</h1>"
            f'<p class="message">{html.escape(message)}</p>{snippet}'
            "<p>The page reloads by itself once the source is fixed.</p></body></html>")


RELOAD_SCRIPT = """<script>
(function () {
  const version = %d, key = "hw2-preview-scroll";
  window.addEventListener("load", () => {
    const y = sessionStorage.getItem(key);
    if (y !== null) { window.scrollTo(0, Number(y)); sessionStorage.removeItem(key); }
  });
  async function poll() {
    try {
      const answer = await fetch("/__version", {cache: "no-store"});
      if (Number(await answer.text()) !== version) {
        sessionStorage.setItem(key, String(window.scrollY));
        location.reload();
        return;
      }
    } catch (e) { /* the server is restarting or stopped: try again */ }
    setTimeout(poll, 400);
  }
  setTimeout(poll, 400);
})();
</script>"""


def with_reload(page: str, version: int) -> str:
    """Return the page with the live-reload script before </body>."""
    script = RELOAD_SCRIPT % version
    index = page.rfind("</body>")
    return page + script if index == -1 else page[:index] + script + page[index:]


# the built-in server -----------------------------------------------------------------------------------

@dataclass
class Page:
    """The page being served, and its version (bumped at every render)."""

    html: str = "<p>rendering…</p>"
    version: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def update(self, html_text: str) -> None:
        with self.lock:
            self.version += 1
            self.html = with_reload(html_text, self.version)

    def read(self) -> tuple[str, int]:
        with self.lock:
            return self.html, self.version


class PreviewServer(ThreadingHTTPServer):
    daemon_threads = True  # a browser's open connection does not keep Ctrl-C waiting


def make_server(port: int, page: Page) -> ThreadingHTTPServer:
    """Return a server on 127.0.0.1:``port`` serving ``page``; a one-line error when the port is taken."""
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            text, version = page.read()
            if self.path.split("?")[0] == "/__version":
                self._send(str(version), "text/plain")
            elif self.path.split("?")[0] in ("/", "/index.html", "/report.html"):
                self._send(text, "text/html; charset=utf-8")
            else:
                self.send_error(404)

        def _send(self, body: str, kind: str) -> None:
            data = body.encode("utf-8")
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    try:
        return PreviewServer(("127.0.0.1", port), Handler)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise Hw2Error(f"port {port} is in use on 127.0.0.1 (choose another with --port)") from None
        raise Hw2Error(f"cannot serve on 127.0.0.1:{port}: {exc.strerror}") from None


def render_into(page: Page, sources: Sources, out_dir: Path) -> bool:
    """Render the report into ``page`` (an error page on failure); return True when it rendered."""
    started = time.perf_counter()
    try:
        page.update(render_page(sources, out_dir))
    except Exception as exc:  # any failure is shown in the page, not only in the terminal
        page.update(error_page(exc))
        print(f"preview: error: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}", flush=True)
        return False
    print(f"preview: rendered in {time.perf_counter() - started:.1f} s", flush=True)
    return True


def watch(sources: Sources, on_change: Any, stop: threading.Event) -> None:
    """Call ``on_change()`` whenever a watched file changes, until ``stop`` is set."""
    before = sources.snapshot()
    while not stop.wait(POLL_S):
        now = sources.snapshot()
        if now != before:
            changed = sorted({p.name for p in set(now) ^ set(before)} |
                             {p.name for p in now if p in before and now[p] != before[p]})
            print(f"preview: {', '.join(changed[:3])}{' …' if len(changed) > 3 else ''} changed", flush=True)
            before = now
            on_change()


def serve_builtin(sources: Sources, port: int, out_dir: Path, open_browser: bool = False) -> int:
    """Serve the preview with the built-in server until Ctrl-C; return the exit status."""
    page = Page()
    server = make_server(port, page)
    stop = threading.Event()
    try:
        render_into(page, sources, out_dir)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True).start()
        url = f"http://127.0.0.1:{port}/"
        print(f"preview: serving {url} (Ctrl-C stops); watching {sources.templates}, {sources.report} and "
              f"{sources.results / sources.profile}", flush=True)
        if open_browser:
            import webbrowser

            webbrowser.open(url)
        watch(sources, lambda: render_into(page, sources, out_dir), stop)
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        server.shutdown()
        server.server_close()
    print("preview: stopped", flush=True)
    return 0


# quarto preview -----------------------------------------------------------------------------------------

def port_free(port: int) -> bool:
    """True when a server can listen on 127.0.0.1:``port`` (it is closed again at once)."""
    try:
        make_server(port, Page()).server_close()
    except Hw2Error:
        return False
    return True


def _fill_or_error_qmd(sources: Sources, out_dir: Path) -> None:
    from pipeline.report.render import Renderer

    try:
        fill(sources, Renderer("quarto", "Quarto (preview)"), out_dir)
    except Exception as exc:  # show it in the page Quarto serves
        where = template_location(exc)
        place = f"\n\nin `{where[0]}`, line {where[1]}" if where else ""
        (out_dir / "preview.qmd").write_text(
            f"---\ntitle: The report could not be rendered\n---\n\n```\n{exc}\n```{place}\n", encoding="utf-8")
        print(f"preview: error: {exc}", flush=True)


def quarto_preview(quarto: str, sources: Sources, port: int, out_dir: Path) -> int | None:
    """Run ``quarto preview`` until Ctrl-C; return None (after stopping it) when its live reload does not work."""
    for asset in ("_quarto.yml", "style.css"):
        if (sources.report / asset).exists():
            shutil.copy2(sources.report / asset, out_dir / asset)
    _fill_or_error_qmd(sources, out_dir)
    proc = subprocess.Popen([quarto, "preview", "preview.qmd", "--to", "html", "--port", str(port), "--no-browser"],
                            cwd=out_dir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        if not _quarto_reload_works(port, proc):
            return None
        print(f"preview: quarto preview serving http://127.0.0.1:{port}/ (Ctrl-C stops)", flush=True)
        stop = threading.Event()
        try:
            watch(sources, lambda: _fill_or_error_qmd(sources, out_dir), stop)
        except KeyboardInterrupt:
            pass
        print("preview: stopped", flush=True)
        return 0
    finally:
        stop_process_group(proc)


def stop_process_group(proc: subprocess.Popen) -> None:
    """Stop a process started in its own session and everything it started (quarto runs deno)."""
    for sig, wait_s in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait_s)
            return
        except subprocess.TimeoutExpired:
            continue


def _quarto_reload_works(port: int, proc: subprocess.Popen, timeout_s: float = 90.0) -> bool:
    """Wait for quarto preview to answer, then check that its live-reload script is served."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/quarto-preview.js", timeout=2) as answer:
                return answer.status == 200
        except urllib.error.HTTPError:
            return False
        except OSError:
            time.sleep(0.5)
    return False


# the command --------------------------------------------------------------------------------------------

def preview(profile: str = "default", port: int = DEFAULT_PORT, results: Path | None = None,
            templates: Path | None = None, report: Path | None = None, out_dir: Path | None = None,
            use_quarto: bool = True, open_browser: bool = False) -> int:
    """Serve a live preview of the report; return the exit status when stopped."""
    from pipeline.report.build import REPORT_DIR, TEMPLATES
    from pipeline.report.render import find_quarto

    sources = Sources((templates or TEMPLATES).resolve(), (report or REPORT_DIR).resolve(),
                      (results or results_root()).resolve(), profile)
    for folder, what in ((sources.templates, "templates"), (sources.report, "report")):
        if not folder.is_dir():
            raise Hw2Error(f"{folder}: no such {what} folder")
    if not port_free(port):
        raise Hw2Error(f"port {port} is in use on 127.0.0.1 (choose another with --port)")
    with tempfile.TemporaryDirectory(prefix="hw2-preview-") as tmp:
        out = (out_dir or Path(tmp)).resolve()
        out.mkdir(parents=True, exist_ok=True)
        quarto = find_quarto() if use_quarto else None
        if quarto:
            status = quarto_preview(quarto, sources, port, out)
            if status is not None:
                return status
            print("note: quarto preview gave no live-reload script (this Quarto build lacks its preview web UI); "
                  "using the built-in server with pandoc instead", flush=True)
        return serve_builtin(sources, port, out, open_browser)


def add_parser(sub: Any) -> None:
    """Add ``preview`` to the ``python -m pipeline`` subcommands."""
    from pipeline.profiles import profile_arg

    p = sub.add_parser("preview", help="serve the report as HTML on 127.0.0.1 and re-render it live when a "
                                       "template, report/ file or results file changes",
                       description="Render the report to HTML (no experiments, no PDF), serve it on 127.0.0.1 "
                                   "with live reload, and re-render whenever a template, a file of report/ or "
                                   "a results file changes. Ctrl-C stops.")
    p.add_argument("--profile", type=profile_arg, default="default", metavar="PROFILE",
                   help="results profile shown (default: %(default)s)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help="port on 127.0.0.1 (default: %(default)s)")
    p.add_argument("--results-dir", type=Path, default=None,
                   help="results root (default: $HW2_RESULTS_DIR or results/)")
    p.add_argument("--templates", type=Path, default=None, metavar="DIR",
                   help="templates folder (default: templates/)")
    p.add_argument("--report-dir", type=Path, default=None, metavar="DIR",
                   help="folder with metadata.yml and the report's assets (default: report/)")
    p.add_argument("--out-dir", type=Path, default=None, help="where the preview's files go (default: a temporary folder)")
    p.add_argument("--no-quarto", action="store_true", help="use the built-in server even when Quarto is on PATH")
    p.add_argument("--open", action="store_true", help="open the page in the default browser")
    p.set_defaults(run_command=run_command)


def run_command(args: argparse.Namespace) -> int:
    """Run ``python -m pipeline preview`` with parsed arguments; return the exit status."""
    if not 0 < args.port < 65536:
        raise Hw2Error(f"--port {args.port}: not a port number (1-65535)")
    try:
        return preview(args.profile, args.port, args.results_dir, args.templates, args.report_dir, args.out_dir,
                       use_quarto=not args.no_quarto, open_browser=args.open)
    except KeyboardInterrupt:  # Ctrl-C during the first render
        print("preview: stopped", file=sys.stderr)
        return 0


__all__ = ["Sources", "error_page", "preview", "render_page", "template_location", "with_reload"]
