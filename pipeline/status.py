"""Where each experiment's results stand: fresh, stale (and why) or missing, what they were
made with, and the command that brings them up to date.

Results made with ``--set`` overrides (a deliberate run, such as Q3 on the real LJ Speech)
are judged against the settings they were made with, not the profile's: they stay fresh
while the code, data and libraries match, and when those change they are rerun *with the
same overrides*.  Only ``make qN`` (``build --rerun``) goes back to the profile's settings.
``DATA=real`` adds the overrides that choose each experiment's real data set
(``Stage.real_data``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hw2.errors import Hw2Error
from pipeline import fingerprint
from pipeline.errors import ResultsError
from pipeline.profiles import DATA_MODES, as_dict, get_config, set_flags, split_profile
from pipeline.results import experiment_dir, last_wall_time, read_results
from pipeline.stages import STAGES, Stage


@dataclass
class ExperimentStatus:
    """One experiment's results against the current code, settings, data and libraries."""

    stage: Stage
    profile: str
    results_file: Path
    state: str  # fresh, stale or missing
    reasons: list[str] = field(default_factory=list)
    overrides: dict[str, Any] = field(default_factory=dict)  # what a rerun sets: its recorded ones (+ DATA=real)
    recorded: dict[str, Any] = field(default_factory=dict)  # the --set overrides its results were made with
    departures: list[tuple[str, Any, Any]] = field(default_factory=list)  # (key, its value, the profile's value)
    real_data: bool = False  # DATA=real asked for this experiment's real data set
    last_run: tuple[float, str] | None = None  # (seconds, whose run) of the last results, for time estimates

    @property
    def name(self) -> str:
        return self.stage.name

    @property
    def needs_run(self) -> bool:
        return self.state in ("stale", "missing")

    @property
    def with_overrides(self) -> bool:
        """Whether its results were made with settings other than the profile's."""
        return bool(self.departures)

    def make_command(self, real_data: bool | None = None) -> str:
        """``make qN`` with this profile's PROFILE=/SEEDS= (and DATA=real): reruns it with the profile's settings."""
        return make_command(self.stage.target, self.profile, self.real_data if real_data is None else real_data)

    @property
    def fix(self) -> str:
        """The command that brings its results up to date, keeping any deliberate overrides."""
        if self.state == "stale" and self.recorded:
            return make_command("report", self.profile, self.real_data)
        return self.make_command()

    @property
    def expected(self) -> str:
        """How long a rerun takes, judged by the last run (``about 14.2 min, its last run's time``)."""
        from pipeline.report.values import fmt_seconds

        if self.last_run is None:
            return "time unknown: no earlier run"
        seconds, whose = self.last_run
        return f"about {fmt_seconds(seconds)}, {whose}'s time"


def make_command(target: str, profile: str, real_data: bool = False) -> str:
    """``make <target>`` with the variables that select ``profile`` (and DATA=real)."""
    base, n_seeds = split_profile(profile)
    words = [f"make {target}"]
    if base != "default":
        words.append(f"PROFILE={base}")
    if n_seeds not in (None, 1):
        words.append(f"SEEDS={n_seeds}")
    if real_data:
        words.append("DATA=real")
    return " ".join(words)


def data_fingerprint(stage: Stage, settings: Any) -> dict[str, Any]:
    """Return the experiment module's description of the data ``settings`` would read ({} if it reads none)."""
    hook = getattr(stage.module, "data_fingerprint", None)
    return dict(hook(settings)) if hook else {}


def experiment_status(stage: Stage, profile: str, root: Path | None = None, data: str = "profile") -> ExperimentStatus:
    """Return where ``stage``'s results stand; ``data='real'`` asks for its real data set."""
    wanted = dict(stage.real_data or {}) if data == "real" else {}
    status = ExperimentStatus(stage, profile, experiment_dir(profile, stage.name, root) / "results.json", "missing",
                              overrides=dict(wanted), real_data=bool(wanted),
                              last_run=last_wall_time(profile, stage.name, root))
    if not status.results_file.exists():
        status.reasons = ["no results.json"]
        return status
    try:
        results = read_results(status.results_file)
    except ResultsError as exc:
        status.state, status.reasons = "stale", [str(exc)]
        return status
    meta = results.get("meta") or {}
    status.recorded = dict(meta.get("overrides") or {})
    status.overrides = {**status.recorded, **wanted}
    try:
        settings = get_config(stage.name, profile, status.overrides, cls=stage.module.Settings)
    except Hw2Error as exc:
        status.state = "stale"
        status.reasons = [f"the overrides it was made with ({set_flags(status.recorded)}) no longer apply: {exc}"]
        status.overrides = dict(wanted)
        return status
    status.departures = departures(stage, profile, settings, status.recorded)
    found = fingerprint.check(results.get("fingerprint"), as_dict(settings), data_fingerprint(stage, settings),
                              recorded_config=meta.get("config"))
    status.state, status.reasons = found.state, list(found.reasons)
    if wanted and any(status.recorded.get(k) != v for k, v in wanted.items()):
        status.reasons.insert(0, f"DATA=real asks for {set_flags(wanted)}")
    return status


def departures(stage: Stage, profile: str, settings: Any, overrides: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """Return (key, value, the profile's value) for each overridden setting that differs from the profile."""
    ours, theirs = as_dict(settings), as_dict(get_config(stage.name, profile, cls=stage.module.Settings))
    return [(key, ours[key], theirs[key]) for key in overrides if key in ours and ours[key] != theirs[key]]


def statuses(profile: str, root: Path | None = None, data: str = "profile") -> list[ExperimentStatus]:
    """Return every experiment's status, in report order."""
    if data not in DATA_MODES:
        raise Hw2Error(f"DATA={data!r}: use one of {', '.join(DATA_MODES)}")
    return [experiment_status(stage, profile, root, data) for stage in STAGES]


def missing_real_data(status: ExperimentStatus) -> bool:
    """True when DATA=real asks for a data set that is not on this machine."""
    if not status.real_data:
        return False
    settings = get_config(status.name, status.profile, status.overrides, cls=status.stage.module.Settings)
    found = status.stage.real_data_found
    return found is not None and not found(settings)


def describe(status: ExperimentStatus) -> list[str]:
    """Return the lines ``make status`` prints for one experiment: its state, why, and what to run."""
    head = status.state
    if status.state == "stale":
        head += ": " + "; ".join(status.reasons)
    elif status.state == "missing":
        head += ": no results yet"
    lines = [head]
    if status.with_overrides:
        made = ", ".join(f"{k} = {_json(v)} (the {status.profile} profile has {_json(p)})"
                         for k, v, p in status.departures)
        lines.append(f"made with --set overrides, kept when it reruns: {made}")
    if status.state == "stale" and status.recorded:
        lines.append(f"fix: `{status.fix}` reruns it with the same overrides ({status.expected})")
        lines.append(f"or: `{status.make_command()}` reruns it with the profile's settings")
    elif status.needs_run:
        lines.append(f"fix: `{status.fix}` ({status.expected})")
    elif status.with_overrides:
        lines.append(f"back to the profile's settings: `{status.make_command()}` ({status.expected})")
    return lines


def _json(value: Any) -> str:
    import json

    return json.dumps(value)


def summary(all_status: list[ExperimentStatus], profile: str, data: str = "profile") -> str:
    """Return the last line of ``make status``: all fresh, or what to run to bring everything up to date."""
    behind = [s for s in all_status if s.needs_run]
    if not behind:
        return "all results fresh"
    total = sum(s.last_run[0] for s in behind if s.last_run)
    from pipeline.report.values import fmt_seconds

    names = ", ".join(s.name for s in behind)
    return (f"{len(behind)} of {len(all_status)} stale or missing ({names}): "
            f"`{make_command('report', profile, data == 'real')}` reruns them"
            + (f" (about {fmt_seconds(total)} by their last runs)" if total else ""))


def print_status(profile: str, root: Path | None = None, data: str = "profile") -> int:
    """Print every experiment's status; return 0 when all are fresh, 1 when any is stale or missing."""
    found = statuses(profile, root, data)
    width = max(len(s.name) for s in found) + 2
    for status in found:
        first, *rest = describe(status)
        print(f"{status.name:<{width}}{first}")
        for line in rest:
            print(f"{'':<{width}}{line}")
    print(summary(found, profile, data))
    return 1 if any(s.needs_run for s in found) else 0
