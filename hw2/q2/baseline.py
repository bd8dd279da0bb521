"""The bar a CNN should clear on Q2: multinomial logistic regression on the raw pixels."""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F

from hw2.q2.cnn import N_CLASSES
from hw2.q2.data import TensorSplits, to_float


def logistic_regression_baseline(data: TensorSplits, *, l2: float = 1e-4, max_iter: int = 100,
                                 seed: int = 0) -> dict:
    """Fit multinomial logistic regression on the raw pixels (784 values / 256, plus a bias) with L-BFGS.

    Returns its train, validation and test accuracies, its settings and its fitting time.
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
