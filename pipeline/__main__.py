"""Command line: ``python -m pipeline build|status|run --profile P``."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from hw2.errors import Hw2Error
from pipeline.profiles import DATA_MODES, PROFILES, profile_arg
from pipeline.stages import names as experiment_names


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline",
                                     description="Build the homework report from experiment results.")
    sub = parser.add_subparsers(dest="command", required=True)

    b = sub.add_parser("build", help="run stale or missing experiments, fill the templates, render HTML and PDF")
    b.add_argument("--profile", type=profile_arg, default="default", metavar="PROFILE",
                   help=f"results profile: {', '.join(PROFILES)}, optionally with -seeds<N> "
                        "(repeated over N seeds, e.g. default-seeds3) (default: %(default)s)")
    b.add_argument("--run", choices=("stale", "missing", "none"), default="stale",
                   help="stale: run experiments whose results are missing or out of date, with the --set "
                        "overrides they were made with (default); missing: only absent ones; none: never run, "
                        "fail if absent. Stale results left as they are are rendered with a note")
    b.add_argument("--formats", default="html,pdf", help="comma-separated: html, pdf (default: %(default)s)")
    b.add_argument("--renderer", choices=("auto", "quarto", "pandoc"), default="auto",
                   help="auto: Quarto if on PATH (or $QUARTO), else pandoc + Typst")
    b.add_argument("--jobs", type=int, default=int(os.environ.get("JOBS", "1") or 1),
                   help="experiments run at once in separate processes (default: $JOBS or 1)")
    b.add_argument("--executor", choices=("local", "slurm", "submitit-local"),
                   default=os.environ.get("EXECUTOR", "local") or "local",
                   help="local processes, Slurm jobs through submitit, or submitit's local executor "
                        "(default: $EXECUTOR or local)")
    b.add_argument("--rerun", action="append", default=[], metavar="EXPERIMENT",
                   help="rerun this experiment (q1, q2, q3 or its module name) whatever its state, with the "
                        "profile's settings; repeatable. `make q2` is `--rerun q2 --run none`: the others are "
                        "rendered as they are, stale ones with a note, and listed with the command that reruns them")
    b.add_argument("--data", choices=DATA_MODES, default="profile",
                   help="profile: the data each profile names (default); real: run the experiments that have a "
                        "real data set on it (--set data=...), e.g. `make report DATA=real`")
    b.add_argument("--out-dir", type=Path, default=None, help="where report*.qmd/html/pdf go (default: report/)")
    b.add_argument("--results-dir", type=Path, default=None, help="results root (default: $HW2_RESULTS_DIR or results/)")
    b.add_argument("--changes-since", default=None, metavar="REV",
                   help="add an appendix listing the printed numbers that changed since git revision REV")

    st = sub.add_parser(
        "status", help="say per experiment whether its results are fresh, stale (and why) or missing; "
                       "exit 1 when any is stale or missing",
        description="Say per experiment whether its results are fresh, stale (and why) or missing, which "
                    "--set overrides they were made with, and the command that brings them up to date, "
                    "with its expected time (the last run's wall time).",
        epilog="exit status: 0 when every experiment's results are fresh, 1 when any is stale or missing, "
               "2 on an error")
    st.add_argument("--profile", type=profile_arg, default="default", metavar="PROFILE")
    st.add_argument("--data", choices=DATA_MODES, default="profile",
                    help="real: judge the experiments that have a real data set against it (DATA=real)")
    st.add_argument("--results-dir", type=Path, default=None)

    r = sub.add_parser("run", help="run one experiment (always), then nothing else")
    r.add_argument("experiment", choices=experiment_names())
    r.add_argument("--profile", type=profile_arg, default="default", metavar="PROFILE")
    r.add_argument("--results-dir", type=Path, default=None)

    from pipeline import diff, preview, verify

    for command in (verify, diff, preview):  # each module adds its subcommand and handles it
        command.add_parser(sub)

    args = parser.parse_args(argv)
    try:
        if args.command == "build":
            from pipeline.report.build import build

            formats = tuple(f.strip() for f in args.formats.split(",") if f.strip())
            bad = [f for f in formats if f not in ("html", "pdf")]
            if bad:
                raise Hw2Error(f"--formats: unknown format {bad[0]!r} (use html, pdf)")
            build(args.profile, args.run, formats, args.out_dir,
                  args.results_dir.resolve() if args.results_dir else None, args.renderer,
                  jobs=args.jobs, executor=args.executor, rerun=tuple(args.rerun), data=args.data,
                  changes_since=args.changes_since)
        elif args.command == "status":
            from pipeline.status import print_status

            return print_status(args.profile, args.results_dir.resolve() if args.results_dir else None, args.data)
        elif args.command == "run":
            from pipeline.executors import run_many

            run_many([args.experiment], args.profile,
                     args.results_dir.resolve() if args.results_dir else None)
        elif hasattr(args, "run_command"):
            return args.run_command(args)
    except Hw2Error as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
