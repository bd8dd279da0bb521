"""Running independent jobs side by side in forked processes, one torch thread each.

On a CPU, small training steps gain little from a second intra-op thread, while two
single-thread trainings in two processes run almost twice as fast as one after the
other.  Forking hands the parent's data to the children without copying or pickling
it (the pages are shared until written); only each job's result comes back, pickled
through a pipe, so it must hold plain values (numbers, strings, lists, dicts, numpy
arrays), not tensors.
"""

from __future__ import annotations

import multiprocessing
import os
from typing import Any, Callable

import torch


def can_fork() -> bool:
    """Return whether this platform can start processes by forking."""
    return "fork" in multiprocessing.get_all_start_methods()


def in_forked_processes(fn: Callable[..., Any], jobs: list[dict], env: dict[str, str] | None = None) -> list:
    """Return ``[fn(**job) for job in jobs]``, each call in its own forked process with one torch thread.

    ``env`` is set in each child before ``fn`` runs.  An error in a child is raised here
    with the child's own message; a child that dies is reported with its exit code.
    """
    ctx = multiprocessing.get_context("fork")
    procs, conns = [], []
    try:
        for job in jobs:
            receiver, sender = ctx.Pipe(duplex=False)
            proc = ctx.Process(target=_child, args=(sender, fn, job, env or {}), daemon=True)
            proc.start()
            sender.close()
            procs.append(proc)
            conns.append(receiver)
        return [_receive(proc, conn) for proc, conn in zip(procs, conns)]
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.join(timeout=5)
            if proc.is_alive():
                proc.terminate()


def _receive(proc: Any, conn: Any) -> Any:
    """Return what a child sent back, or raise its error."""
    try:
        status, value = conn.recv()
    except EOFError:
        proc.join()
        raise RuntimeError(f"a worker process died (exit code {proc.exitcode})") from None
    proc.join()
    if status != "ok":
        raise RuntimeError(f"a worker process failed: {value}")
    return value


def _child(conn: Any, fn: Callable[..., Any], job: dict, env: dict[str, str]) -> None:
    """Body of a forked process: run ``fn(**job)`` and send back ("ok", result) or ("error", message)."""
    os.environ.update(env)
    torch.set_num_threads(1)
    try:
        conn.send(("ok", fn(**job)))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which raises it
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        conn.close()


class MemorySampler:
    """Samples the memory of this process and all its descendants in a background thread (Linux).

    Every ``interval_s`` it reads each process's ``Rss`` and ``Pss`` from
    ``/proc/<pid>/smaps_rollup`` and keeps the peak of their sums.  A read costs the kernel
    about 10 ms per GB of the process, so the interval is kept long (at 0.5 s, three 1 GB
    processes cost the run about 6% of a core).  ``Pss`` divides each
    shared page among the processes that share it, so the sum of PSS is the memory the
    whole tree holds, without counting pages shared after a fork twice; the sum of RSS
    counts them in every process.  Use it as a context manager; ``peaks()`` returns the
    peaks in MiB (None where /proc cannot be read).
    """

    def __init__(self, interval_s: float = 2.0):
        import threading

        self.interval_s = interval_s
        self.peak_pss_kb = self.peak_rss_kb = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="memory-sampler", daemon=True)

    def __enter__(self) -> "MemorySampler":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._sample()

    def _sample(self) -> None:
        rss = pss = 0
        for pid in [os.getpid(), *descendants(os.getpid())]:
            values = smaps_rollup(pid)
            rss += values.get("Rss", 0)
            pss += values.get("Pss", 0)
        if rss:
            self.samples += 1
            self.peak_rss_kb, self.peak_pss_kb = max(self.peak_rss_kb, rss), max(self.peak_pss_kb, pss)

    def peaks(self) -> dict[str, float | int | None]:
        """Return the peak summed PSS and RSS in MiB over the samples taken (None when none could be read)."""
        known = self.samples > 0
        return {"pss_mb": self.peak_pss_kb / 1024 if known else None,
                "rss_mb": self.peak_rss_kb / 1024 if known else None,
                "samples": self.samples, "interval_s": self.interval_s}


def descendants(pid: int) -> list[int]:
    """Return the ids of every live descendant of process ``pid`` (empty where /proc is missing)."""
    out, todo = [], [pid]
    while todo:
        parent = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{parent}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{parent}/task/{task}/children", encoding="ascii") as fh:
                    kids = [int(k) for k in fh.read().split()]
            except OSError:
                continue
            out.extend(kids)
            todo.extend(kids)
    return out


def smaps_rollup(pid: int) -> dict[str, int]:
    """Return the kB fields (Rss, Pss, ...) of ``/proc/<pid>/smaps_rollup``; empty when it cannot be read."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as fh:
            lines = fh.read().splitlines()[1:]
    except OSError:
        return {}
    values = {}
    for line in lines:
        key, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit():
            values[key] = int(parts[0])
    return values
