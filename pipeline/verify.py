"""``make verify``: does the work reproduce?

Reruns the experiments from scratch into a scratch results folder
(``results/_verify/<profile>/``, never over the committed results), then judges
every number the report prints against its committed value: identical as printed,
within its noise, outside its noise, or "differs, noise unknown" (the noise rules
are in ``pipeline/noise.py``).  The numbers are found the way a reader finds them:
the templates are filled for both sets of results and each hover-traced number
(``pipeline/report/traces.py``) is evaluated on both.

It prints a table and a one-line verdict, exits 1 when a number is outside its
noise (2 on bad input), and writes ``results/<profile>/verification.json``: where
and when the rerun ran, with which libraries, and each experiment's verdict.  The
report's appendix shows that record.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.errors import Hw2Error, ResultsError
from pipeline.noise import IDENTICAL, MISSING, OUTSIDE, UNKNOWN, WITHIN, Judgement, judge, noise_of
from pipeline.report.traces import Printed, format_kind, format_like, printed_numbers, value_reader
from pipeline.report.values import fmt_sig
from pipeline.results import experiment_dir, read_results, results_root, write_json_atomic

VERIFY_DIR = "_verify"  # <results root>/_verify/<profile>/<experiment>: the reruns (gitignored)
RECORD = "verification.json"  # <results root>/<profile>/verification.json
VERDICTS = (IDENTICAL, WITHIN, UNKNOWN, OUTSIDE, MISSING)


# the numbers a report prints -------------------------------------------------------------

def read_sections(profile: str, root: Path, names: list[str]) -> list[Any]:
    """Return the report sections of ``names`` with their results read and their findings decided."""
    from pipeline.report.build import discover_sections
    from pipeline.report.values import ResultsView

    sections = [s for s in discover_sections(profile, root) if s.name in names]
    for s in sections:
        hint = f"make {s.target} PROFILE={profile}"
        s.r = ResultsView(read_results(s.results_file), s.results_file, hint)
        s.f = s.stage.findings(s.r)
    return sections


def report_numbers(profile: str, root: Path, names: list[str], templates: Path | None = None) -> list[Printed]:
    """Return the traced numbers the report prints for the sections ``names`` of the results in ``root``."""
    from pipeline.report.build import fill_templates
    from pipeline.report.render import Renderer

    sections = read_sections(profile, root, names)
    text = fill_templates(profile, sections, Renderer("none", "no renderer"), f"figures/{profile}",
                          templates=templates)
    return printed_numbers(text)


def numbers_of_both(sides: list[tuple[str, Path]], names: list[str], required: bool = True) -> list[Printed]:
    """Return the numbers either side's report prints (a finding that flips can print other numbers).

    ``sides``: (profile, results root) of the old and the new results.  When neither side's
    report can be filled, raise the first error (``required``) or return none with a note.
    """
    found: dict[tuple[str, str], Printed] = {}
    errors = []
    for profile, root in sides:
        try:
            for p in report_numbers(profile, root, names):
                found.setdefault((p.expression.identity, format_kind(p.text)), p)
        except ResultsError as exc:
            errors.append(str(exc))
    if errors and not found:
        if required:
            raise ResultsError(errors[0])
        print(f"note: the report cannot be filled from either side ({errors[0]}), so no number is marked "
              "as printed", file=sys.stderr)
        return []
    for error in errors:
        print(f"note: {error}; only the other side's report numbers are checked", file=sys.stderr)
    return list(found.values())


# judging ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class NumberCheck:
    """One printed number: which experiment it belongs to, and how its two values compare."""

    experiment: str
    printed: Printed
    judgement: Judgement

    @property
    def label(self) -> str:
        """The number's key, or the arithmetic of keys behind a derived number."""
        return self.printed.expression.label


def _value(expression: Any, reader: Any) -> float | None:
    try:
        return expression.evaluate(reader)
    except KeyError:
        return None


def check_numbers(printed: list[Printed], old: dict[str, Any], new: dict[str, Any]) -> list[NumberCheck]:
    """Judge each printed number on the old and the new results (``{experiment: results dict}``)."""
    read_old, read_new = value_reader(old), value_reader(new)
    checks = []
    for p in printed:
        e = p.expression
        a, b = _value(e, read_old), _value(e, read_new)
        if a is None or b is None:
            where = "the old results" if a is None else "the new results"
            j = Judgement(MISSING, "—" if a is None else format_like(p.text, a),
                          "—" if b is None else format_like(p.text, b), a, b, basis=f"not in {where}")
        else:
            j = judge(a, b, format_like(p.text, a), format_like(p.text, b),
                      noise_of(e, old, read_old), noise_of(e, new, read_new))
        checks.append(NumberCheck(p.experiments[0], p, j))
    return checks


def change_text(j: Judgement) -> str:
    """The change of a judged number as printed in tables: −0.0050, or ×1.09 for a ratio."""
    change = j.change
    if change is None:
        return ""
    if j.relative:
        return f"×{change:.2f}"
    return ("+" if change > 0 else "") + fmt_sig(change, 2)


def allowed_text(j: Judgement) -> str:
    """The largest change within noise: ±0.016, ±25% for a ratio, ? when the noise is unknown."""
    if j.verdict == IDENTICAL:
        return ""
    if j.allowed is None:
        return "?"
    if j.relative:
        return f"±{100 * (math.exp(j.allowed) - 1):.0f}%"
    return f"±{fmt_sig(j.allowed, 2)}" if j.allowed else "0 (exact)"


def counts(checks: list[NumberCheck]) -> dict[str, int]:
    """Return how many numbers got each verdict."""
    found = Counter(c.judgement.verdict for c in checks)
    return {v: found.get(v, 0) for v in VERDICTS}


def verdict_of(tally: dict[str, int]) -> str:
    """Return an experiment's verdict in words from its verdict counts."""
    if tally[OUTSIDE] or tally[MISSING]:
        return "does not reproduce"
    if tally[UNKNOWN]:
        return "reproduces where the noise is known"
    if tally[WITHIN]:
        return "reproduces within noise"
    return "identical"


def format_table(checks: list[NumberCheck], names: list[str], show_all: bool = False) -> str:
    """Return the verdict table: per experiment, every number that is not identical (all with show_all)."""
    lines = []
    for name in names:
        mine = [c for c in checks if c.experiment == name]
        shown = [c for c in mine if show_all or c.judgement.verdict != IDENTICAL]
        shown.sort(key=lambda c: VERDICTS.index(c.judgement.verdict), reverse=True)
        tally = counts(mine)
        lines.append(f"{name}: {verdict_of(tally)} ({len(mine)} printed numbers: "
                     + ", ".join(f"{n} {v}" for v, n in tally.items() if n) + ")")
        if not shown:
            continue
        notes: dict[str, str] = {}
        lines.append(f"  {'verdict':<22} {'committed':>10} {'rerun':>10} {'change':>9} {'allowed':>9}  note  number")
        for c in shown:
            j = c.judgement
            note = notes.setdefault(j.basis, f"[{chr(ord('a') + len(notes))}]") if j.verdict != IDENTICAL else ""
            lines.append(f"  {j.verdict:<22} {j.old_text:>10} {j.new_text:>10} {change_text(j):>9} "
                         f"{allowed_text(j):>9}  {note:<4}  {c.label}")
        lines += [f"  {mark} {basis}" for basis, mark in notes.items()]
        if not show_all and tally[IDENTICAL]:
            lines.append(f"  ({tally[IDENTICAL]} identical numbers not listed; --all lists them)")
    return "\n".join(lines)


def verdict_line(checks: list[NumberCheck], names: list[str]) -> str:
    """Return the one-line verdict over all experiments."""
    tally = counts(checks)
    failing = [c for c in checks if c.judgement.fails]
    head = "DOES NOT REPRODUCE" if failing else "reproduces"
    parts = [f"{tally[v]} {v}" for v in VERDICTS if tally[v]]
    line = f"verdict: {head}: {len(checks)} printed numbers of {', '.join(names)}: {', '.join(parts)}"
    if failing:
        line += " (" + "; ".join(f"{c.experiment}: {c.label}" for c in failing[:3]) \
                + ("; …" if len(failing) > 3 else "") + ")"
    return line


# inputs ----------------------------------------------------------------------------------

def load_results(profile: str, root: Path, names: list[str], what: str) -> dict[str, Any]:
    """Return ``{experiment: results}`` from ``root``; a missing file is a one-line error saying ``what`` it is."""
    out = {}
    for name in names:
        path = experiment_dir(profile, name, root) / "results.json"
        if not path.exists():
            from pipeline.stages import stage

            hint = f"; make them with `make {stage(name).target} PROFILE={profile}`" if what == "committed" else ""
            raise ResultsError(f"{path}: no {what} results for {name}{hint}")
        out[name] = read_results(path)
    return out


def results_root_of(folder: Path, profile: str, names: list[str]) -> Path:
    """Accept either a results root (``DIR/<profile>/<experiment>``) or a profile folder (``DIR/<experiment>``)."""
    if not folder.is_dir():
        raise Hw2Error(f"{folder}: no such folder")
    if (folder / profile).is_dir():
        return folder
    if any((folder / name).is_dir() for name in names) and folder.name == profile:
        return folder.parent
    raise Hw2Error(f"{folder}: holds no {profile}/<experiment>/results.json")


def experiment_names(selected: list[str] | None) -> list[str]:
    """Return experiment names for ``q2``/``q2_cnn`` style arguments (all when none), in report order."""
    from pipeline.stages import STAGES, stage

    if not selected:
        return [s.name for s in STAGES]
    wanted = {stage(name).name for item in selected for name in item.split(",") if name}
    return [s.name for s in STAGES if s.name in wanted]


def rerun(names: list[str], profile: str, scratch: Path, jobs: int = 1) -> None:
    """Run ``names`` from scratch into ``scratch/<profile>/`` (earlier reruns and checkpoints removed first)."""
    from pipeline.executors import run_many

    for name in names:
        shutil.rmtree(experiment_dir(profile, name, scratch), ignore_errors=True)
        shutil.rmtree(scratch / profile / ".checkpoints" / name, ignore_errors=True)
    print(f"rerunning {', '.join(names)} ({profile} profile) from scratch into {scratch / profile}/ ...", flush=True)
    run_many(names, profile, scratch, jobs=jobs)


def fingerprint_differences(a: dict[str, Any] | None, b: dict[str, Any] | None) -> list[str]:
    """Return what differs between two results' fingerprints (code files, settings, data, libraries)."""
    a, b = a or {}, b or {}
    if a.get("digest") and a.get("digest") == b.get("digest"):
        return []
    out = [f"{rel} differs" for rel in sorted(set(a.get("code", {})) | set(b.get("code", {})))
           if a.get("code", {}).get(rel) != b.get("code", {}).get(rel)]
    if a.get("config") != b.get("config"):
        out.append("settings differ")
    if a.get("data") != b.get("data"):
        out.append("data differ")
    libs = sorted(set(a.get("libraries", {})) | set(b.get("libraries", {})))
    out += [f"{lib} {a.get('libraries', {}).get(lib)} vs {b.get('libraries', {}).get(lib)}" for lib in libs
            if a.get("libraries", {}).get(lib) != b.get("libraries", {}).get(lib)]
    return out or ["fingerprints differ"]


# the record ------------------------------------------------------------------------------

def experiment_record(name: str, checks: list[NumberCheck], committed: dict[str, Any], new: dict[str, Any],
                      fresh: bool) -> dict[str, Any]:
    """Return one experiment's entry in verification.json."""
    mine = [c for c in checks if c.experiment == name]
    tally = counts(mine)
    meta_old, meta_new = committed.get("meta", {}), new.get("meta", {})
    return {
        "verdict": verdict_of(tally),
        "counts": tally,
        "committed": {"fingerprint": committed.get("fingerprint", {}).get("digest"),
                      "finished": meta_old.get("finished"), "cpu": meta_old.get("hardware", {}).get("cpu"),
                      "commit": meta_old.get("git", {}).get("commit"), "fresh": fresh},
        "rerun": {"fingerprint": new.get("fingerprint", {}).get("digest"), "finished": meta_new.get("finished"),
                  "wall_time_s": meta_new.get("wall_time_s"), "commit": meta_new.get("git", {}).get("commit")},
        "fingerprint_differences": fingerprint_differences(committed.get("fingerprint"), new.get("fingerprint")),
        "disagreements": [{"number": c.label, "committed": c.judgement.old_text, "rerun": c.judgement.new_text,
                           "verdict": c.judgement.verdict, "noise": c.judgement.basis}
                          for c in mine if c.judgement.fails],
        "unknown_noise": [{"number": c.label, "noise": c.judgement.basis, "relative": c.judgement.relative}
                          for c in mine if c.judgement.verdict == UNKNOWN],
    }


def write_record(path: Path, profile: str, names: list[str], checks: list[NumberCheck],
                 committed: dict[str, Any], new: dict[str, Any], fresh: dict[str, bool], command: str,
                 reran: bool = True) -> None:
    """Write (or update, experiment by experiment) ``results/<profile>/verification.json``."""
    from pipeline.provenance import now_utc

    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        record = None
    if not isinstance(record, dict) or not isinstance(record.get("experiments"), dict):
        record = {"experiments": {}}  # none yet, or unreadable: start a new one
    first = new[names[0]].get("meta", {})
    record.update({
        "profile": profile,
        "date": now_utc(),
        "command": command,
        "reran": reran,  # False: judged results made elsewhere (--against)
        "machine": first.get("hardware", {}),
        "libraries": first.get("libraries", {}),
    })
    for name in names:
        entry = experiment_record(name, checks, committed[name], new[name], fresh[name])
        entry.update({"date": record["date"], "machine": new[name].get("meta", {}).get("hardware", {}),
                      "libraries": new[name].get("meta", {}).get("libraries", {})})
        record["experiments"][name] = entry
    write_json_atomic(path, record)


# the command -----------------------------------------------------------------------------

def committed_freshness(profile: str, root: Path, names: list[str]) -> dict[str, bool]:
    """Say per experiment whether the committed results match the current code; print a note when not."""
    from pipeline.status import statuses

    fresh = {}
    for state in statuses(profile, root):
        if state.name in names:
            fresh[state.name] = state.state == "fresh"
            if not fresh[state.name]:
                print(f"note: the committed {state.name} results are {state.state} "
                      f"({'; '.join(state.reasons[:2])}): the rerun uses the current code, so a difference "
                      "may come from that change rather than from the machine", flush=True)
    return fresh


def verify(profile: str = "default", experiments: list[str] | None = None, root: Path | None = None,
           against: Path | None = None, jobs: int = 1, record: bool = True, show_all: bool = False,
           command: str = "") -> int:
    """Rerun (or take ``against``), judge every printed number, print the table; return the exit status."""
    root = (root or results_root()).resolve()
    names = experiment_names(experiments)
    committed = load_results(profile, root, names, "committed")
    fresh = committed_freshness(profile, root, names)
    if against is None:
        new_root = root / VERIFY_DIR
        rerun(names, profile, new_root, jobs)
    else:
        new_root = results_root_of(against.resolve(), profile, names)
    new = load_results(profile, new_root, names, "rerun")
    for name in names:
        for reason in fingerprint_differences(committed[name].get("fingerprint"), new[name].get("fingerprint"))[:4]:
            print(f"note: {name}: the rerun's fingerprint differs from the committed one: {reason}")
    checks = check_numbers(numbers_of_both([(profile, root), (profile, new_root)], names), committed, new)
    print(format_table(checks, names, show_all))
    print(verdict_line(checks, names))
    if record:
        path = root / profile / RECORD
        write_record(path, profile, names, checks, committed, new, fresh, command, reran=against is None)
        print(f"wrote {path}")
    return 1 if any(c.judgement.fails for c in checks) else 0


def add_parser(sub: Any) -> None:
    """Add ``verify`` to the ``python -m pipeline`` subcommands."""
    from pipeline.profiles import PROFILES, profile_arg

    p = sub.add_parser("verify", help="rerun experiments from scratch and judge every printed number against "
                                      "the committed one (identical / within noise / outside noise)",
                       description="Rerun the experiments from scratch into <results>/_verify/<profile>/ and judge "
                                   "every number the report prints against the committed value. Exit status: "
                                   "0 reproduces, 1 a number is outside its noise, 2 bad input.")
    p.add_argument("--profile", type=profile_arg, default="default", metavar="PROFILE",
                   help=f"results profile: {', '.join(PROFILES)}, optionally with -seeds<N> (default: %(default)s)")
    p.add_argument("--exp", action="append", metavar="EXP",
                   help="experiment to verify (q1, q2, q3 or its module name; repeatable or comma-separated; "
                        "default: all)")
    p.add_argument("--results-dir", type=Path, default=None,
                   help="root of the committed results (default: $HW2_RESULTS_DIR or results/)")
    p.add_argument("--against", type=Path, default=None, metavar="DIR",
                   help="judge the results already in DIR (a results root or its <profile> folder, e.g. from "
                        "another machine) instead of rerunning")
    p.add_argument("--jobs", type=int, default=1, help="experiments rerun at once (default: %(default)s)")
    p.add_argument("--all", action="store_true", dest="show_all", help="list identical numbers too")
    p.add_argument("--no-record", action="store_true",
                   help=f"do not write <results>/<profile>/{RECORD}")
    p.set_defaults(run_command=run_command)


def run_command(args: argparse.Namespace) -> int:
    """Run ``python -m pipeline verify`` with parsed arguments; return the exit status."""
    command = "python -m pipeline verify --profile " + args.profile + "".join(f" --exp {e}" for e in args.exp or []) \
        + (f" --against {args.against}" if args.against else "")
    return verify(args.profile, args.exp, args.results_dir, args.against, args.jobs,
                  record=not args.no_record, show_all=args.show_all, command=command)


__all__ = ["NumberCheck", "check_numbers", "numbers_of_both", "report_numbers", "verify"]
