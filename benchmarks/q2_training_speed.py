"""Q2 training speed: the course skeleton's loop against the project's training path.

Both train the handout's CNN with unchanged hyper-parameters (batch 8, SGD,
dropout 0.7, seed 42, the same data order) on full-size OCTMNIST-shaped data
(97,477 training images: the real file when found, else the full-size stand-in,
generated once into data/):

* skeleton: a DataLoader over a per-item Dataset, one run at a time
  (``hw2.q2.plain.train_plain``), timed with torch's default thread count
  and with one thread; the faster of the two is the baseline;
* project: ``hw2.q2.sweep.train_sweep``, the sweep's six runs trained as two
  grouped models, one per variant, in two forked processes (wall time, process
  start included).

Prints images/s for each, the ratio for the whole 6-run sweep (3 learning rates x
2 variants), and the peak memory of training and evaluating on the full-size data
(summed proportional set size of all the processes, sampled every 50 ms); with ``--sweep-time`` also runs the default profile's experiment
(``python -m experiments.q2_cnn --profile default``) and prints its wall time.
Timings depend on what else runs on the machine: run it on an idle one.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

import torch  # noqa: E402

from hw2.q2.data import TensorSplits  # noqa: E402
from hw2.q2.plain import train_plain  # noqa: E402
from hw2.q2.sweep import train_sweep  # noqa: E402
from hw2.q2.standin import ensure_standin, standin_params, standin_path  # noqa: E402
from hw2.q2.octmnist import FULL_SPLIT_SIZES, find_octmnist, load_octmnist  # noqa: E402

LRS = (0.1, 0.01, 0.001)


def peak_rss_mb() -> float:
    """Return this process's peak resident memory so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def peak_rss_children_mb() -> float:
    """Return the largest peak resident memory of any finished child process, in MiB."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


class MemorySampler(threading.Thread):
    """Samples the proportional set size (PSS) of this process and all its descendants, keeping the maximum.

    The training path forks one process per variant; they share the data pages with
    this one, so adding up their resident sizes would count those pages several
    times.  PSS splits each shared page among the processes that map it, so the sum
    over the processes is the memory they really take together.
    """

    def __init__(self, interval_s: float = 0.05):
        super().__init__(daemon=True)
        self.interval_s, self.peak_mib, self.stop = interval_s, 0.0, threading.Event()

    @staticmethod
    def _pids(pid: int) -> list[int]:
        out = [pid]
        try:
            for task in Path(f"/proc/{pid}/task").iterdir():
                for child in (task / "children").read_text().split():
                    out += MemorySampler._pids(int(child))
        except OSError:
            pass
        return out

    @staticmethod
    def total_pss_mib() -> float:
        total = 0
        for pid in MemorySampler._pids(os.getpid()):
            try:
                for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
            except OSError:
                pass
        return total / 1024

    def run(self) -> None:
        while not self.stop.is_set():
            self.peak_mib = max(self.peak_mib, self.total_pss_mib())
            self.stop.wait(self.interval_s)

    def finish(self) -> float:
        self.stop.set()
        self.join()
        return self.peak_mib


def load_full_size(use_real: bool) -> tuple[TensorSplits, str]:
    """Return full-size data (the real file if asked for and found, else the full-size stand-in) and its name."""
    path = find_octmnist() if use_real else None
    if path is not None:
        data, name = load_octmnist(path, test_set="full"), f"real OCTMNIST ({path})"
    else:
        sizes = (FULL_SPLIT_SIZES["train"], FULL_SPLIT_SIZES["val"], FULL_SPLIT_SIZES["test"], 0)
        path = standin_path(standin_params(*sizes))
        note = ""
        if not path.is_file():  # generate in a child process, so that its memory is not counted below
            t0 = time.perf_counter()
            code = f"from hw2.q2.standin import ensure_standin; ensure_standin{sizes!r}"
            subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, check=True)
            note = f", generated in {time.perf_counter() - t0:.0f} s"
        path, _ = ensure_standin(*sizes)
        data, name = load_octmnist(path, test_set="full", source="stand-in"), f"full-size stand-in ({path.name}{note})"
    splits = TensorSplits.from_arrays((data.train_images, data.train_labels), (data.val_images, data.val_labels),
                                      (data.test_images, data.test_labels))
    return splits, name


def time_skeleton(data: TensorSplits, steps: int, threads: int) -> dict[str, float]:
    """Return the skeleton loop's images/s for each variant with ``threads`` intra-op threads."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        out = {}
        for name, flag in (("maxpool", False), ("no_maxpool", True)):
            run = train_plain(data, lr=0.01, no_maxpool=flag, epochs=1, max_steps=steps, evaluate=False)
            out[name] = steps * 8 / run.train_time_s
        return out
    finally:
        torch.set_num_threads(before)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its numbers."""
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0],
                                     epilog="Results are also written to benchmarks/out/q2_training_speed.json.")
    parser.add_argument("--steps", type=int, default=2000, help="batches timed per run (default: %(default)s)")
    parser.add_argument("--real", action="store_true", help="use the real octmnist.npz when one is found")
    parser.add_argument("--sweep-time", action="store_true",
                        help="also run the default profile's experiment and print its wall time")
    args = parser.parse_args(argv)

    default_threads = torch.get_num_threads()
    print(f"machine: {os.cpu_count()} CPUs, torch {torch.__version__}, {default_threads} intra-op threads by default; "
          f"load average {os.getloadavg()[0]:.1f} (other work on the machine slows both paths, unevenly)")
    data, name = load_full_size(args.real)
    print(f"data: {name}: {len(data.train_y):,} training images")

    # the project's path first, so that the peak memory below is its own (the skeleton copies the data to float32)
    t0 = time.perf_counter()
    runs = train_sweep(data, lrs=LRS, variants=(False, True), epochs=1, max_steps=args.steps, evaluate=False)
    project_s = time.perf_counter() - t0
    project_ips = 6 * args.steps * 8 / project_s
    # memory in a second, shorter pass (sampling /proc costs CPU time, so it is kept out of the timed one)
    sampler = MemorySampler()
    sampler.start()
    train_sweep(data, lrs=LRS, variants=(False, True), epochs=1, max_steps=200, evaluate=True)  # + evaluation
    pss = sampler.finish()
    parent, child = peak_rss_mb(), peak_rss_children_mb()
    bound = parent + 2 * child
    loop_s = max(run.train_time_s for run in runs)
    print(f"project path: 6 runs x {args.steps} batches in {project_s:.1f} s = {project_ips:,.0f} images/s "
          f"(summed over the runs; wall time including {project_s - loop_s:.1f} s of starting the processes)")
    print(f"peak memory, training and evaluating on {len(data.train_y):,} images: {pss:,.0f} MiB summed PSS "
          f"over this process and its training processes (upper bound, resident sizes added up: {bound:,.0f} MiB; "
          f"{'below' if max(pss, bound) < 2048 else 'ABOVE'} the 2 GiB limit)")

    skeleton = {threads: time_skeleton(data, args.steps, threads) for threads in sorted({default_threads, 1})}
    for threads, ips in skeleton.items():
        print(f"skeleton loop, {threads} thread(s): {ips['maxpool']:,.0f} images/s with max-pooling, "
              f"{ips['no_maxpool']:,.0f} without")
    # a sweep = 3 runs of each variant; time per image of the sweep, skeleton-style, with its faster setting
    sweep_s_per_step = {t: 3 * 8 * (1 / ips["maxpool"] + 1 / ips["no_maxpool"]) for t, ips in skeleton.items()}
    best_threads = min(sweep_s_per_step, key=sweep_s_per_step.get)
    ratio = sweep_s_per_step[best_threads] / (project_s / args.steps)
    print(f"6-run sweep: the project's path is {ratio:.2f}x faster than the skeleton loop "
          f"(baseline: its faster setting, {best_threads} thread(s); target >= 3x)")
    print(f"load average now {os.getloadavg()[0]:.1f}")
    results = {"load_average": os.getloadavg()[0], "data": name, "steps": args.steps, "project_images_per_s": project_ips, "project_s": project_s,
               "skeleton_images_per_s": {str(k): v for k, v in skeleton.items()}, "skeleton_threads": best_threads,
               "sweep_ratio": ratio, "peak_pss_mib": pss, "peak_rss_bound_mib": bound, "default_threads": default_threads}

    if args.sweep_time:
        with tempfile.TemporaryDirectory() as tmp:
            cmd = [sys.executable, "-m", "experiments.q2_cnn", "--profile", "default", "--results-dir", tmp,
                   "--no-progress"]
            t0 = time.perf_counter()
            proc = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True)
            wall = time.perf_counter() - t0
        if proc.returncode != 0:
            print(f"default sweep failed: {proc.stderr.strip().splitlines()[-1:]}")
            return 1
        print(f"default profile, full 6-run sweep (python -m experiments.q2_cnn --profile default): {wall:.0f} s "
              f"({'within' if wall <= 480 else 'OVER'} the 8-minute limit)")
        results["default_sweep_wall_s"] = wall

    out = REPO_ROOT / "benchmarks" / "out" / "q2_training_speed.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
