"""What one Q2 training run produced, epoch by epoch."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field


@dataclass
class RunResult:
    """The history of one training run (one learning rate, one variant, one seed or a mean over seeds)."""

    lr: float
    no_maxpool: bool
    train_loss: list = field(default_factory=list)  # mean loss over each epoch's batches
    train_loss_cumulative: list = field(default_factory=list)  # the skeleton's printout: mean since epoch 1
    train_loss_batch_sd: list = field(default_factory=list)  # standard deviation of each epoch's batch losses
    val_acc: list = field(default_factory=list)
    # per epoch: how many validation images the network assigned to each class (4 counts), None after divergence
    val_pred_counts: list = field(default_factory=list)
    test_acc: float | None = None
    diverged: bool = False
    diverged_epoch: int | None = None  # first epoch (1-based) whose loss was not finite
    step_losses: list = field(default_factory=list)  # only filled when asked for (tests, benchmark)
    train_time_s: float = 0.0
    # filled by combine_seeds: the seeds averaged over, how many of them diverged, the standard
    # deviations over the seeds of the last epoch's loss and validation accuracy and of the test
    # accuracy, and each seed's own run (without its curves' means)
    seeds: list = field(default_factory=list)
    n_diverged_seeds: int = 0
    sd: dict = field(default_factory=dict)
    per_seed: list = field(default_factory=list)
    resumed_after_epoch: int = 0  # > 0: this run was resumed from the checkpoint of that epoch
    # accuracy on shifted test images: [{"direction", "pixels", "acc"}] (filled by the experiment)
    shift_acc: list = field(default_factory=list)
    model_state: dict | None = None  # the trained weights (a CNN state_dict); not written to results

    def to_dict(self) -> dict:
        """Return a JSON-ready dict (without the per-step losses and the weights)."""
        out = asdict(self)
        out.pop("step_losses")
        out.pop("model_state")
        return out


def record_epoch(run: RunResult, loss_sum: float, loss_sq_sum: float, n_batches: int, cum: list[float],
                 epoch: int) -> bool:
    """Append one epoch's mean losses to ``run``; return False if the run diverged in it.

    ``loss_sq_sum`` is the sum of the squared batch losses.  ``cum`` is [sum of batch losses,
    number of batches] since epoch 1 (updated in place), from which the skeleton's cumulative
    printout is computed.
    """
    if run.diverged or not math.isfinite(loss_sum) or not math.isfinite(loss_sq_sum):
        if not run.diverged:
            run.diverged, run.diverged_epoch = True, epoch
        for curve in (run.train_loss, run.train_loss_cumulative, run.train_loss_batch_sd):
            curve.append(None)
        return False
    cum[0] += loss_sum
    cum[1] += n_batches
    mean = loss_sum / n_batches
    run.train_loss.append(mean)
    run.train_loss_cumulative.append(cum[0] / cum[1])
    variance = (loss_sq_sum - n_batches * mean * mean) / (n_batches - 1) if n_batches > 1 else 0.0
    run.train_loss_batch_sd.append(math.sqrt(max(variance, 0.0)))
    return True


def record_validation(run: RunResult, finite: bool, correct: int, pred_counts: list[int], n: int) -> None:
    """Append one epoch's validation accuracy and prediction counts (None for a diverged run)."""
    run.val_acc.append(correct / n if finite else None)
    run.val_pred_counts.append(list(pred_counts) if finite else None)
