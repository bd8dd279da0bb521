"""Training the Question 2 CNN: the skeleton's plain loop, and a fast path giving the same numbers.

Both follow the course skeleton (hw2-q2.py): seed 42, a shuffled batch-8 loader,
SGD without weight decay, NLLLoss, dropout 0.7, validation accuracy after every
epoch and test accuracy at the end.  Images arrive as uint8 (N, 28, 28) and are
scaled by 1/256 as the course loader does.

* ``train_plain`` is the skeleton, line for line: a per-item Dataset, a
  ``DataLoader(shuffle=True)``, ``nn.Dropout`` and ``torch.optim.SGD``, all on
  torch's global random stream (forked, so the caller's stream is left alone).
* ``train_sweep`` trains the sweep's runs together.  Every run of the skeleton
  starts from the same seed, and the two variants have layers of identical shapes,
  so all runs begin from the same weights, see the same batches in the same order
  and draw the same dropout masks; they differ only in the learning rate and the
  variant.  ``GroupedCNN`` therefore stacks the runs of one variant on a leading
  run axis (grouped convolutions, batched matmuls) and ``SkeletonRandomStream``
  replays the skeleton's random draws (loader seeds, shuffles, dropout masks)
  from a private generator.  On a CPU the two variants train in two processes.
  A test checks that its losses match ``train_plain`` step for step.

A run whose loss becomes NaN or infinite is marked diverged; its later epochs are
recorded as ``None`` and training of the other runs goes on.
"""

from __future__ import annotations

import math
import multiprocessing
import threading
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from typing import Iterator, Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from hw2.resume import CheckpointStore
from hw2.q2.cnn import CNN, IMAGE_SIZE, N_CLASSES

PIXEL_SCALE = 256.0  # the course loader divides the uint8 pixels by 256
EVAL_CHUNK = 1024  # images per forward pass when evaluating (bounds memory)

# --------------------------------------------------------------------------- data


@dataclass
class TensorSplits:
    """The three splits as tensors: uint8 images (N, 28, 28) and int64 labels (N,)."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor

    @classmethod
    def from_arrays(cls, train: tuple, val: tuple, test: tuple) -> "TensorSplits":
        """Build from (images, labels) numpy pairs; labels of shape (N,) or (N, 1)."""
        def pair(images: np.ndarray, labels: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
            return (torch.from_numpy(np.ascontiguousarray(images, dtype=np.uint8)),
                    torch.from_numpy(np.asarray(labels).reshape(-1).astype(np.int64)))
        return cls(*pair(*train), *pair(*val), *pair(*test))

    def to(self, device: torch.device | str) -> "TensorSplits":
        """Return the splits moved to ``device``."""
        return TensorSplits(*(getattr(self, f.name).to(device) for f in fields(self)))


def to_float(images: torch.Tensor) -> torch.Tensor:
    """Scale uint8 images (B, 28, 28) to float32 in [0, 1) as the course loader does."""
    return images.float() / PIXEL_SCALE


# --------------------------------------------------------------------------- results


@dataclass
class RunResult:
    """What one training run produced, epoch by epoch."""

    lr: float
    no_maxpool: bool
    train_loss: list = field(default_factory=list)  # mean loss over each epoch's batches
    train_loss_cumulative: list = field(default_factory=list)  # the skeleton's printout: mean since epoch 1
    val_acc: list = field(default_factory=list)
    test_acc: float | None = None
    diverged: bool = False
    diverged_epoch: int | None = None  # first epoch (1-based) whose loss was not finite
    step_losses: list = field(default_factory=list)  # only filled when asked for (tests, benchmark)
    train_time_s: float = 0.0
    # filled by combine_seeds: the seeds averaged over, how many of them diverged, and the standard
    # deviations over the seeds of the last epoch's loss and validation accuracy and of the test accuracy
    seeds: list = field(default_factory=list)
    n_diverged_seeds: int = 0
    sd: dict = field(default_factory=dict)
    resumed_after_epoch: int = 0  # > 0: this run was resumed from the checkpoint of that epoch

    def to_dict(self) -> dict:
        """Return a JSON-ready dict (without the per-step losses)."""
        out = asdict(self)
        out.pop("step_losses")
        return out


def _record_epoch(run: RunResult, loss_sum: float, n_batches: int, cum: list[float], epoch: int) -> bool:
    """Append one epoch's mean losses to ``run``; return False if the run diverged in it."""
    if run.diverged:
        run.train_loss.append(None)
        run.train_loss_cumulative.append(None)
        return False
    if not math.isfinite(loss_sum):
        run.diverged, run.diverged_epoch = True, epoch
        run.train_loss.append(None)
        run.train_loss_cumulative.append(None)
        return False
    cum[0] += loss_sum
    cum[1] += n_batches
    run.train_loss.append(loss_sum / n_batches)
    run.train_loss_cumulative.append(cum[0] / cum[1])
    return True


# --------------------------------------------------------------------------- the skeleton's loop


class ItemDataset(Dataset):
    """The skeleton's ClassificationDataset: one (784 floats, label) pair per item."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor):
        self.X = to_float(images).reshape(len(images), -1)  # (N, 784)
        self.y = labels

    def __len__(self) -> int:
        return len(self.X)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.X[i], self.y[i]


def evaluate_plain(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    """Return the accuracy of ``model`` (in eval mode, no gradients), as the skeleton's evaluate."""
    model.eval()
    correct = 0
    with torch.no_grad():
        for start in range(0, len(images), EVAL_CHUNK):
            x = to_float(images[start:start + EVAL_CHUNK])
            correct += (model(x).argmax(dim=-1) == labels[start:start + EVAL_CHUNK]).sum().item()
    model.train()
    return correct / len(images)


def train_plain(data: TensorSplits, *, lr: float, no_maxpool: bool, epochs: int, batch_size: int = 8,
                dropout: float = 0.7, seed: int = 42, max_steps: int | None = None,
                evaluate: bool = True, record_steps: bool = False) -> RunResult:
    """Train one run exactly as the course skeleton does (CPU); return its history.

    ``max_steps`` stops after that many batches (for tests and benchmarks).
    """
    run = RunResult(lr=lr, no_maxpool=no_maxpool)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        loader = DataLoader(ItemDataset(data.train_x, data.train_y), batch_size=batch_size, shuffle=True)
        model = CNN(dropout, no_maxpool=no_maxpool)
        optimizer = torch.optim.SGD(model.parameters(), lr=lr)
        criterion = nn.NLLLoss()
        cum = [0.0, 0]
        steps = 0
        t0 = time.perf_counter()  # the training loop only (not building the dataset)
        for epoch in range(1, epochs + 1):
            loss_sum, n_batches = 0.0, 0
            for x, y in loader:
                optimizer.zero_grad()
                loss = criterion(model(x), y)
                loss.backward()
                optimizer.step()
                value = loss.item()
                loss_sum += value
                n_batches += 1
                steps += 1
                if record_steps:
                    run.step_losses.append(value)
                if max_steps is not None and steps >= max_steps:
                    break
            finite = _record_epoch(run, loss_sum, n_batches, cum, epoch)
            if evaluate:
                run.val_acc.append(evaluate_plain(model, data.val_x, data.val_y) if finite else None)
            if max_steps is not None and steps >= max_steps:
                break
        if evaluate and not run.diverged:
            run.test_acc = evaluate_plain(model, data.test_x, data.test_y)
        run.train_time_s = time.perf_counter() - t0
    return run


# --------------------------------------------------------------------------- the fast path


class SkeletonRandomStream:
    """Replays, from a private generator, the random draws the skeleton makes on torch's global one.

    After ``torch.manual_seed(seed)`` the skeleton builds the model (initial
    weights), then every epoch its DataLoader draws a base seed and its
    RandomSampler a shuffle seed, and every batch nn.Dropout draws a mask.
    """

    def __init__(self, seed: int, dropout: float, no_maxpool: bool = False):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.initial_model = CNN(dropout, no_maxpool=no_maxpool)
            state = torch.get_rng_state()
        self.generator = torch.Generator()
        self.generator.set_state(state)
        self.keep = 1.0 - dropout

    def epoch_order(self, n: int) -> torch.Tensor:
        """Return the permutation (n,) of the next epoch, as DataLoader(shuffle=True) draws it."""
        torch.empty((), dtype=torch.int64).random_(generator=self.generator)  # the loader's base seed
        seed = int(torch.empty((), dtype=torch.int64).random_(generator=self.generator).item())
        return torch.randperm(n, generator=torch.Generator().manual_seed(seed))

    def dropout_mask(self, batch: int, features: int) -> torch.Tensor:
        """Return the next dropout mask (batch, features), already scaled by 1/keep."""
        return torch.empty(batch, features).bernoulli_(self.keep, generator=self.generator).div_(self.keep)


class _LinearWithSGD(torch.autograd.Function):
    """x @ w + b for R runs at once, whose backward also applies the SGD step to w and b in place.

    Fusing the step into the backward pass saves writing, scaling and re-reading a
    separate gradient buffer the size of w (fc1's is 3 x 576 x 320 floats).  The
    input gradient is computed with the old w before w changes, as plain SGD does.
    """

    @staticmethod
    def forward(ctx, x, w, b, neg_lr):  # x (R, B, in), w (R, in, out), b (R, out), neg_lr (R, 1, 1)
        ctx.save_for_backward(x, w, b, neg_lr)
        return torch.baddbmm(b.unsqueeze(1), x, w)  # (R, B, out)

    @staticmethod
    def backward(ctx, grad):  # grad (R, B, out)
        x, w, b, neg_lr = ctx.saved_tensors
        grad_x = torch.bmm(grad, w.transpose(1, 2)) if ctx.needs_input_grad[0] else None  # (R, B, in)
        step = grad * neg_lr  # (R, B, out)
        w.baddbmm_(x.transpose(1, 2), step)  # w <- w - lr * x^T grad
        b.add_(step.sum(dim=1))  # b <- b - lr * sum_B grad
        return grad_x, None, None, None


def _linear(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, neg_lr: torch.Tensor) -> torch.Tensor:
    """x (R, B, in) @ w (R, in, out) + b (R, out), without any training step."""
    return torch.baddbmm(b.unsqueeze(1), x, w)


class GroupedCNN:
    """R copies of one CNN variant trained side by side; every parameter gets a leading run axis."""

    def __init__(self, model: CNN, n_runs: int, device: torch.device | str = "cpu"):
        self.no_maxpool = model.no_maxpool
        self.n_runs = n_runs
        p = {name: t.detach().to(device) for name, t in model.named_parameters()}

        def stack(t: torch.Tensor) -> torch.Tensor:
            return t.unsqueeze(0).repeat(n_runs, *([1] * t.dim())).contiguous()

        # conv1 is one matmul shared by the runs: its weight is stored as (9, R*8), contiguous, so that
        # autograd computes its gradient as cols^T @ grad (a transposed weight makes it take a path 5x slower)
        self.conv1_w = stack(p["conv1.weight"].reshape(8, 9)).reshape(n_runs * 8, 9).t().contiguous()  # (9, R*8)
        self.conv1_b = stack(p["conv1.bias"])  # (R, 8)
        self.conv2_w, self.conv2_b = stack(p["conv2.weight"]), stack(p["conv2.bias"])  # (R, 16, 8, 3, 3), (R, 16)
        # linear weights are stored as (R, in, out) so that bmm needs no transpose and grads come out contiguous
        self.fc1_w, self.fc1_b = stack(p["fc1.weight"].t()), stack(p["fc1.bias"])  # (R, 576, 320), (R, 320)
        self.fc2_w, self.fc2_b = stack(p["fc2.weight"].t()), stack(p["fc2.bias"])  # (R, 320, 120), (R, 120)
        self.fc3_w, self.fc3_b = stack(p["fc3.weight"].t()), stack(p["fc3.bias"])  # (R, 120, 4), (R, 4)
        for t in self.conv_parameters():
            t.requires_grad_()
        self.neg_lr = torch.zeros(n_runs, 1, 1, device=device)  # (R, 1, 1); set by set_lrs

    def conv_parameters(self) -> list[torch.Tensor]:
        """Return the stacked convolution parameters (updated by ``sgd_step``)."""
        return [self.conv1_w, self.conv1_b, self.conv2_w, self.conv2_b]

    def parameters(self) -> list[torch.Tensor]:
        """Return all the stacked parameters."""
        return self.conv_parameters() + [self.fc1_w, self.fc1_b, self.fc2_w, self.fc2_b, self.fc3_w, self.fc3_b]

    def set_lrs(self, lrs: torch.Tensor) -> None:
        """Set each run's learning rate (lrs: (R,)) for the following training steps."""
        self.neg_lr.copy_(-lrs.view(-1, 1, 1))

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Return log-probabilities (R, B, 4) of every run for images x (B, 28, 28) in [0, 1)."""
        R, B = self.n_runs, x.shape[0]
        stride = 2 if self.no_maxpool else 1
        # conv1 as one matmul shared by the runs (they all read the same image), with its output
        # channels-last, the layout on which torch's CPU max-pooling and conv2 are fastest
        size = IMAGE_SIZE // stride
        cols = F.unfold(x.unsqueeze(1), kernel_size=3, padding=1, stride=stride)  # (B, 9, size*size)
        cols = cols.transpose(1, 2).reshape(B * size * size, 9)  # (B*size*size, 9)
        h = torch.addmm(self.conv1_b.view(R * 8), cols, self.conv1_w)  # (B*size*size, R*8)
        h = h.view(B, size, size, R * 8).permute(0, 3, 1, 2)  # (B, R*8, 28, 28) or (B, R*8, 14, 14), channels-last
        if not self.no_maxpool:
            h = F.max_pool2d(h, 2)  # (B, R*8, 14, 14); pooling before ReLU gives the same values, cheaper
        h = F.relu(h)
        h = F.conv2d(h, self.conv2_w.view(R * 16, 8, 3, 3), self.conv2_b.view(R * 16),
                     stride=stride, groups=R)  # (B, R*16, 12, 12) or (B, R*16, 6, 6)
        if not self.no_maxpool:
            h = F.max_pool2d(h, 2)  # (B, R*16, 6, 6)
        h = F.relu(h)
        h = h.reshape(B, R, 16 * 6 * 6).transpose(0, 1).contiguous()  # (R, B, 576); contiguous keeps bmm on its fast path
        linear = _LinearWithSGD.apply if torch.is_grad_enabled() else _linear
        h = F.relu(linear(h, self.fc1_w, self.fc1_b, self.neg_lr))  # (R, B, 320)
        if mask is not None:
            h = h * mask  # (B, 320) mask shared by every run, as in the skeleton
        h = F.relu(linear(h, self.fc2_w, self.fc2_b, self.neg_lr))  # (R, B, 120)
        h = linear(h, self.fc3_w, self.fc3_b, self.neg_lr)  # (R, B, 4)
        return F.log_softmax(h, dim=-1)

    @torch.no_grad()
    def sgd_step(self) -> None:
        """Apply p <- p - lr_r * grad to the convolutions of every run r, then clear their gradients.

        (The linear layers took their step during the backward pass.)
        """
        for p in self.conv_parameters():
            if p is self.conv1_w:  # (9, R*8): the run axis is the middle one of (9, R, 8)
                p.view(9, self.n_runs, 8).add_(p.grad.view(9, self.n_runs, 8).mul_(self.neg_lr.view(1, -1, 1)))
            else:
                p.add_(p.grad.mul_(self.neg_lr.view(-1, *([1] * (p.dim() - 1)))))
            p.grad = None

    @torch.no_grad()
    def accuracy(self, images: torch.Tensor, labels: torch.Tensor) -> list[float]:
        """Return each run's accuracy on uint8 images (N, 28, 28) with labels (N,)."""
        correct = torch.zeros(self.n_runs, dtype=torch.int64, device=labels.device)
        for start in range(0, len(images), EVAL_CHUNK):
            logp = self.forward(to_float(images[start:start + EVAL_CHUNK]))  # (R, b, 4)
            correct += (logp.argmax(dim=-1) == labels[start:start + EVAL_CHUNK]).sum(dim=1)
        return (correct.double() / len(images)).tolist()

    def to_models(self, dropout: float) -> list[CNN]:
        """Return the R runs as ordinary CNN modules (on the CPU)."""
        models = []
        for r in range(self.n_runs):
            m = CNN(dropout, no_maxpool=self.no_maxpool)
            state = {
                "conv1.weight": self.conv1_w[:, 8 * r:8 * (r + 1)].t().reshape(8, 1, 3, 3), "conv1.bias": self.conv1_b[r],
                "conv2.weight": self.conv2_w[r], "conv2.bias": self.conv2_b[r],
                "fc1.weight": self.fc1_w[r].t(), "fc1.bias": self.fc1_b[r],
                "fc2.weight": self.fc2_w[r].t(), "fc2.bias": self.fc2_b[r],
                "fc3.weight": self.fc3_w[r].t(), "fc3.bias": self.fc3_b[r],
            }
            m.load_state_dict({k: v.detach().cpu() for k, v in state.items()})
            models.append(m)
        return models


def train_grouped(data: TensorSplits, *, lrs: Sequence[float], no_maxpool: bool, epochs: int,
                  batch_size: int = 8, dropout: float = 0.7, seed: int = 42,
                  device: torch.device | str = "cpu", max_steps: int | None = None, evaluate: bool = True,
                  record_steps: bool = False, progress: bool = False, position: int = 0,
                  stream: SkeletonRandomStream | None = None, checkpoints: CheckpointStore | None = None,
                  checkpoint_name: str | None = None) -> list[RunResult]:
    """Train one variant at every learning rate in ``lrs`` at once; return one RunResult per lr.

    ``stream`` (built from ``seed`` when not given) must be fresh; build it outside any worker
    thread, since seeding it briefly uses torch's global generator.  With ``checkpoints`` the
    state after every epoch is saved as ``checkpoint_name`` and a saved state is resumed: the
    weights, the random stream and the histories, so that the result is the uninterrupted one.
    """
    device = torch.device(device)
    t0 = time.perf_counter()
    runs = [RunResult(lr=float(lr), no_maxpool=no_maxpool) for lr in lrs]
    if device.type == "cpu" and torch.get_num_threads() > 1 and threading.current_thread() is threading.main_thread():
        with _intra_op_threads(1):  # batch-8 steps gain nothing from intra-op threads and lose a lot on busy cores
            return train_grouped(data, lrs=lrs, no_maxpool=no_maxpool, epochs=epochs, batch_size=batch_size,
                                 dropout=dropout, seed=seed, device=device, max_steps=max_steps, evaluate=evaluate,
                                 record_steps=record_steps, progress=progress, position=position, stream=stream,
                                 checkpoints=checkpoints, checkpoint_name=checkpoint_name)
    stream = stream or SkeletonRandomStream(seed, dropout, no_maxpool)
    group = GroupedCNN(stream.initial_model, len(lrs), device)
    lr_t = torch.tensor([float(lr) for lr in lrs], dtype=torch.float32, device=device)
    group.set_lrs(lr_t)
    data = data.to(device)
    n = len(data.train_x)
    n_batches = math.ceil(n / batch_size)
    if max_steps is not None:
        n_batches_total = min(max_steps, n_batches * epochs)
    else:
        n_batches_total = n_batches * epochs
    cums = [[0.0, 0] for _ in runs]
    steps = 0
    first_epoch, time_before = 1, 0.0
    saving = checkpoints is not None and checkpoints.enabled and checkpoint_name is not None and max_steps is None
    state = checkpoints.load(checkpoint_name) if saving else None
    if state is not None:
        with torch.no_grad():
            for p, saved in zip(group.parameters(), state["parameters"]):
                p.copy_(saved)
        stream.generator.set_state(state["generator"])
        lr_t.copy_(state["lrs"])
        group.set_lrs(lr_t)
        runs = [RunResult(**run) for run in state["runs"]]
        cums, steps, time_before = state["cums"], state["steps"], state["train_time_s"]
        first_epoch = state["epoch"] + 1
        for run in runs:
            run.resumed_after_epoch = state["epoch"]
    name = "no-maxpool" if no_maxpool else "maxpool"
    epoch_bar = _bar(progress, total=epochs, desc=f"{name} lr={','.join(f'{lr:g}' for lr in lrs)}",
                     unit="epoch", position=2 * position, initial=first_epoch - 1)
    for epoch in range(first_epoch, epochs + 1):
        order = stream.epoch_order(n).to(device)
        loss_sums = torch.zeros(len(runs), dtype=torch.float64, device=device)
        batches_done = 0
        batch_bar = _bar(progress, total=min(n_batches, n_batches_total - steps), desc=f"{name} epoch {epoch}",
                         unit="batch", position=2 * position + 1, leave=False)
        for start in range(0, n, batch_size):
            idx = order[start:start + batch_size]
            x, y = to_float(data.train_x[idx]), data.train_y[idx]  # (B, 28, 28), (B,)
            mask = stream.dropout_mask(len(idx), 320).to(device)
            logp = group.forward(x, mask)  # (R, B, 4)
            losses = -logp.gather(2, y.view(1, -1, 1).expand(len(runs), -1, 1)).squeeze(2).mean(dim=1)  # (R,)
            losses.sum().backward()
            group.sgd_step()
            losses = losses.detach()
            loss_sums += losses
            if record_steps:
                for run, value in zip(runs, losses.tolist()):
                    run.step_losses.append(value)
            batches_done += 1
            steps += 1
            batch_bar.update(1)
            if max_steps is not None and steps >= max_steps:
                break
        batch_bar.close()
        finite = [_record_epoch(run, s, batches_done, cum, epoch)
                  for run, s, cum in zip(runs, loss_sums.tolist(), cums)]
        if evaluate:
            accs = group.accuracy(data.val_x, data.val_y)
            for run, acc, ok in zip(runs, accs, finite):
                run.val_acc.append(acc if ok else None)
        epoch_bar.update(1)
        if evaluate and progress:
            epoch_bar.set_postfix_str(" ".join("-" if r.val_acc[-1] is None else f"{r.val_acc[-1]:.3f}" for r in runs))
        if any(not ok for ok in finite):
            for r, run in enumerate(runs):  # freeze diverged runs: their weights are NaN/inf anyway
                if run.diverged:
                    lr_t[r] = 0.0
            group.set_lrs(lr_t)
        if saving:
            checkpoints.save(checkpoint_name, {
                "epoch": epoch, "steps": steps, "parameters": [p.detach().cpu() for p in group.parameters()],
                "generator": stream.generator.get_state(), "lrs": lr_t.cpu(), "cums": cums,
                "runs": [run.to_dict() for run in runs], "train_time_s": time_before + time.perf_counter() - t0})
        if max_steps is not None and steps >= max_steps:
            break
    epoch_bar.close()
    if evaluate:
        for run, acc in zip(runs, group.accuracy(data.test_x, data.test_y)):
            run.test_acc = None if run.diverged else acc
    wall = time_before + time.perf_counter() - t0
    for run in runs:
        run.train_time_s = wall
    return runs


def train_sweep(data: TensorSplits, *, lrs: Sequence[float], variants: Sequence[bool], epochs: int,
                batch_size: int = 8, dropout: float = 0.7, seed: int = 42, device: torch.device | str = "cpu",
                parallel: bool = True, max_steps: int | None = None, evaluate: bool = True,
                progress: bool = False, checkpoints: CheckpointStore | None = None) -> list[RunResult]:
    """Train every (variant, lr) pair, one grouped model per variant; return the runs variant by variant.

    On a CPU each variant runs on one core (batch-8 operations gain nothing from
    torch's intra-op threads, and lose a lot when the cores are shared).  With
    ``parallel`` and a core for each (torch's thread count: all cores by default,
    fewer when ``JOBS=N`` shares them out), the variants train side by side in forked
    processes: threads would serialise on the interpreter lock, since a batch-8
    step is mostly Python and dispatch overhead (measured on 2 cores: two threads
    were slower than one variant after the other, two processes faster).
    """
    device = torch.device(device)
    kwargs = dict(lrs=lrs, epochs=epochs, batch_size=batch_size, dropout=dropout, seed=seed, device=device,
                  max_steps=max_steps, evaluate=evaluate, progress=progress, checkpoints=checkpoints)
    cores = torch.get_num_threads()  # this process's share of the cores (HW2_THREADS under JOBS=N)
    workers = min(len(variants), cores) if parallel and device.type == "cpu" else 1
    names = {v: f"q2-{'no_maxpool' if v else 'maxpool'}-seed{seed}" for v in variants}
    if workers <= 1 or "fork" not in multiprocessing.get_all_start_methods():
        return [run for v in variants
                for run in train_grouped(data, no_maxpool=v, checkpoint_name=names[v], **kwargs)]
    jobs = [dict(kwargs, no_maxpool=v, position=i, checkpoint_name=names[v]) for i, v in enumerate(variants)]
    return [run for runs in _in_forked_processes(train_grouped, data, jobs) for run in runs]


def _in_forked_processes(fn, data: TensorSplits, jobs: list[dict]) -> list:
    """Return ``[fn(data, **job) for job in jobs]``, each call in its own forked process with one torch thread.

    Forking hands ``data`` to the children without copying or pickling it (the
    pages are shared); only the small results come back, through a pipe.  An
    error in a child is raised here, with the child's own message.
    """
    ctx = multiprocessing.get_context("fork")
    procs, conns = [], []
    try:
        for job in jobs:
            receiver, sender = ctx.Pipe(duplex=False)
            proc = ctx.Process(target=_child, args=(sender, fn, data, job), daemon=True)
            proc.start()
            sender.close()
            procs.append(proc)
            conns.append(receiver)
        results = []
        for proc, conn in zip(procs, conns):
            try:
                status, value = conn.recv()
            except EOFError:
                proc.join()
                raise RuntimeError(f"a training process died (exit code {proc.exitcode})") from None
            if status != "ok":
                raise RuntimeError(f"a training process failed: {value}")
            results.append(value)
        return results
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.join(timeout=5)
            if proc.is_alive():
                proc.terminate()


def _child(conn, fn, data: TensorSplits, job: dict) -> None:
    """Body of a forked training process: run ``fn`` and send back ("ok", result) or ("error", message)."""
    torch.set_num_threads(1)
    try:
        conn.send(("ok", fn(data, **job)))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which raises it
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        conn.close()


def combine_seeds(per_seed: Sequence[Sequence[RunResult]], seeds: Sequence[int]) -> list[RunResult]:
    """Average the same sweep trained with several seeds into one RunResult per (variant, lr).

    ``per_seed[i]`` is the sweep of ``seeds[i]``, its runs in the same order for every seed.
    Curves and accuracies are means over the seeds whose run did not diverge; ``sd`` holds
    the standard deviations of the final values.  The combined run counts as diverged
    only when it diverged with every seed (``n_diverged_seeds`` says how many did).
    """
    from hw2.stats import mean_curve, mean_sd

    combined = []
    for runs in zip(*per_seed):
        first = runs[0]
        if any((r.lr, r.no_maxpool) != (first.lr, first.no_maxpool) for r in runs):
            raise ValueError("combine_seeds: the sweeps list their runs in different orders")
        ok = [r for r in runs if not r.diverged]
        out = RunResult(lr=first.lr, no_maxpool=first.no_maxpool, seeds=list(seeds),
                        n_diverged_seeds=len(runs) - len(ok), train_time_s=sum(r.train_time_s for r in runs))
        if not ok:
            out.diverged = True
            out.diverged_epoch = min(r.diverged_epoch for r in runs)
            n = len(first.train_loss)
            out.train_loss, out.train_loss_cumulative, out.val_acc = [None] * n, [None] * n, [None] * n
        else:
            out.train_loss = mean_curve([r.train_loss for r in ok])
            out.train_loss_cumulative = mean_curve([r.train_loss_cumulative for r in ok])
            out.val_acc = mean_curve([r.val_acc for r in ok])
            out.test_acc = mean_sd([r.test_acc for r in ok])[0]
            out.sd = {"final_val_acc": mean_sd([r.val_acc[-1] for r in ok])[1],
                      "test_acc": mean_sd([r.test_acc for r in ok])[1],
                      "final_train_loss": mean_sd([r.train_loss[-1] for r in ok])[1]}
        combined.append(out)
    return combined


# --------------------------------------------------------------------------- helpers


@contextmanager
def _intra_op_threads(n: int) -> Iterator[None]:
    """Temporarily set torch's intra-op thread count (restored afterwards)."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def set_postfix_str(self, s: str) -> None:
        pass

    def close(self) -> None:
        pass


def _bar(enabled: bool, **kwargs):
    """Return a tqdm bar when ``enabled``, else an object with the same methods that does nothing."""
    if not enabled:
        return _NoBar()
    from tqdm.auto import tqdm

    kwargs.setdefault("leave", True)
    kwargs.setdefault("dynamic_ncols", True)
    return tqdm(**kwargs)


# --------------------------------------------------------------------------- baseline


def logistic_regression_baseline(data: TensorSplits, *, l2: float = 1e-4, max_iter: int = 100,
                                 seed: int = 0) -> dict:
    """Fit multinomial logistic regression on the raw pixels (784 values / 256, plus a bias) with L-BFGS.

    Returns its train, validation and test accuracies: the bar a CNN should clear.
    """
    gen = torch.Generator().manual_seed(seed)
    x = to_float(data.train_x.cpu()).reshape(len(data.train_x), -1)  # (N, 784)
    y = data.train_y.cpu()
    w = (0.01 * torch.randn(x.shape[1], N_CLASSES, generator=gen, dtype=torch.float64)).float().requires_grad_()
    b = torch.zeros(N_CLASSES, requires_grad=True)
    optimizer = torch.optim.LBFGS([w, b], lr=1.0, max_iter=max_iter, history_size=20,
                                  line_search_fn="strong_wolfe", tolerance_grad=1e-9, tolerance_change=1e-12)

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(x @ w + b, y) + l2 * (w * w).sum()
        loss.backward()
        return loss

    t0 = time.perf_counter()
    optimizer.step(closure)

    def accuracy(images: torch.Tensor, labels: torch.Tensor) -> float:
        with torch.no_grad():
            logits = to_float(images.cpu()).reshape(len(images), -1) @ w + b
            return (logits.argmax(dim=1) == labels.cpu()).double().mean().item()

    return {"train_acc": accuracy(data.train_x, data.train_y), "val_acc": accuracy(data.val_x, data.val_y),
            "test_acc": accuracy(data.test_x, data.test_y), "l2": l2, "max_iter": max_iter,
            "fit_time_s": time.perf_counter() - t0}
