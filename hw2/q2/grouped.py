"""The fast path: all learning rates of one CNN variant trained at once, replaying the skeleton's random draws.

Every run of the skeleton starts from the same seed, and the two variants have
layers of identical shapes, so all runs begin from the same weights, see the same
batches in the same order and draw the same dropout masks; they differ only in
the learning rate.  ``GroupedCNN`` therefore stacks the runs of one variant on a
leading run axis (grouped convolutions, batched matmuls) and
``SkeletonRandomStream`` replays the skeleton's random draws (loader seeds,
shuffles, dropout masks) from a private generator.

Each step computes what the skeleton's step computes, but sums in another order,
so the losses agree to about 1e-7 per step, not bit for bit.  SGD amplifies such
differences: over the first steps the two paths agree closely (a test checks it),
while at learning rate 0.1 on the default data they pass 1e-3 after a few hundred
steps and 0.1 after about a thousand, so a whole training run is an independent
realization of the same procedure rather than a replica of the skeleton's output.
``agreement_with_plain`` measures this (the experiment records it).

A run whose loss becomes NaN or infinite is marked diverged; its later epochs are
recorded as ``None`` and training of the other runs goes on.
"""

from __future__ import annotations

import math
import threading
import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence

import torch
import torch.nn.functional as F

from hw2.resume import CheckpointStore
from hw2.q2.cnn import CNN, IMAGE_SIZE, N_CLASSES, POOL
from hw2.q2.data import EVAL_CHUNK, TensorSplits, to_float
from hw2.q2.history import RunResult, record_epoch, record_validation

# --------------------------------------------------------------------------- the skeleton's random draws


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


# --------------------------------------------------------------------------- the grouped model


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
    """R copies of one ``CNN`` variant trained side by side; every parameter gets a leading run axis.

    Layer shapes, kernels, strides and padding are read from the ``CNN`` it is built from.
    """

    def __init__(self, model: CNN, n_runs: int, device: torch.device | str = "cpu"):
        self.no_maxpool = model.no_maxpool
        self.n_runs = n_runs
        windows = {w.name: w for w in model.windows()}
        self.conv1, self.conv2 = windows["conv1"], windows["conv2"]
        self.conv1_shape = tuple(model.conv1.weight.shape)  # (C1, 1, k, k)
        self.c1, self.c2 = model.conv1.out_channels, model.conv2.out_channels
        self.conv1_size = self.conv1.output_size(IMAGE_SIZE)  # side of conv1's output
        self.features, self.hidden = model.fc1.in_features, model.fc1.out_features  # fc1: 576 -> 320
        p = {name: t.detach().to(device) for name, t in model.named_parameters()}

        def stack(t: torch.Tensor) -> torch.Tensor:
            return t.unsqueeze(0).repeat(n_runs, *([1] * t.dim())).contiguous()

        # conv1 is one matmul shared by the runs: its weight is stored as (k*k, R*C1), contiguous, so that
        # autograd computes its gradient as cols^T @ grad (a transposed weight makes it take a path 5x slower)
        taps = self.conv1.kernel ** 2
        self.conv1_w = stack(p["conv1.weight"].reshape(self.c1, taps)).reshape(n_runs * self.c1, taps).t().contiguous()
        self.conv1_b = stack(p["conv1.bias"])  # (R, C1)
        self.conv2_w, self.conv2_b = stack(p["conv2.weight"]), stack(p["conv2.bias"])  # (R, C2, C1, k, k), (R, C2)
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

    def _convolutions(self, x: torch.Tensor) -> torch.Tensor:
        """Return the features fc1 reads, (R, B, 576), for images x (B, 28, 28)."""
        R, B, C1, size = self.n_runs, x.shape[0], self.c1, self.conv1_size
        # conv1 as one matmul shared by the runs (they all read the same image), with its output
        # channels-last, the layout on which torch's CPU max-pooling and conv2 are fastest
        c = self.conv1
        cols = F.unfold(x.unsqueeze(1), kernel_size=c.kernel, padding=c.padding, stride=c.stride)  # (B, k*k, size*size)
        cols = cols.transpose(1, 2).reshape(B * size * size, c.kernel ** 2)  # (B*size*size, k*k)
        h = torch.addmm(self.conv1_b.view(R * C1), cols, self.conv1_w)  # (B*size*size, R*C1)
        h = h.view(B, size, size, R * C1).permute(0, 3, 1, 2)  # (B, R*C1, size, size), channels-last
        if not self.no_maxpool:
            h = F.max_pool2d(h, POOL)  # (B, R*C1, 14, 14); pooling before ReLU gives the same values, cheaper
        h = F.relu(h)
        c = self.conv2
        h = F.conv2d(h, self.conv2_w.view(R * self.c2, C1, c.kernel, c.kernel), self.conv2_b.view(R * self.c2),
                     stride=c.stride, padding=c.padding, groups=R)  # (B, R*C2, 12, 12) or (B, R*C2, 6, 6)
        if not self.no_maxpool:
            h = F.max_pool2d(h, POOL)  # (B, R*C2, 6, 6)
        h = F.relu(h)
        return h.reshape(B, R, self.features).transpose(0, 1).contiguous()  # (R, B, 576); contiguous for bmm

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Return log-probabilities (R, B, 4) of every run for images x (B, 28, 28) in [0, 1).

        ``mask`` (B, 320) is the dropout mask, shared by every run as in the skeleton; None: eval mode.
        """
        h = self._convolutions(x)  # (R, B, 576)
        linear = _LinearWithSGD.apply if torch.is_grad_enabled() else _linear
        h = F.relu(linear(h, self.fc1_w, self.fc1_b, self.neg_lr))  # (R, B, 320)
        if mask is not None:
            h = h * mask
        h = F.relu(linear(h, self.fc2_w, self.fc2_b, self.neg_lr))  # (R, B, 120)
        h = linear(h, self.fc3_w, self.fc3_b, self.neg_lr)  # (R, B, 4)
        return F.log_softmax(h, dim=-1)

    @torch.no_grad()
    def sgd_step(self) -> None:
        """Apply p <- p - lr_r * grad to the convolutions of every run r, then clear their gradients.

        (The linear layers took their step during the backward pass.)
        """
        for p in self.conv_parameters():
            if p is self.conv1_w:  # (k*k, R*C1): the run axis is the middle one of (k*k, R, C1)
                view = (p.shape[0], self.n_runs, self.c1)
                p.view(view).add_(p.grad.view(view).mul_(self.neg_lr.view(1, -1, 1)))
            else:
                p.add_(p.grad.mul_(self.neg_lr.view(-1, *([1] * (p.dim() - 1)))))
            p.grad = None

    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> torch.Tensor:
        """Return each run's predicted class (R, N) for uint8 images (N, 28, 28)."""
        preds = [self.forward(to_float(images[start:start + EVAL_CHUNK])).argmax(dim=-1)  # (R, b)
                 for start in range(0, len(images), EVAL_CHUNK)]
        return torch.cat(preds, dim=1)

    def accuracy(self, images: torch.Tensor, labels: torch.Tensor) -> list[float]:
        """Return each run's accuracy on uint8 images (N, 28, 28) with labels (N,)."""
        return ((self.predict(images) == labels).sum(dim=1).double() / len(images)).tolist()

    def to_models(self, dropout: float) -> list[CNN]:
        """Return the R runs as ordinary CNN modules (on the CPU)."""
        models = []
        for r in range(self.n_runs):
            m = CNN(dropout, no_maxpool=self.no_maxpool)
            state = {
                "conv1.weight": self.conv1_w[:, self.c1 * r:self.c1 * (r + 1)].t().reshape(self.conv1_shape),
                "conv1.bias": self.conv1_b[r],
                "conv2.weight": self.conv2_w[r], "conv2.bias": self.conv2_b[r],
                "fc1.weight": self.fc1_w[r].t(), "fc1.bias": self.fc1_b[r],
                "fc2.weight": self.fc2_w[r].t(), "fc2.bias": self.fc2_b[r],
                "fc3.weight": self.fc3_w[r].t(), "fc3.bias": self.fc3_b[r],
            }
            m.load_state_dict({k: v.detach().cpu() for k, v in state.items()})
            models.append(m)
        return models


# --------------------------------------------------------------------------- training


@dataclass
class _Progress:
    """Where a grouped training stands: the runs' histories, steps taken, and what a checkpoint holds."""

    runs: list[RunResult]
    lrs: torch.Tensor  # (R,) current learning rates (0 for a diverged run)
    cums: list = field(default_factory=list)  # per run: [sum of batch losses, batches] since epoch 1
    steps: int = 0
    epoch: int = 0  # last finished epoch
    time_before: float = 0.0  # training time spent before a resume

    def snapshot(self, group: GroupedCNN, stream: SkeletonRandomStream, elapsed: float) -> dict[str, Any]:
        """Return the state to checkpoint after an epoch (tensors and plain containers only)."""
        return {"epoch": self.epoch, "steps": self.steps, "parameters": [p.detach().cpu() for p in group.parameters()],
                "generator": stream.generator.get_state(), "lrs": self.lrs.cpu(), "cums": self.cums,
                "runs": [run.to_dict() for run in self.runs], "train_time_s": self.time_before + elapsed}

    def restore(self, state: dict[str, Any], group: GroupedCNN, stream: SkeletonRandomStream) -> None:
        """Continue from a checkpointed ``state``: weights, random stream, learning rates and histories."""
        with torch.no_grad():
            for p, saved in zip(group.parameters(), state["parameters"]):
                p.copy_(saved)
        stream.generator.set_state(state["generator"])
        self.lrs.copy_(state["lrs"])
        self.runs = [RunResult(**run) for run in state["runs"]]
        self.cums, self.steps, self.time_before = state["cums"], state["steps"], state["train_time_s"]
        self.epoch = state["epoch"]
        for run in self.runs:
            run.resumed_after_epoch = state["epoch"]


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
    ``max_steps`` stops after that many batches (tests, benchmarks; no checkpoints then).
    """
    device = torch.device(device)
    stream = stream or SkeletonRandomStream(seed, dropout, no_maxpool)
    group = GroupedCNN(stream.initial_model, len(lrs), device)
    state = _Progress(runs=[RunResult(lr=float(lr), no_maxpool=no_maxpool) for lr in lrs],
                      lrs=torch.tensor([float(lr) for lr in lrs], dtype=torch.float32, device=device),
                      cums=[[0.0, 0] for _ in lrs])
    store = checkpoints if checkpoints is not None and checkpoints.enabled and checkpoint_name \
        and max_steps is None else None
    saved = store.load(checkpoint_name) if store is not None else None
    if saved is not None:
        state.restore(saved, group, stream)
    group.set_lrs(state.lrs)
    data = data.to(device)
    total_steps = min(max_steps or math.inf, math.ceil(len(data.train_x) / batch_size) * epochs)
    bars = _Bars(progress, "no-maxpool" if no_maxpool else "maxpool", lrs, epochs, state.epoch, position)
    t0 = time.perf_counter()
    with _one_thread_on_cpu(device):
        for epoch in range(state.epoch + 1, epochs + 1):
            loss_sums, loss_sq_sums, n_batches = _train_epoch(group, stream, data, state, batch_size, total_steps, record_steps,
                                                bars.batches(epoch, total_steps - state.steps, batch_size, data))
            _end_epoch(group, data, state, epoch, loss_sums, loss_sq_sums, n_batches, evaluate)
            bars.epoch_done(state.runs if evaluate else None)
            if store is not None:
                store.save(checkpoint_name, state.snapshot(group, stream, time.perf_counter() - t0))
            if state.steps >= total_steps:
                break
        bars.close()
        if evaluate:
            for run, acc in zip(state.runs, group.accuracy(data.test_x, data.test_y)):
                run.test_acc = None if run.diverged else acc
    wall = state.time_before + time.perf_counter() - t0
    for run, model in zip(state.runs, group.to_models(dropout)):
        run.train_time_s, run.model_state = wall, model.state_dict()
    return state.runs


def _train_epoch(group: GroupedCNN, stream: SkeletonRandomStream, data: TensorSplits, state: _Progress,
                 batch_size: int, total_steps: float, record_steps: bool,
                 bar: Any) -> tuple[list[float], list[float], int]:
    """Run one epoch of SGD steps on every run at once; return each run's summed batch loss, summed squared
    batch loss, and the number of batches."""
    n = len(data.train_x)
    order = stream.epoch_order(n).to(data.train_x.device)
    loss_sums = torch.zeros(group.n_runs, dtype=torch.float64, device=data.train_x.device)  # (R,)
    loss_sq_sums = torch.zeros_like(loss_sums)  # (R,)
    n_batches = 0
    for start in range(0, n, batch_size):
        idx = order[start:start + batch_size]
        x, y = to_float(data.train_x[idx]), data.train_y[idx]  # (B, 28, 28), (B,)
        mask = stream.dropout_mask(len(idx), group.hidden).to(x.device)  # (B, 320)
        logp = group.forward(x, mask)  # (R, B, 4)
        losses = -logp.gather(2, y.view(1, -1, 1).expand(group.n_runs, -1, 1)).squeeze(2).mean(dim=1)  # (R,)
        losses.sum().backward()
        group.sgd_step()
        losses = losses.detach()
        loss_sums += losses
        loss_sq_sums += losses.double() ** 2
        if record_steps:
            for run, value in zip(state.runs, losses.tolist()):
                run.step_losses.append(value)
        n_batches += 1
        state.steps += 1
        bar.update(1)
        if state.steps >= total_steps:
            break
    bar.close()
    return loss_sums.tolist(), loss_sq_sums.tolist(), n_batches


def _end_epoch(group: GroupedCNN, data: TensorSplits, state: _Progress, epoch: int, loss_sums: list[float],
               loss_sq_sums: list[float], n_batches: int, evaluate: bool) -> None:
    """Record the epoch's losses and validation results; stop the runs that diverged in it."""
    finite = [record_epoch(run, s, sq, n_batches, cum, epoch)
              for run, s, sq, cum in zip(state.runs, loss_sums, loss_sq_sums, state.cums)]
    if evaluate:
        preds = group.predict(data.val_x)  # (R, N)
        for run, ok, pred in zip(state.runs, finite, preds):
            record_validation(run, ok, int((pred == data.val_y).sum()),
                              torch.bincount(pred, minlength=N_CLASSES).tolist(), len(data.val_y))
    if not all(finite):
        for r, run in enumerate(state.runs):  # freeze diverged runs: their weights are NaN/inf anyway
            if run.diverged:
                state.lrs[r] = 0.0
        group.set_lrs(state.lrs)
    state.epoch = epoch


def agreement_with_plain(data: TensorSplits, *, lrs: Sequence[float], lr: float, no_maxpool: bool, steps: int,
                         batch_size: int = 8, dropout: float = 0.7, seed: int = 42) -> list[float]:
    """Return |grouped - skeleton loop| of the training loss at each of the first ``steps`` steps, for run ``lr``.

    The grouped model trains all ``lrs`` together, as the sweep does; the skeleton's loop
    trains ``lr`` alone.  Both on one CPU thread, without evaluation.
    """
    from hw2.q2.plain import train_plain

    with _intra_op_threads(1):
        plain = train_plain(data.to("cpu"), lr=lr, no_maxpool=no_maxpool, epochs=math.ceil(steps * batch_size
                            / len(data.train_x)), batch_size=batch_size, dropout=dropout, seed=seed,
                            max_steps=steps, evaluate=False, record_steps=True)
        grouped = train_grouped(data, lrs=lrs, no_maxpool=no_maxpool, epochs=len(plain.train_loss),
                                batch_size=batch_size, dropout=dropout, seed=seed, max_steps=steps,
                                evaluate=False, record_steps=True)
    run = grouped[list(lrs).index(lr)]
    return [abs(a - b) for a, b in zip(run.step_losses, plain.step_losses)]


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


def _one_thread_on_cpu(device: torch.device):
    """One intra-op thread while training on the CPU from the main thread (else leave the count alone).

    Batch-8 steps gain nothing from intra-op threads and lose a lot on busy cores.  The count is
    process-wide, so a worker thread leaves it to its caller.
    """
    if device.type == "cpu" and threading.current_thread() is threading.main_thread():
        return _intra_op_threads(1)
    return nullcontext()


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def set_postfix_str(self, s: str) -> None:
        pass

    def close(self) -> None:
        pass


class _Bars:
    """Progress bars of a grouped training: one over epochs, one over each epoch's batches (or none)."""

    def __init__(self, enabled: bool, name: str, lrs: Sequence[float], epochs: int, done: int, position: int):
        self.enabled, self.name, self.position = enabled, name, position
        self.epochs = self._bar(total=epochs, desc=f"{name} lr={','.join(f'{lr:g}' for lr in lrs)}", unit="epoch",
                                position=2 * position, initial=done)

    def _bar(self, **kwargs: Any) -> Any:
        if not self.enabled:
            return _NoBar()
        from tqdm.auto import tqdm

        return tqdm(**{"leave": True, "dynamic_ncols": True, **kwargs})

    def batches(self, epoch: int, steps_left: float, batch_size: int, data: TensorSplits) -> Any:
        """Return the bar of one epoch's batches."""
        total = min(math.ceil(len(data.train_x) / batch_size), steps_left)
        return self._bar(total=total, desc=f"{self.name} epoch {epoch}", unit="batch",
                         position=2 * self.position + 1, leave=False)

    def epoch_done(self, runs: list[RunResult] | None) -> None:
        """Advance the epoch bar, showing each run's validation accuracy when evaluated."""
        self.epochs.update(1)
        if runs is not None:
            self.epochs.set_postfix_str(" ".join("-" if r.val_acc[-1] is None else f"{r.val_acc[-1]:.3f}"
                                                 for r in runs))

    def close(self) -> None:
        self.epochs.close()
