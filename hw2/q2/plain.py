"""The course skeleton's training loop for the Q2 CNN, line for line: the reference the fast path is tested against.

Seed 42, a per-item Dataset in a shuffled batch-8 ``DataLoader``, ``nn.Dropout``,
``torch.optim.SGD`` without weight decay and ``NLLLoss``, all on torch's global
random stream (forked, so the caller's stream is left alone); validation accuracy
after every epoch and test accuracy at the end.
"""

from __future__ import annotations

import time

import torch
import torch.nn as nn
from torch.utils.data import DataLoader, Dataset

from hw2.q2.cnn import CNN, N_CLASSES
from hw2.q2.data import EVAL_CHUNK, TensorSplits, to_float
from hw2.q2.history import RunResult, record_epoch, record_validation


class ItemDataset(Dataset):
    """The skeleton's ClassificationDataset: one (784 floats, label) pair per item."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor):
        self.X = to_float(images).reshape(len(images), -1)  # (N, 784)
        self.y = labels

    def __len__(self) -> int:
        return len(self.X)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.X[i], self.y[i]


@torch.no_grad()
def predict(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """Return the class ``model`` (put in eval mode, then back in train mode) predicts for each image (N,)."""
    model.eval()
    preds = [model(to_float(images[start:start + EVAL_CHUNK])).argmax(dim=-1)
             for start in range(0, len(images), EVAL_CHUNK)]
    model.train()
    return torch.cat(preds) if preds else torch.zeros(0, dtype=torch.int64)


def evaluate_plain(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    """Return the accuracy of ``model`` on ``images``, as the skeleton's evaluate."""
    return (predict(model, images) == labels).sum().item() / len(images)


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
        cum, steps = [0.0, 0], 0
        t0 = time.perf_counter()  # the training loop only (not building the dataset)
        for epoch in range(1, epochs + 1):
            loss_sum, loss_sq_sum, n_batches = 0.0, 0.0, 0
            for x, y in loader:
                optimizer.zero_grad()
                loss = criterion(model(x), y)
                loss.backward()
                optimizer.step()
                loss_sum += loss.item()
                loss_sq_sum += loss.item() ** 2
                n_batches, steps = n_batches + 1, steps + 1
                if record_steps:
                    run.step_losses.append(loss.item())
                if max_steps is not None and steps >= max_steps:
                    break
            finite = record_epoch(run, loss_sum, loss_sq_sum, n_batches, cum, epoch)
            if evaluate:
                preds = predict(model, data.val_x)
                record_validation(run, finite, (preds == data.val_y).sum().item(),
                                  torch.bincount(preds, minlength=N_CLASSES).tolist(), len(data.val_y))
            if max_steps is not None and steps >= max_steps:
                break
        if evaluate and not run.diverged:
            run.test_acc = evaluate_plain(model, data.test_x, data.test_y)
        run.train_time_s = time.perf_counter() - t0
        run.model_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    return run
