"""Build the report: run missing experiments, fill the templates, render.

Data flows one way: results/<profile>/<experiment>/results.json -> Jinja
(templates/) -> report/report[-<profile>].qmd -> HTML and PDF.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from pipeline.errors import Hw2Error, ResultsError
from pipeline.findings.report import findings as report_findings
from pipeline.provenance import now_utc
from pipeline.executors import run_many
from pipeline.report.metadata import load_metadata
from pipeline.report.render import Renderer, choose_renderer, render
from pipeline.report.values import FILTERS, ResultsView, strip_spans_in_math
from pipeline.profiles import set_flags
from pipeline.results import REPO_ROOT, experiment_dir, read_results, results_root
from pipeline.stages import STAGES, Stage, stage
from pipeline.status import ExperimentStatus, missing_real_data, statuses

TEMPLATES = REPO_ROOT / "templates"
REPORT_DIR = REPO_ROOT / "report"


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


def make_environment(templates: Path | None = None) -> jinja2.Environment:
    """Jinja environment: StrictUndefined, comments as {## ##} so Quarto's {#id} is left alone."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates or TEMPLATES)),
        undefined=jinja2.StrictUndefined,
        comment_start_string="{##",
        comment_end_string="##}",
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )
    env.filters.update(FILTERS)
    env.globals["report"] = report_findings("default", "")  # replaced by the build's own; lets a section render alone
    return env


def fill_templates(profile: str, sections: list[Section], renderer: Renderer, figure_base: str,
                   states: list[ExperimentStatus] = (), templates: Path | None = None,
                   metadata: Path | None = None, changes: Any = None) -> str:
    """Render templates/report.qmd.j2 to Quarto markdown.

    ``report`` (the report-level findings, with each section's status) is also a global of the
    environment, so that macros.qmd.j2's ``provenance`` macro can put a section's note under its heading.
    ``templates``/``metadata`` point at other copies (preview, verify); ``changes`` is the optional
    changes-since appendix.
    """
    from pipeline.findings.changes import NO_CHANGES
    from pipeline.findings.verification import verification_findings

    env = make_environment(templates)
    report = report_findings(profile, renderer.description, states)
    env.globals["report"] = report
    context = {
        "meta": load_metadata(metadata) if metadata else load_metadata(),
        "report": report,
        "profile": profile,
        "sections": sections,
        "renderer": renderer,
        "built": now_utc(),
        "figure_base": figure_base,
        "verification": verification_findings(profile, sections),
        "changes": changes or NO_CHANGES,
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


def plan_runs(found: list[ExperimentStatus], run: str, rerun: set[str]) -> dict[str, dict[str, Any]]:
    """Return {experiment: its --set overrides} for the experiments to run before rendering.

    ``rerun`` (``make qN``) runs with the profile's settings (plus DATA=real); ``run='stale'``
    reruns stale and missing results with the overrides they were made with; ``missing`` runs
    only absent ones; ``none`` runs nothing else and stops when results are absent.
    """
    plan = {}
    for status in found:
        if status.name in rerun:
            plan[status.name] = dict(status.stage.real_data or {}) if status.real_data else {}
        elif status.needs_run and run == "stale" or status.state == "missing" and run == "missing":
            plan[status.name] = dict(status.overrides)
        elif status.state == "missing":
            raise ResultsError(f"{status.results_file}: no results; produce them with "
                               f"`{status.make_command()}` ({status.expected})")
    return plan


def check_real_data(found: list[ExperimentStatus], plan: dict[str, dict[str, Any]]) -> None:
    """Stop before anything runs when DATA=real asks for a data set that is not on this machine."""
    absent = [s for s in found if s.name in plan and missing_real_data(s)]
    if absent:
        names = ", ".join(f"{s.name} ({set_flags(plan[s.name])})" for s in absent)
        raise Hw2Error(f"DATA=real: the real data set of {names} is not on this machine; "
                       "the README's Data section says where it is looked for")


def run_reason(status: ExperimentStatus, overrides: dict[str, Any], asked: bool) -> str:
    """Return the line that says why an experiment runs, and with which overrides."""
    if asked:
        line = f"{status.name}: rerunning it as asked"
    else:
        verb = "rerunning" if status.state == "stale" else "running"
        line = f"{status.name}: {status.state} ({'; '.join(status.reasons[:3])}); {verb} it"
    if overrides:
        line += f" with {set_flags(overrides)}"
        if status.recorded and not asked:
            line += " (the overrides its results were made with)"
    if asked and status.with_overrides:
        line += f" (its results were made with {set_flags(status.recorded)}; this run uses the profile's settings)"
    return line


def warn_stale(found: list[ExperimentStatus]) -> None:
    """Print a warning for each experiment whose stale results are rendered as they are."""
    for status in found:
        if status.needs_run:
            print(f"warning: {status.name}: rendering stale results ({'; '.join(status.reasons[:3])}); its section "
                  f"says so at the top; `{status.fix}` reruns it ({status.expected})", file=sys.stderr, flush=True)


def last_line(found: list[ExperimentStatus], ran: list[str]) -> str:
    """Say what the build reran, and whether anything left stale was rendered."""
    stale = [s for s in found if s.needs_run]
    if stale:
        listed = ", ".join(f"{s.name} (`{s.fix}`, {s.expected})" for s in stale)
        return (f"reran {', '.join(ran)}; " if ran else "nothing rerun; ") + f"stale, rendered with a note: {listed}"
    return f"reran {', '.join(ran)}; all results fresh" if ran else "all results fresh, nothing rerun"


def build(profile: str = "default", run: str = "stale", formats: tuple[str, ...] = ("html", "pdf"),
          out_dir: Path | None = None, results: Path | None = None, renderer: str = "auto",
          jobs: int = 1, executor: str = "local", rerun: tuple[str, ...] = (), data: str = "profile",
          changes_since: str | None = None) -> list[Path]:
    """Run experiments, fill the templates and render; return the files written.

    ``run`` (stale, missing or none) says which experiments run by themselves; ``rerun`` names
    experiments (or make targets) to run whatever their state, with the profile's settings;
    ``data='real'`` runs the experiments that have a real data set on it (``DATA=real``);
    ``changes_since`` adds an appendix of the printed numbers that changed since that git revision.
    """
    t0 = time.perf_counter()
    root = results or results_root()
    out_dir = (out_dir or REPORT_DIR).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    load_metadata()  # a mistake in metadata.yml stops the build before any long run
    chosen = choose_renderer(renderer)  # fail before any long run if nothing can render
    rerun_names = {stage(name).name for name in rerun}
    before = statuses(profile, root, data)
    plan = plan_runs(before, run, rerun_names)
    check_real_data(before, plan)
    for status in before:
        if status.name in plan:
            print(run_reason(status, plan[status.name], status.name in rerun_names), flush=True)
    t_run = time.perf_counter()
    run_many(list(plan), profile, root, jobs=jobs, executor=executor, overrides=plan)
    if plan:
        print(f"experiments took {time.perf_counter() - t_run:.1f} s", flush=True)
    t_render = time.perf_counter()
    found = statuses(profile, root, data)
    warn_stale(found)
    sections = discover_sections(profile, root)
    for section in sections:
        hint = (f"make {section.target} PROFILE={profile}  "
                f"(python -m experiments.{section.name} --profile {profile})")
        section.r = ResultsView(read_results(section.results_file), section.results_file, hint)
        section.f = section.stage.findings(section.r)

    stem = report_stem(profile)
    changes = None
    if changes_since:
        from pipeline.diff import changes_since_findings

        changes = changes_since_findings(changes_since, profile, root)
    qmd_text = fill_templates(profile, sections, chosen, figure_base=f"figures/{profile}", states=found,
                              changes=changes)
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
          + (f" ({time.perf_counter() - t0:.1f} s with the experiments)" if plan else ""))
    print(last_line(found, list(plan)))
    return outputs


__all__ = ["build", "discover_sections", "report_stem"]
