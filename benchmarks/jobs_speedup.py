"""Benchmark: `make report` from scratch with JOBS=1 against JOBS=2, measured in one run.

Builds the report of one profile twice, each time into an empty results folder so
that every experiment runs: first one experiment after another (JOBS=1), then with
JOBS=2 (Q2 and Q3 in two processes sharing the cores, the longest first, then Q1
alone because it times itself). Prints both wall times and the speed-up, and
writes them to benchmarks/out/jobs_speedup.json. Rendering is included in both.

    .venv/bin/python benchmarks/jobs_speedup.py [--profile default] [--sequential-results DIR]

``--sequential-results DIR`` keeps the JOBS=1 run's results in DIR (for example
``results`` to refresh the committed ones) instead of a temporary folder; DIR's
results of that profile are rerun only where missing or stale, so point it at a
folder whose results are stale or absent when timing. Takes as long as two full
builds (about 20 minutes for the default profile on two cores).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def build(profile: str, results: Path, out: Path, jobs: int) -> float:
    """Run `python -m pipeline build` and return its wall time in seconds."""
    cmd = [sys.executable, "-m", "pipeline", "build", "--profile", profile, "--results-dir", str(results),
           "--out-dir", str(out), "--jobs", str(jobs)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"JOBS={jobs} build failed: {proc.stderr.strip().splitlines()[-1:]}")
    return wall


def ran(results: Path, profile: str) -> dict[str, float]:
    """Return each experiment's recorded wall time under ``results/<profile>``."""
    out = {}
    for path in sorted((results / profile).glob("*/results.json")):
        out[path.parent.name] = json.loads(path.read_text())["meta"]["wall_time_s"]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--profile", default="default", help="profile to build (default: %(default)s)")
    parser.add_argument("--sequential-results", type=Path, default=None,
                        help="keep the JOBS=1 results here (default: a temporary folder)")
    args = parser.parse_args(argv)

    print(f"machine: {os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.1f}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        seq_results = (args.sequential_results or tmp / "seq-results").resolve()
        seq = build(args.profile, seq_results, tmp / "seq-report", jobs=1)
        seq_parts = ran(seq_results, args.profile)
        print(f"JOBS=1: {seq:.0f} s  (" + ", ".join(f"{k} {v:.0f} s" for k, v in seq_parts.items()) + ")", flush=True)
        par = build(args.profile, tmp / "par-results", tmp / "par-report", jobs=2)
        par_parts = ran(tmp / "par-results", args.profile)
        print(f"JOBS=2: {par:.0f} s  (" + ", ".join(f"{k} {v:.0f} s" for k, v in par_parts.items()) + ")")
    print(f"speed-up of JOBS=2 over JOBS=1: {seq / par:.2f}x  (load average now {os.getloadavg()[0]:.1f})")
    out = ROOT / "benchmarks" / "out" / "jobs_speedup.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"profile": args.profile, "jobs1_s": seq, "jobs2_s": par, "speedup": seq / par,
                               "jobs1_experiments_s": seq_parts, "jobs2_experiments_s": par_parts}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
