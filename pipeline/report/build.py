"""Build the report: run missing experiments, fill the templates, render.

Data flows one way: results/<profile>/<experiment>/results.json -> Jinja
(templates/) -> report/report[-<profile>].qmd -> HTML and PDF.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
import yaml

from pipeline.errors import Hw2Error, ResultsError
from pipeline.findings.report import findings as report_findings
from pipeline.provenance import now_utc
from pipeline.executors import run_many
from pipeline.report.render import Renderer, choose_renderer, render
from pipeline.report.values import FILTERS, ResultsView, strip_spans_in_math
from pipeline.results import REPO_ROOT, experiment_dir, read_results, results_root
from pipeline.stages import STAGES, Stage

if TYPE_CHECKING:
    from pipeline.fingerprint import Freshness

TEMPLATES = REPO_ROOT / "templates"
REPORT_DIR = REPO_ROOT / "report"
METADATA = REPORT_DIR / "metadata.yml"


@dataclass
class Section:
    """One question's section: its stage, its results file, and (once read) its results."""

    stage: Stage
    results_file: Path
    r: ResultsView | None = None  # its results, once read
    f: Any = None  # its findings (pipeline/findings/), once decided

    @property
    def name(self) -> str:
        return self.stage.name

    @property
    def target(self) -> str:
        return self.stage.target

    @property
    def title(self) -> str:
        return self.stage.title

    @property
    def template(self) -> str:
        return self.stage.template

    @property
    def command(self) -> str:
        return self.stage.command


def report_stem(profile: str) -> str:
    """report for the default profile, report-<profile> otherwise."""
    return "report" if profile == "default" else f"report-{profile}"


def discover_sections(profile: str, root: Path | None = None) -> list[Section]:
    """Return the report's sections in order, with their results files."""
    return [Section(stage=s, results_file=experiment_dir(profile, s.name, root) / "results.json") for s in STAGES]


def freshness(section: Section, profile: str) -> "Freshness":
    """Say whether a section's results are missing, stale (and why) or fresh."""
    from pipeline import fingerprint
    from pipeline.profiles import as_dict, get_config

    if not section.results_file.exists():
        return fingerprint.Freshness("missing", ["no results.json"])
    try:
        recorded = read_results(section.results_file).get("fingerprint")
    except ResultsError as exc:
        return fingerprint.Freshness("stale", [str(exc)])
    config = get_config(section.name, profile, cls=section.stage.module.Settings)
    hook = getattr(section.stage.module, "data_fingerprint", None)
    data = dict(hook(config)) if hook else {}
    return fingerprint.check(recorded, as_dict(config), data)


def status(profile: str = "default", root: Path | None = None) -> list[tuple[Section, "Freshness"]]:
    """Return each section with its freshness."""
    return [(section, freshness(section, profile)) for section in discover_sections(profile, root)]


def load_metadata(path: Path = METADATA) -> dict[str, Any]:
    """Read the user-editable report metadata (title, group, members, contribution)."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise Hw2Error(f"{path}: missing (it holds the title, group and members)") from None
    except yaml.YAMLError as exc:
        raise Hw2Error(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    for key in ("title", "group", "members", "contribution"):
        if not isinstance(data, dict) or key not in data:
            raise Hw2Error(f"{path}: missing the key '{key}'")
    return data


def make_environment() -> jinja2.Environment:
    """Jinja environment: StrictUndefined, comments as {## ##} so Quarto's {#id} is left alone."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        undefined=jinja2.StrictUndefined,
        comment_start_string="{##",
        comment_end_string="##}",
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )
    env.filters.update(FILTERS)
    return env


def fill_templates(profile: str, sections: list[Section], renderer: Renderer, figure_base: str) -> str:
    """Render templates/report.qmd.j2 to Quarto markdown."""
    env = make_environment()
    context = {
        "meta": load_metadata(),
        "report": report_findings(profile, renderer.description),
        "profile": profile,
        "sections": sections,
        "renderer": renderer,
        "built": now_utc(),
        "figure_base": figure_base,
    }
    try:
        return strip_spans_in_math(env.get_template("report.qmd.j2").render(**context))
    except jinja2.UndefinedError as exc:
        raise ResultsError(f"templates: {exc.message} (a template names a value that does not exist)") from None
    except jinja2.TemplateSyntaxError as exc:
        raise Hw2Error(f"{exc.filename or exc.name}:{exc.lineno}: template syntax error: {exc.message}") from None


def copy_figures(sections: list[Section], out_dir: Path, profile: str) -> None:
    """Copy each experiment's figures/ to <out_dir>/figures/<profile>/<experiment>/."""
    for section in sections:
        src = section.results_file.parent / "figures"
        dst = out_dir / "figures" / profile / section.name
        if dst.exists():
            shutil.rmtree(dst)
        if src.is_dir():
            shutil.copytree(src, dst)


def build(profile: str = "default", run: str = "stale", formats: tuple[str, ...] = ("html", "pdf"),
          out_dir: Path | None = None, results: Path | None = None, renderer: str = "auto",
          jobs: int = 1, executor: str = "local") -> list[Path]:
    """Run experiments (``run``: stale, missing or none), fill the templates and render; return outputs."""
    t0 = time.perf_counter()
    root = results or results_root()
    out_dir = (out_dir or REPORT_DIR).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    chosen = choose_renderer(renderer)  # fail before any long run if nothing can render
    sections = discover_sections(profile, root)
    to_run = []
    for section in sections:
        if run == "stale":
            state = freshness(section, profile)
            if state.needs_run:
                print(f"{section.name}: {state.state} ({'; '.join(state.reasons[:3])})", flush=True)
                to_run.append(section.name)
        elif not section.results_file.exists():
            if run == "missing":
                to_run.append(section.name)
            else:
                raise ResultsError(f"{section.results_file}: no results; produce them with "
                                   f"`{section.command} PROFILE={profile}`")
    t_run = time.perf_counter()
    run_many(to_run, profile, root, jobs=jobs, executor=executor)
    if to_run:
        print(f"experiments took {time.perf_counter() - t_run:.1f} s", flush=True)
    t_render = time.perf_counter()
    for section in sections:
        hint = (f"make {section.target} PROFILE={profile}  "
                f"(python -m experiments.{section.name} --profile {profile})")
        section.r = ResultsView(read_results(section.results_file), section.results_file, hint)
        section.f = section.stage.findings(section.r)

    stem = report_stem(profile)
    qmd_text = fill_templates(profile, sections, chosen, figure_base=f"figures/{profile}")
    copy_figures(sections, out_dir, profile)
    if out_dir != REPORT_DIR.resolve():
        for asset in ("_quarto.yml", "style.css", "typst-symbols.lua"):
            shutil.copy2(REPORT_DIR / asset, out_dir / asset)
    qmd = out_dir / f"{stem}.qmd"
    tmp = qmd.with_name(f".tmp-{qmd.name}")
    tmp.write_text(qmd_text, encoding="utf-8")
    os.replace(tmp, qmd)
    outputs = render(qmd, chosen, formats)
    for path in outputs:
        print(f"wrote {path}")
    print(f"rendered with {chosen.description} in {time.perf_counter() - t_render:.1f} s"
          + (f" ({time.perf_counter() - t0:.1f} s with the experiments)" if to_run else ""))
    return outputs


__all__ = ["build", "discover_sections", "report_stem", "status"]
