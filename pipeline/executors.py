"""Running several experiments: one after another, in parallel processes, or as Slurm jobs.

* ``local`` with ``jobs=1``: one after another, progress bars in the terminal.
* ``local`` with ``jobs=N``: N child processes at once, each limited to
  ``cpu_count // N`` torch threads so they share the cores instead of fighting;
  the longest (by the wall time its last results recorded) starts first, and an
  experiment that measures wall-clock time (``Stage.times_itself``, Q1's attention
  timings) runs alone afterwards on all cores, so that others do not skew it.
* ``slurm``: each experiment becomes a Slurm job through submitit; the jobs write
  into the same results tree (a shared file system), so the report step is the same.
* ``submitit-local``: submitit's local executor, which runs the same submission
  code path in local processes (used by the tests).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
from contextlib import contextmanager
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from hw2.errors import Hw2Error
from pipeline.profiles import set_args, set_flags
from pipeline.results import REPO_ROOT, last_wall_time, results_root

EXECUTORS = ("local", "slurm", "submitit-local")


def experiment_command(name: str, profile: str, root: Path | None, overrides: dict[str, Any] | None = None) -> list[str]:
    """The command line that runs one experiment (with ``--set`` for each override)."""
    cmd = [sys.executable, "-m", f"experiments.{name}", "--profile", profile, *set_args(overrides or {})]
    if root is not None:
        cmd += ["--results-dir", str(root)]
    return cmd


def run_one(name: str, profile: str, root: str | None, threads: int | None = None, quiet: bool = False,
            threads_file: Path | None = None, overrides: dict[str, Any] | None = None) -> str:
    """Run one experiment in a child process; raise Hw2Error when it fails. Returns its name.

    ``threads`` sets its torch thread count; ``threads_file`` names the file whose number it
    follows while it trains (see ``pipeline.device.ThreadShare``); ``overrides`` are passed
    as ``--set KEY=VALUE``.
    """
    env = dict(os.environ)
    if threads:
        env["HW2_THREADS"] = str(threads)
    if threads_file is not None:
        env["HW2_THREADS_FILE"] = str(threads_file)
    proc = subprocess.run(experiment_command(name, profile, Path(root) if root else None, overrides), cwd=REPO_ROOT,
                          env=env, capture_output=quiet, text=True)
    if proc.returncode != 0:
        detail = (proc.stderr or "").strip().splitlines()[-1:] if quiet else []
        raise Hw2Error(f"{name} failed (exit {proc.returncode}){': ' + detail[0] if detail else ''}; "
                       "earlier results, if any, were kept")
    return name


def run_many(names: list[str], profile: str, root: Path | None, jobs: int = 1, executor: str = "local",
             overrides: dict[str, dict[str, Any]] | None = None) -> None:
    """Run the named experiments with the chosen executor; raise on the first failure.

    ``overrides`` maps an experiment to the ``--set`` overrides it runs with (none by default).
    """
    if not names:
        return
    if executor not in EXECUTORS:
        raise Hw2Error(f"EXECUTOR={executor!r}: use one of {', '.join(EXECUTORS)}")
    sets = {name: dict((overrides or {}).get(name) or {}) for name in names}
    if executor != "local":
        _run_submitit(names, profile, root, executor, sets)
        return
    from pipeline.stages import stage

    alone = [name for name in names if stage(name).times_itself] if jobs > 1 else list(names)
    shared = sorted((name for name in names if name not in alone),
                    key=lambda name: -expected_seconds(name, profile, root))
    if len(shared) == 1:
        alone, shared = shared + alone, []
    if shared:
        cores = os.cpu_count() or 1
        threads = max(1, cores // min(jobs, len(shared)))
        print(f"running {', '.join(shared)} ({profile}) in {min(jobs, len(shared))} processes, "
              f"{threads} thread(s) each at first, longest first ...", flush=True)
        with tempfile.TemporaryDirectory(prefix="hw2-jobs-") as tmp:
            share = ThreadShareFile(Path(tmp) / "threads", cores)

            def one(name: str) -> str:
                with share.running():
                    return run_one(name, profile, str(root) if root else None, threads, True,
                                   threads_file=share.path, overrides=sets[name])

            with ThreadPoolExecutor(max_workers=jobs) as pool:
                futures = [pool.submit(one, name) for name in shared]
                for future in futures:
                    print(f"{future.result()}: done", flush=True)
    for name in alone:
        flags = f" {set_flags(sets[name])}" if sets[name] else ""
        print(f"running {name} ({profile}{flags}){' alone: it measures wall-clock time' if shared else ''} ...",
              flush=True)
        run_one(name, profile, str(root) if root else None, overrides=sets[name])


class ThreadShareFile:
    """The file telling parallel experiments their share of the cores: cores // experiments running."""

    def __init__(self, path: Path, cores: int):
        self.path, self.cores, self.count = path, cores, 0
        self.lock = threading.Lock()

    @contextmanager
    def running(self):
        """Count one more experiment running while the block runs, and rewrite the share."""
        self._change(+1)
        try:
            yield
        finally:
            self._change(-1)

    def _change(self, delta: int) -> None:
        with self.lock:
            self.count += delta
            share = max(1, self.cores // max(1, self.count))
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(f"{share}\n", encoding="utf-8")
            os.replace(tmp, self.path)


def expected_seconds(name: str, profile: str, root: Path | None) -> float:
    """Return how long ``name`` took when its last results were made; 0 if unknown.

    Looks under ``profile``, then the default profile, in ``root`` and then in the
    project's results/ (whose default results are committed).
    """
    found = last_wall_time(profile, name, root)
    return found[0] if found else 0.0


def _run_submitit(names: list[str], profile: str, root: Path | None, executor: str,
                  sets: dict[str, dict[str, Any]]) -> None:
    try:
        import submitit
    except ImportError:
        raise Hw2Error("EXECUTOR needs the submitit package: .venv/bin/pip install submitit") from None
    folder = (root or results_root()) / "_submitit" / profile
    cluster = "slurm" if executor == "slurm" else "local"
    ex = submitit.AutoExecutor(folder=str(folder), cluster=cluster)
    params = {"timeout_min": int(os.environ.get("SLURM_TIME_MIN", "240")), "name": "hw2"}
    if cluster == "slurm":
        if os.environ.get("SLURM_PARTITION"):
            params["slurm_partition"] = os.environ["SLURM_PARTITION"]
        params["gpus_per_node"] = int(os.environ.get("SLURM_GPUS", "1"))
        params["cpus_per_task"] = int(os.environ.get("SLURM_CPUS", "8"))
    ex.update_parameters(**params)
    root_arg = str(root) if root else None
    submitted = [(name, ex.submit(run_one, name, profile, root_arg, None, True, None, sets[name])) for name in names]
    print(f"submitted {len(submitted)} {cluster} job(s): "
          + ", ".join(f"{name}={job.job_id}" for name, job in submitted), flush=True)
    for name, job in submitted:
        try:
            job.result()
        except Exception as exc:  # submitit wraps the job's error
            last = str(exc).strip().splitlines()[-1] if str(exc).strip() else repr(exc)
            raise Hw2Error(f"{name}: job {job.job_id} failed: {last} (logs in {folder})") from None
        print(f"{name}: done (job {job.job_id})", flush=True)
