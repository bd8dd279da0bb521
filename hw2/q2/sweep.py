"""The learning-rate sweep: every (variant, lr) run, one grouped model per variant, and seeds combined.

On a CPU each variant trains on one core in its own forked process (batch-8
steps gain nothing from torch's intra-op threads and lose a lot when the cores
are shared; threads would serialise on the interpreter lock, since a batch-8 step
is mostly Python and dispatch overhead: measured on 2 cores, two threads were
slower than one variant after the other, two processes faster).
"""

from __future__ import annotations

from functools import partial
from typing import Any, Sequence

import torch

from hw2.processes import can_fork, in_forked_processes
from hw2.resume import CheckpointStore
from hw2.stats import mean_curve, mean_sd
from hw2.q2.data import TensorSplits
from hw2.q2.grouped import train_grouped
from hw2.q2.history import RunResult


def checkpoint_name(no_maxpool: bool, seed: int) -> str:
    """Return the name a variant's grouped training is checkpointed under."""
    return f"q2-{'no_maxpool' if no_maxpool else 'maxpool'}-seed{seed}"


def train_sweep(data: TensorSplits, *, lrs: Sequence[float], variants: Sequence[bool], epochs: int,
                batch_size: int = 8, dropout: float = 0.7, seed: int = 42, device: torch.device | str = "cpu",
                parallel: bool = True, max_steps: int | None = None, evaluate: bool = True,
                progress: bool = False, checkpoints: CheckpointStore | None = None) -> list[RunResult]:
    """Train every (variant, lr) pair, one grouped model per variant; return the runs variant by variant.

    With ``parallel``, a CPU and a core for each (torch's thread count: all cores by default,
    fewer when ``JOBS=N`` shares them out), the variants train side by side in forked processes.
    """
    device = torch.device(device)
    kwargs = dict(lrs=lrs, epochs=epochs, batch_size=batch_size, dropout=dropout, seed=seed, device=device,
                  max_steps=max_steps, evaluate=evaluate, progress=progress, checkpoints=checkpoints)
    jobs = [dict(kwargs, no_maxpool=v, position=i, checkpoint_name=checkpoint_name(v, seed))
            for i, v in enumerate(variants)]
    cores = torch.get_num_threads()  # this process's share of the cores (HW2_THREADS under JOBS=N)
    workers = min(len(variants), cores) if parallel and device.type == "cpu" else 1
    if workers <= 1 or not can_fork():
        per_variant = [train_grouped(data, **job) for job in jobs]
    else:
        per_variant = [_weights_as_tensors(runs) for runs in in_forked_processes(partial(_train_as_arrays, data), jobs)]
    return [run for runs in per_variant for run in runs]


def _train_as_arrays(data: TensorSplits, **job: Any) -> list[RunResult]:
    """Body of a forked training process: train_grouped, with the weights made picklable."""
    return _weights_as_arrays(train_grouped(data, **job))


def _weights_as_arrays(runs: list[RunResult]) -> list[RunResult]:
    """Return the runs with their trained weights as numpy arrays.

    Through a pipe, torch sends tensors as shared-memory handles, which die with the
    process that made them; numpy arrays travel by value.
    """
    for run in runs:
        if run.model_state is not None:
            run.model_state = {k: v.detach().cpu().numpy() for k, v in run.model_state.items()}
    return runs


def _weights_as_tensors(runs: list[RunResult]) -> list[RunResult]:
    """Undo ``_weights_as_arrays``."""
    for run in runs:
        if run.model_state is not None:
            run.model_state = {k: torch.from_numpy(v) for k, v in run.model_state.items()}
    return runs


# --------------------------------------------------------------------------- seeds


def combine_seeds(per_seed: Sequence[Sequence[RunResult]], seeds: Sequence[int]) -> list[RunResult]:
    """Average the same sweep trained with several seeds into one RunResult per (variant, lr).

    ``per_seed[i]`` is the sweep of ``seeds[i]``, its runs in the same order for every seed.
    Curves and accuracies are means over the seeds whose run did not diverge; ``sd`` holds
    the standard deviations of the final values, and ``per_seed`` each seed's own final
    values and validation predictions.  The combined run counts as diverged only when it
    diverged with every seed (``n_diverged_seeds`` says how many did).
    """
    combined = []
    for runs in zip(*per_seed):
        first = runs[0]
        if any((r.lr, r.no_maxpool) != (first.lr, first.no_maxpool) for r in runs):
            raise ValueError("combine_seeds: the sweeps list their runs in different orders")
        ok = [r for r in runs if not r.diverged]
        out = RunResult(lr=first.lr, no_maxpool=first.no_maxpool, seeds=list(seeds),
                        n_diverged_seeds=len(runs) - len(ok), train_time_s=sum(r.train_time_s for r in runs),
                        per_seed=[_seed_summary(r, s) for r, s in zip(runs, seeds)])
        if not ok:
            n = len(first.train_loss)
            out.diverged, out.diverged_epoch = True, min(r.diverged_epoch for r in runs)
            out.train_loss, out.train_loss_cumulative, out.val_acc = [None] * n, [None] * n, [None] * n
        else:
            _average_into(out, ok)
        combined.append(out)
    return combined


def _seed_summary(run: RunResult, seed: int) -> dict[str, Any]:
    """Return what the combined run keeps of one seed's run."""
    return {"seed": seed, "diverged": run.diverged, "final_val_acc": None if run.diverged else run.val_acc[-1],
            "test_acc": run.test_acc, "val_pred_counts": run.val_pred_counts}


def _average_into(out: RunResult, ok: Sequence[RunResult]) -> None:
    """Fill ``out`` with the means (and final standard deviations) of the finished runs ``ok``."""
    out.train_loss = mean_curve([r.train_loss for r in ok])
    out.train_loss_cumulative = mean_curve([r.train_loss_cumulative for r in ok])
    out.val_acc = mean_curve([r.val_acc for r in ok])
    out.test_acc = mean_sd([r.test_acc for r in ok])[0]
    out.sd = {"final_val_acc": mean_sd([r.val_acc[-1] for r in ok])[1],
              "test_acc": mean_sd([r.test_acc for r in ok])[1],
              "final_train_loss": mean_sd([r.train_loss[-1] for r in ok])[1]}
    if ok[0].shift_acc:
        out.shift_acc = []
        for i, entry in enumerate(ok[0].shift_acc):
            mean, sd = mean_sd([r.shift_acc[i]["acc"] for r in ok])
            out.shift_acc.append({**entry, "acc": mean, "sd": sd})


# --------------------------------------------------------------------------- choosing


def best_run(runs: Sequence[Any], key: str = "final_val_acc") -> Any | None:
    """Return the run with the highest ``key`` among those that did not diverge (the first one on a tie).

    The handout's rule picks the learning rate on validation accuracy (``final_val_acc``);
    runs are dict-like (results.json records).  None when every run diverged.
    """
    ok = [run for run in runs if not run["diverged"] and run[key] is not None]
    return max(ok, key=lambda run: float(run[key])) if ok else None
