"""Benchmark: how long a no-op `make report` takes, and which experiments an edit reruns.

Works on a temporary copy of the working tree (tracked and untracked, not ignored
files, plus the committed results), with this checkout's .venv, so nothing here is
touched. Steps:

1. no-op: `make report` on the default profile's committed results, three times
   (median wall time; target: at most 10 s with the pandoc path);
2. on the quick profile, after one full build: append a comment to a Q2 module, a
   Q1 module and a template, rebuild after each, and list what reran.

    .venv/bin/python benchmarks/partial_rebuild.py [--q2-module hw2/q2/cnn.py]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def copy_tree(dst: Path) -> None:
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True,
                           text=True, check=True).stdout.split("\n")
    for rel in filter(None, files):
        src = ROOT / rel
        if src.is_file():
            (dst / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst / rel)
    if (ROOT / "data").is_dir():
        (dst / "data").symlink_to(ROOT / "data")  # generated stand-ins are reused, not regenerated


def make_report(tree: Path, profile: str) -> tuple[float, list[str], str]:
    venv = ROOT / ".venv"
    cmd = ["make", "-s", "-o", str(venv / ".installed-stamp"), "report", f"PROFILE={profile}", f"VENV={venv}"]
    env = {k: v for k, v in os.environ.items() if k not in ("HW2_RESULTS_DIR", "JOBS", "EXECUTOR")}
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=tree, capture_output=True, text=True, env=env)
    took = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"make report failed in {tree}:\n{proc.stderr[-2000:]}")
    ran = re.findall(r"^running (\S+?)(?: \(|,)", proc.stdout, re.M)
    ran += [n.strip() for line in re.findall(r"^running (.+) \(\w+\) in \d+ processes", proc.stdout, re.M)
            for n in line.split(",")]
    renderer = (re.findall(r"rendered with (.+) in", proc.stdout) or ["?"])[-1]
    return took, sorted(set(ran)), renderer


def touch_comment(path: Path) -> None:
    marker = "{## benchmark edit ##}\n" if path.suffix == ".j2" else "# benchmark edit\n"
    path.write_text(path.read_text(encoding="utf-8") + marker, encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--q2-module", default="hw2/q2/cnn.py", help="a module only Q2 imports (default: %(default)s)")
    parser.add_argument("--q1-module", default="hw2/q1/attention.py", help="a module only Q1 imports")
    parser.add_argument("--template", default="templates/sections/q1_attention.qmd.j2")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="hw2-rebuild-") as tmp:
        tree = Path(tmp) / "tree"
        tree.mkdir()
        copy_tree(tree)

        times, renderer = [], "?"
        for i in range(args.repeats):
            took, ran, renderer = make_report(tree, "default")
            if ran:
                print(f"note: no-op run {i + 1} reran {ran} (results were stale in this checkout)")
            times.append(took)
        noop = statistics.median(times[1:] if len(times) > 1 else times)
        print(f"no-op `make report` (default profile, {renderer}): median {noop:.2f} s "
              f"over {len(times)} runs {[round(t, 2) for t in times]}  target <= 10 s: "
              f"{'PASS' if noop <= 10 else 'FAIL'}")

        took, ran, _ = make_report(tree, "quick")
        print(f"quick profile, first build: ran {ran or 'nothing'} in {took:.1f} s")
        results = []
        for label, rel in (("edit a Q2 module", args.q2_module), ("edit a Q1 module", args.q1_module),
                           ("edit a template", args.template)):
            if not (tree / rel).exists():
                print(f"{label}: {rel} does not exist here, skipped")
                continue
            touch_comment(tree / rel)
            took, ran, _ = make_report(tree, "quick")
            results.append((label, rel, ran, took))
            print(f"{label} ({rel}): reran {ran or 'nothing'}; make report took {took:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
