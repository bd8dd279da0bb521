"""``make diff``: which numbers moved since a revision (or between two profiles), and by how much against their noise.

The new side is the results in the working tree; the old side is the same files at a
git revision (``git show REV:results/<profile>/<experiment>/results.json``), another
profile, or another results folder.  For each experiment present on both sides it lists

* every number the report prints whose printed value changed (found through the
  report's hover traces, as ``make verify`` does), judged against its noise;
* every other value of results.json that changed, judged by the same rules
  (``pipeline/noise.py``), plus keys added or removed and values that are not numbers;
* every figure whose pixels changed, side by side in a self-contained HTML page
  (``report/diff-<profile>.html``).

``changes_since_findings`` gives the same comparison to the report's optional
"changes since REV" appendix (``python -m pipeline build --changes-since REV``).
"""

from __future__ import annotations

import argparse
import base64
import html
import io
import json
import math
import subprocess
import sys
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from pipeline.errors import Hw2Error
from pipeline.noise import IDENTICAL, MISSING, OUTSIDE, UNKNOWN, Judgement, judge, noise_of_value
from pipeline.report.traces import as_number
from pipeline.results import REPO_ROOT, experiment_dir, results_root
from pipeline.verify import (NumberCheck, allowed_text, change_text, check_numbers, experiment_names,
                             numbers_of_both)

SKIPPED = ("fingerprint", "meta.started", "meta.finished", "meta.git")  # summarised apart


# the two sides ------------------------------------------------------------------------------

@dataclass
class Side:
    """Results to compare: a results root on disk (a temporary copy for a git revision) and a profile."""

    root: Path
    profile: str
    name: str  # how the output names it: "working tree", "HEAD (071f213)", "profile quick"
    commit: str = ""


def _git(repo: Path, *args: str, binary: bool = False) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=not binary)


def git_repo_of(folder: Path) -> Path:
    """Return the top of the git checkout holding ``folder``; a one-line error when there is none."""
    probe = folder if folder.exists() else folder.parent
    proc = _git(probe, "rev-parse", "--show-toplevel")
    if proc.returncode != 0:
        raise Hw2Error(f"{folder}: not inside a git checkout, so there is no revision to compare with "
                       "(use --old-profile or --old-results)")
    return Path(proc.stdout.strip()).resolve()


def resolve_commit(repo: Path, rev: str) -> str:
    """Return the full commit id of ``rev``; a one-line error for an unknown revision."""
    proc = _git(repo, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
    if proc.returncode != 0:
        raise Hw2Error(f"unknown revision {rev!r} in {repo}")
    return proc.stdout.strip()


def git_side(rev: str, profile: str, root: Path, names: list[str], scratch: Path) -> Side:
    """Copy the results of ``names`` at ``rev`` (results.json and figures) into ``scratch``; return that side."""
    repo = git_repo_of(root)
    commit = resolve_commit(repo, rev)
    rel = root.resolve().relative_to(repo).as_posix()
    found = 0
    for name in names:
        src = f"{rel}/{profile}/{name}" if rel != "." else f"{profile}/{name}"
        listing = _git(repo, "ls-tree", "-r", "--name-only", commit, "--", f"{src}/")
        files = [f for f in listing.stdout.splitlines() if f == f"{src}/results.json" or f.startswith(f"{src}/figures/")]
        if f"{src}/results.json" not in files:
            continue
        found += 1
        for f in files:
            blob = _git(repo, "show", f"{commit}:{f}", binary=True)
            dst = experiment_dir(profile, name, scratch) / f[len(src) + 1:]
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.write_bytes(blob.stdout)
    if not found:
        raise Hw2Error(f"{rev} ({commit[:7]}) has no results under {rel}/{profile}/ in {repo}: nothing to compare")
    return Side(scratch, profile, f"{rev} ({commit[:7]})", commit)


# values of results.json -------------------------------------------------------------------------

def flatten(data: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Yield (key, value) for every leaf of a results dict, keys as the traces write them."""
    if isinstance(data, dict):
        for k, v in data.items():
            yield from flatten(v, f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            yield from flatten(v, f"{prefix}[{i}]")
    else:
        yield prefix, data


def _skipped(key: str) -> bool:
    return any(key == s or key.startswith(s + ".") for s in SKIPPED)


def _same(a: Any, b: Any) -> bool:
    x, y = as_number(a), as_number(b)
    if x is not None and y is not None:
        return x == y or (math.isnan(x) and math.isnan(y))
    return a == b and type(a) is type(b)


@dataclass
class ValueChanges:
    """How one experiment's results.json changed, leaf by leaf."""

    numbers: list[tuple[str, Judgement]] = field(default_factory=list)  # changed numbers, judged
    others: list[tuple[str, Any, Any]] = field(default_factory=list)  # changed values that are not numbers
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0


def _short(value: float) -> str:
    return f"{value:.6g}".replace("-", "−")


def value_changes(experiment: str, old: dict[str, Any], new: dict[str, Any]) -> ValueChanges:
    """Compare every leaf of two results dicts of one experiment; judge changed numbers by their noise."""
    a = {k: v for k, v in flatten(old) if not _skipped(k)}
    b = {k: v for k, v in flatten(new) if not _skipped(k)}
    out = ValueChanges(added=[k for k in b if k not in a], removed=[k for k in a if k not in b])
    for key in (k for k in a if k in b):
        if _same(a[key], b[key]):
            out.unchanged += 1
            continue
        x, y = as_number(a[key]), as_number(b[key])
        if x is None and y is None:
            out.others.append((key, a[key], b[key]))
            continue
        if x is None or y is None:  # a number appeared where there was none (null), or went away
            out.numbers.append((key, Judgement(MISSING, "—" if x is None else _short(x), "—" if y is None else _short(y),
                                               x, y, basis=f"no number {'before' if x is None else 'now'}")))
            continue
        j = judge(x, y, repr(x), repr(y), noise_of_value(experiment, old, key), noise_of_value(experiment, new, key))
        out.numbers.append((key, Judgement(j.verdict, _short(x), _short(y), x, y, j.allowed, j.basis, j.relative)))
    return out


def pattern_of(key: str) -> str:
    """``runs[2].val_acc[14]`` -> ``runs[*].val_acc[*]``: keys grouped for the terminal summary."""
    import re

    return re.sub(r"\[\d+\]", "[*]", key)


# figures -------------------------------------------------------------------------------------------

def figures_of(side: Side, name: str) -> dict[str, Path]:
    """Return ``{file name: path}`` of an experiment's figures on one side."""
    folder = experiment_dir(side.profile, name, side.root) / "figures"
    return {p.name: p for p in sorted(folder.glob("*.png"))} if folder.is_dir() else {}


def pixels_differ(a: Path, b: Path) -> bool:
    """True when two PNGs differ in size or in any pixel (same pixels, other file bytes: False)."""
    if a.read_bytes() == b.read_bytes():
        return False
    from PIL import Image, ImageChops

    with Image.open(a) as x, Image.open(b) as y:
        if x.size != y.size:
            return True
        return ImageChops.difference(x.convert("RGBA"), y.convert("RGBA")).getbbox(alpha_only=False) is not None


def difference_png(a: Path, b: Path) -> bytes | None:
    """Return a PNG of the new figure with changed pixels marked in red (None when sizes differ)."""
    from PIL import Image, ImageChops

    with Image.open(a) as x, Image.open(b) as y:
        if x.size != y.size:
            return None
        old, new = x.convert("RGB"), y.convert("RGB")
        mask = ImageChops.difference(old, new).convert("L").point(lambda v: 255 if v > 8 else 0)
        faded = Image.blend(new, Image.new("RGB", new.size, "white"), 0.7)
        faded.paste(Image.new("RGB", new.size, (220, 0, 0)), mask=mask)
        buf = io.BytesIO()
        faded.save(buf, format="PNG")
        return buf.getvalue()


@dataclass
class FigureChange:
    experiment: str
    name: str
    old: Path | None
    new: Path | None

    @property
    def label(self) -> str:
        return f"{self.experiment}/{self.name}"


def figure_changes(old: Side, new: Side, name: str) -> list[FigureChange]:
    """Return the figures of ``name`` that were added, removed or whose pixels changed."""
    a, b = figures_of(old, name), figures_of(new, name)
    out = []
    for fig in sorted(set(a) | set(b)):
        if fig not in a or fig not in b or pixels_differ(a[fig], b[fig]):
            out.append(FigureChange(name, fig, a.get(fig), b.get(fig)))
    return out


# the comparison ----------------------------------------------------------------------------------

@dataclass
class Diff:
    """Everything that changed between two sides."""

    old: Side
    new: Side
    names: list[str]  # experiments on both sides
    only_old: list[str]
    only_new: list[str]
    printed: list[NumberCheck]
    values: dict[str, ValueChanges]
    figures: list[FigureChange]
    fingerprints: dict[str, list[str]]

    def changed_printed(self, name: str) -> list[NumberCheck]:
        """The printed numbers of ``name`` that do not print the same on both sides."""
        return [c for c in self.printed if c.experiment == name and c.judgement.verdict != IDENTICAL]

    @property
    def beyond_noise(self) -> int:
        """How many changed numbers (printed or not) exceed their noise."""
        printed = sum(1 for c in self.printed if c.judgement.verdict == OUTSIDE)
        return printed + sum(1 for v in self.values.values() for _, j in v.numbers if j.verdict == OUTSIDE)


def _load(side: Side, name: str) -> dict[str, Any] | None:
    from pipeline.results import read_results

    path = experiment_dir(side.profile, name, side.root) / "results.json"
    return read_results(path) if path.exists() else None


def compare(old: Side, new: Side, names: list[str]) -> Diff:
    """Compare the results of ``names`` on two sides: printed numbers, every value, figures."""
    from pipeline.verify import fingerprint_differences

    old_data = {n: d for n in names if (d := _load(old, n)) is not None}
    new_data = {n: d for n in names if (d := _load(new, n)) is not None}
    both = [n for n in names if n in old_data and n in new_data]
    if not both:
        raise Hw2Error(f"no experiment has results on both sides ({old.name}: {', '.join(old_data) or 'none'}; "
                       f"{new.name}: {', '.join(new_data) or 'none'})")
    printed = check_numbers(numbers_of_both([(old.profile, old.root), (new.profile, new.root)], both, required=False),
                            old_data, new_data)
    return Diff(old, new, both, [n for n in old_data if n not in new_data], [n for n in new_data if n not in old_data],
                printed, {n: value_changes(n, old_data[n], new_data[n]) for n in both},
                [f for n in both for f in figure_changes(old, new, n)],
                {n: fingerprint_differences(old_data[n].get("fingerprint"), new_data[n].get("fingerprint"))
                 for n in both})


# terminal output ---------------------------------------------------------------------------------

def _row(j: Judgement, label: str, note: str) -> str:
    return (f"  {j.verdict:<22} {j.old_text:>10} {j.new_text:>10} {change_text(j):>9} {allowed_text(j):>9}"
            f"  {note:<4}  {label}")


HEADER = f"  {'verdict':<22} {'old':>10} {'new':>10} {'change':>9} {'allowed':>9}  note  number"


def summary_line(d: Diff, name: str) -> str:
    """One line per experiment: how many printed numbers and values changed, and how many beyond noise."""
    printed, values = d.changed_printed(name), d.values[name]
    beyond = sum(1 for c in printed if c.judgement.verdict == OUTSIDE)
    parts = [f"{len(printed)} printed number{'s' * (len(printed) != 1)} changed ({beyond} beyond noise)",
             f"{len(values.numbers)} value{'s' * (len(values.numbers) != 1)} in results.json changed"]
    if values.others:
        parts.append(f"{len(values.others)} non-numeric")
    if values.added or values.removed:
        parts.append(f"{len(values.added)} keys added, {len(values.removed)} removed")
    if not printed and not values.numbers and not values.others and not values.added and not values.removed:
        return f"{name}: no change"
    return f"{name}: " + "; ".join(parts)


def format_diff(d: Diff, show_all: bool = False) -> str:
    """Return the terminal report: per experiment, changed printed numbers, then other values grouped."""
    lines = [f"comparing {d.new.name} ({d.new.root / d.new.profile}) with {d.old.name}"
             + (f" ({d.old.profile})" if d.old.profile != d.new.profile else "")]
    lines += [f"{n}: only in {d.old.name}" for n in d.only_old] + [f"{n}: only in {d.new.name}" for n in d.only_new]
    for name in d.names:
        lines.append(summary_line(d, name))
        for reason in d.fingerprints[name][:3]:
            lines.append(f"  fingerprint: {reason}")
        notes: dict[str, str] = {}
        printed = d.changed_printed(name)
        if printed:
            lines += ["  numbers the report prints:", HEADER]
            for c in printed:
                lines.append(_row(c.judgement, c.label, notes.setdefault(c.judgement.basis, f"[{chr(97 + len(notes))}]")))
        values = d.values[name]
        if values.numbers:
            lines.append("  values in results.json:" + ("" if show_all else " (grouped; --all lists each)"))
            lines += _value_lines(values, notes, show_all)
        lines += [f"  changed, not a number: {k}: {json.dumps(a)} → {json.dumps(b)}" for k, a, b in values.others[:20]]
        lines += [f"  added: {k}" for k in values.added[:20]] + [f"  removed: {k}" for k in values.removed[:20]]
        lines += [f"  {mark} {basis}" for basis, mark in notes.items()]
    if d.figures:
        lines.append(f"figures: {len(d.figures)} changed: " + ", ".join(f.label for f in d.figures))
    return "\n".join(lines)


def _value_lines(values: ValueChanges, notes: dict[str, str], show_all: bool) -> list[str]:
    if show_all:
        return [HEADER] + [_row(j, key, notes.setdefault(j.basis, f"[{chr(97 + len(notes))}]"))
                           for key, j in values.numbers]
    groups: dict[str, list[Judgement]] = defaultdict(list)
    for key, j in values.numbers:
        groups[pattern_of(key)].append(j)
    lines = [f"  {'changed':>7} {'beyond':>6} {'unknown':>7}  {'largest change':>14}  pattern"]
    for pattern, js in groups.items():
        worst = max(js, key=lambda j: abs(math.log(j.change)) if j.relative and j.change and j.change > 0
                    else abs(j.change or 0))
        lines.append(f"  {len(js):>7} {sum(j.verdict == OUTSIDE for j in js):>6} "
                     f"{sum(j.verdict == UNKNOWN for j in js):>7}  {change_text(worst):>14}  {pattern}")
    return lines


# the HTML page ----------------------------------------------------------------------------------------

CSS = """body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1200px;color:#222}
table{border-collapse:collapse;margin:0.5em 0 1.5em}td,th{padding:2px 8px;border-bottom:1px solid #ddd;
text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}td.n{white-space:normal;font-size:85%;text-align:left}td.k,th.k{text-align:left;font-family:monospace}
.outside-noise{background:#fdd}.within-noise{background:#efe}.differs-noise-unknown{background:#ffd}
.missing{background:#fdd}.figs{display:flex;gap:1em;align-items:flex-start}.figs figure{margin:0;flex:1}
.figs img{max-width:100%;border:1px solid #ccc}figcaption{font-size:90%;color:#555}"""


def _img(path: Path | None = None, data: bytes | None = None) -> str:
    raw = data if data is not None else path.read_bytes() if path else None
    if raw is None:
        return "<p>(absent)</p>"
    return f'<img alt="" src="data:image/png;base64,{base64.b64encode(raw).decode()}">'


def _table(rows: list[tuple[str, Judgement]]) -> str:
    head = ("<tr><th class=k>number</th><th>old</th><th>new</th><th>change</th><th>allowed</th>"
            "<th class=k>verdict</th><th class=k>noise</th></tr>")
    body = "".join(
        f'<tr class="{j.verdict.replace(",", "").replace(" ", "-")}"><td class=k>{html.escape(k)}</td>'
        f"<td>{html.escape(j.old_text)}</td><td>{html.escape(j.new_text)}</td><td>{change_text(j)}</td>"
        f"<td>{allowed_text(j)}</td><td class=k>{j.verdict}</td><td class=n>{html.escape(j.basis)}</td></tr>"
        for k, j in rows)
    return f"<table>{head}{body}</table>"


def diff_html(d: Diff) -> str:
    """Return the self-contained HTML page: tables of changed numbers, changed figures side by side."""
    title = f"Results of {d.new.name} against {d.old.name}"
    parts = [f"<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>{html.escape(title)}</title>"
             f"<style>{CSS}</style></head><body><h1>{html.escape(title)}</h1>"]
    for name in d.names:
        parts.append(f"<h2>{name}</h2><p>{html.escape(summary_line(d, name))}</p>")
        printed = d.changed_printed(name)
        if printed:
            parts.append("<h3>Numbers the report prints</h3>" + _table([(c.label, c.judgement) for c in printed]))
        values = d.values[name]
        if values.numbers:
            parts.append("<h3>Values in results.json</h3>" + _table(values.numbers))
        if values.others or values.added or values.removed:
            items = [f"<li><code>{html.escape(k)}</code>: {html.escape(json.dumps(a))} → "
                     f"{html.escape(json.dumps(b))}</li>" for k, a, b in values.others]
            items += [f"<li>added <code>{html.escape(k)}</code></li>" for k in values.added]
            items += [f"<li>removed <code>{html.escape(k)}</code></li>" for k in values.removed]
            parts.append("<h3>Other changes</h3><ul>" + "".join(items) + "</ul>")
        for fig in (f for f in d.figures if f.experiment == name):
            diff_png = difference_png(fig.old, fig.new) if fig.old and fig.new else None
            cells = [("old", _img(fig.old)), ("new", _img(fig.new))]
            if diff_png:
                cells.append(("changed pixels in red", _img(data=diff_png)))
            parts.append(f"<h3>Figure {html.escape(fig.name)}</h3><div class=figs>" + "".join(
                f"<figure>{img}<figcaption>{caption}</figcaption></figure>" for caption, img in cells) + "</div>")
    parts.append("</body></html>")
    return "\n".join(parts)


def diff_json(d: Diff) -> dict[str, Any]:
    """Return the comparison as plain data (``--json``)."""
    def row(label: str, j: Judgement) -> dict[str, Any]:
        return {"number": label, "old": j.old, "new": j.new, "verdict": j.verdict, "noise": j.basis,
                "allowed": j.allowed, "relative": j.relative}

    return {
        "old": d.old.name, "new": d.new.name,
        "experiments": {n: {
            "printed": [{**row(c.label, c.judgement), "keys": [r.key for r in c.printed.expression.refs]}
                        for c in d.changed_printed(n)],
            "values": [row(k, j) for k, j in d.values[n].numbers],
            "other": [{"key": k, "old": a, "new": b} for k, a, b in d.values[n].others],
            "added": d.values[n].added, "removed": d.values[n].removed,
            "figures": [f.name for f in d.figures if f.experiment == n],
        } for n in d.names},
        "only_old": d.only_old, "only_new": d.only_new,
    }


# entry points ------------------------------------------------------------------------------------------

def run_diff(profile: str, names: list[str], root: Path, rev: str | None, old_profile: str | None,
             old_results: Path | None, scratch: Path) -> Diff:
    """Build the two sides (git revision, other profile or other folder) and compare them."""
    new = Side(root, profile, "working tree")
    if old_profile:
        old = Side(root, old_profile, f"profile {old_profile}")
        new.name = f"profile {profile}"
    elif old_results:
        from pipeline.verify import results_root_of

        old = Side(results_root_of(old_results.resolve(), profile, names), profile, str(old_results))
    else:
        old = git_side(rev or "HEAD", profile, root, names, scratch)
    return compare(old, new, names)


def changes_since_findings(rev: str, profile: str, root: Path | None = None) -> Any:
    """Return the "changes since REV" appendix finding for the report of ``profile``."""
    from pipeline.findings.changes import changes_findings
    from pipeline.stages import STAGES

    root = (root or results_root()).resolve()
    names = [s.name for s in STAGES]
    with tempfile.TemporaryDirectory(prefix="hw2-diff-") as tmp:
        d = run_diff(profile, names, root, rev, None, None, Path(tmp))
        titles = {s.name: s.target.upper() for s in STAGES}
        return changes_findings(rev, d.old.commit, d.printed, titles, [f.label for f in d.figures])


def add_parser(sub: Any) -> None:
    """Add ``diff`` to the ``python -m pipeline`` subcommands."""
    from pipeline.profiles import profile_arg

    p = sub.add_parser("diff", help="what changed in the results since a git revision (or against another "
                                    "profile), with each change judged against its noise",
                       description="Compare the results in the working tree with those at a git revision "
                                   "(default HEAD), another profile or another results folder: every changed "
                                   "number with old and new value, change, and whether it exceeds its noise; "
                                   "changed figures side by side in report/diff-<profile>.html.")
    p.add_argument("--profile", type=profile_arg, default="default", metavar="PROFILE",
                   help="profile of the new results (default: %(default)s)")
    p.add_argument("--rev", default=None, help="git revision of the old results (default: HEAD)")
    p.add_argument("--old-profile", type=profile_arg, default=None, metavar="PROFILE",
                   help="compare with another profile's results in the working tree instead of a revision")
    p.add_argument("--old-results", type=Path, default=None, metavar="DIR",
                   help="compare with the results in DIR (a results root or its <profile> folder) instead")
    p.add_argument("--exp", action="append", metavar="EXP", help="only these experiments (q1, q2, q3; repeatable)")
    p.add_argument("--results-dir", type=Path, default=None,
                   help="root of the new results (default: $HW2_RESULTS_DIR or results/)")
    p.add_argument("--html", type=Path, default=None, metavar="FILE",
                   help="where the HTML page goes (default: report/diff-<profile>.html)")
    p.add_argument("--json", action="store_true", help="print the comparison as JSON instead of tables")
    p.add_argument("--all", action="store_true", dest="show_all", help="list every changed value, not groups")
    p.add_argument("--exit-code", action="store_true", help="exit with 1 when a change exceeds its noise")
    p.set_defaults(run_command=run_command)


def run_command(args: argparse.Namespace) -> int:
    """Run ``python -m pipeline diff`` with parsed arguments; return the exit status."""
    if sum(x is not None for x in (args.rev, args.old_profile, args.old_results)) > 1:
        raise Hw2Error("give one of --rev, --old-profile and --old-results")
    root = (args.results_dir or results_root()).resolve()
    names = experiment_names(args.exp)
    with tempfile.TemporaryDirectory(prefix="hw2-diff-") as tmp:
        d = run_diff(args.profile, names, root, args.rev, args.old_profile, args.old_results, Path(tmp))
        page = args.html or REPO_ROOT / "report" / f"diff-{args.profile}.html"
        page.parent.mkdir(parents=True, exist_ok=True)
        page.write_text(diff_html(d), encoding="utf-8")
    if args.json:
        print(json.dumps(diff_json(d), indent=2))
    else:
        print(format_diff(d, args.show_all))
        print(f"wrote {page}", file=sys.stderr)
    return 1 if args.exit_code and d.beyond_noise else 0


__all__ = ["Diff", "Side", "changes_since_findings", "compare", "diff_html", "run_diff", "value_changes"]
