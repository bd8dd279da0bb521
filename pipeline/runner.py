"""The command line and bookkeeping shared by every experiment.

An experiment module defines ``run(ctx) -> dict`` and ends with::

    if __name__ == "__main__":
        raise SystemExit(main(NAME, __doc__, run))

``main`` parses ``--profile``, ``--set KEY=VALUE``, ``--device`` and
``--results-dir``, resolves the settings from ``pipeline/profiles.py``, runs the
experiment in a staging folder, adds a ``meta`` block (settings, timings, code
version, libraries, machine) and swaps the folder in only on success.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from pipeline import fingerprint
from hw2.errors import Hw2Error
from pipeline.profiles import PROFILES, as_dict, differences, get_config, parse_override, profile_arg
from pipeline.checkpoint import NO_CHECKPOINTS, Checkpointer
from pipeline.results import (experiment_dir, missing_folders, remove_if_empty, results_root, staging_dir, swap_in,
                              write_json_atomic)


@dataclass
class RunContext:
    """What an experiment's ``run`` gets: its settings, where to write, and the device."""

    name: str
    profile: str
    config: Any  # the experiment's Settings
    outdir: Path
    device: Any
    progress: bool = True
    figures: list[str] = field(default_factory=list)
    checkpoints: Checkpointer = NO_CHECKPOINTS  # per-epoch training states (resumed after an interruption)
    between_steps: Callable[[], None] | None = None  # called by long training loops between steps

    @property
    def figure_dir(self) -> Path:
        path = self.outdir / "figures"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def save_figure(self, fig: Any, filename: str, **kwargs: Any) -> str:
        """Save a matplotlib figure under figures/, close it, and return its name."""
        import matplotlib.pyplot as plt

        kwargs.setdefault("dpi", 150)
        kwargs.setdefault("bbox_inches", "tight")
        fig.savefig(self.figure_dir / filename, **kwargs)
        plt.close(fig)
        self.figures.append(filename)
        return filename


def build_parser(name: str, description: str | None, settings_cls: type | None = None) -> argparse.ArgumentParser:
    """Return the argument parser every experiment shares."""
    import json

    settings = as_dict(get_config(name, "default", cls=settings_cls)) if settings_cls else {}
    listing = "\n".join(f"  {key} = {json.dumps(value)}" for key, value in settings.items())
    parser = argparse.ArgumentParser(
        prog=f"python -m experiments.{name}",
        description=(description or "").strip().splitlines()[0] if description else None,
        epilog=("settings (values of the default profile; each profile's are in pipeline/profiles.py, "
                "--show-config prints them resolved, --set KEY=VALUE overrides one):\n" + listing),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--profile", type=profile_arg, default="default", metavar="PROFILE",
                        help=f"settings profile: {', '.join(PROFILES)}, each optionally with -seeds<N> to repeat "
                             "training over N seeds, e.g. default-seeds3 (default: %(default)s)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override one setting (VALUE parsed as JSON), repeatable")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                        help="torch device; auto uses CUDA when present (default: %(default)s)")
    parser.add_argument("--results-dir", type=Path, default=None,
                        help="results root (default: $HW2_RESULTS_DIR or ./results)")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    parser.add_argument("--no-resume", action="store_true",
                        help="start training from scratch even if an interrupted run of the same code, "
                             "settings and data left per-epoch checkpoints (they are resumed by default)")
    parser.add_argument("--show-config", action="store_true",
                        help="print the resolved settings as JSON and exit")
    return parser


def _module_of(run: Callable[..., Any]) -> Any:
    return sys.modules.get(getattr(run, "__module__", ""), None)


def data_fingerprint_of(run: Callable[..., Any], config: Any) -> dict[str, Any]:
    """Call the experiment module's optional ``data_fingerprint(config)``; {} when it has none."""
    hook = getattr(_module_of(run), "data_fingerprint", None)
    return dict(hook(config)) if hook else {}


def main(name: str, description: str | None, run: Callable[[RunContext], dict[str, Any]],
         argv: list[str] | None = None) -> int:
    """Parse the command line, run the experiment safely, and return an exit status."""
    parser = build_parser(name, description, getattr(_module_of(run), "Settings", None))
    args = parser.parse_args(argv)
    try:
        return _main(name, args, run)
    except Hw2Error as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"interrupted: {name} stopped; earlier results were left as they were", file=sys.stderr)
        return 130


def _main(name: str, args: argparse.Namespace, run: Callable[[RunContext], dict[str, Any]]) -> int:
    import json

    from pipeline.device import ThreadShare, resolve_device
    from pipeline.provenance import git_state, hardware, library_versions, now_utc

    overrides = dict(parse_override(text) for text in args.overrides)
    config = get_config(name, args.profile, overrides, cls=_module_of(run).Settings)
    if args.show_config:
        print(json.dumps(as_dict(config), indent=2))
        return 0
    if os.environ.get("HW2_THREADS"):  # set by parallel runs (JOBS=N) to share the cores
        import torch

        torch.set_num_threads(max(1, int(os.environ["HW2_THREADS"])))
    device = resolve_device(args.device)
    data_fp = data_fingerprint_of(run, config)
    root = args.results_dir.resolve() if args.results_dir else results_root()
    final = experiment_dir(args.profile, name, root)
    created = missing_folders(final.parent)  # results/<profile>/ (and above) when this run makes it
    staging = staging_dir(final)
    started = now_utc()
    t0 = time.perf_counter()
    # checkpoints live beside the results, in a folder named after what the results depend on
    key = fingerprint.compute(as_dict(config), data_fp)["digest"][:16]
    checkpoints = Checkpointer(root / args.profile / ".checkpoints" / name / key, resume=not args.no_resume)
    ctx = RunContext(name=name, profile=args.profile, config=config, outdir=staging, device=device,
                     progress=not args.no_progress and sys.stderr.isatty() or bool(os.environ.get("HW2_PROGRESS")),
                     checkpoints=checkpoints, between_steps=ThreadShare().update)
    try:
        results = run(ctx)
        wall = time.perf_counter() - t0
        results = dict(results)
        results["fingerprint"] = fingerprint.compute(as_dict(config), data_fp)
        results["meta"] = {
            "experiment": name,
            "profile": args.profile,
            "config": as_dict(config),
            "overrides": overrides,
            "differences_from_handout": differences(name, args.profile, config, overrides),
            "started": started,
            "finished": now_utc(),
            "wall_time_s": wall,
            "git": git_state(),
            "libraries": library_versions(),
            "hardware": hardware(str(device)),
            "figures": sorted(ctx.figures),
            "resumed_from_checkpoints": sorted(checkpoints.resumed),
            "command": f"python -m experiments.{name} --profile {args.profile}"
                       + "".join(f" --set {t}" for t in args.overrides),
        }
        write_json_atomic(staging / "results.json", results)
        swap_in(staging, final)
        checkpoints.clear()
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
        remove_if_empty(created)  # a failed run leaves no empty results/<profile>/ behind
    print(f"{name}: wrote {final / 'results.json'} in {wall:.1f} s")
    return 0


__all__ = ["RunContext", "main", "build_parser"]
