"""Self-attention, the McLaurin (Taylor) feature map, and linear attention (Q1).

The truncated series ``exp(t) ~ sum_{n<K} t^n / n!`` with ``t = q.k`` factorises as
``phi_K(q) . phi_K(k)``.  Two feature maps give the same kernel:

* **symmetric** -- one feature per monomial ``x^a`` with ``|a| = n < K``, weighted
  by ``1/sqrt(a!)`` (so ``x_i^2`` gets ``1/sqrt 2`` and ``x_i x_j``, i<j, gets 1);
  dimension ``C(D+K-1, K-1)``.
* **tensor** -- the Kronecker powers ``x^{(x)n} / sqrt(n!)``; dimension
  ``sum_{n<K} D^n`` (repeats every mixed monomial).

All functions take batched torch tensors ``(..., L, D)`` of any float dtype.
"""

from __future__ import annotations

import itertools
import math
from functools import lru_cache

import torch

FORMS = ("symmetric", "tensor")


# helpers ---------------------------------------------------------------------

def feature_dim(D: int, K: int, form: str = "symmetric") -> int:
    """Return the feature-space size M of phi_K on R^D."""
    _check(D, K, form)
    if form == "symmetric":
        return math.comb(D + K - 1, K - 1)
    return sum(D**n for n in range(K))


def _check(D: int, K: int, form: str) -> None:
    if D < 1 or K < 1:
        raise ValueError(f"need D >= 1 and K >= 1, got D={D}, K={K}")
    if form not in FORMS:
        raise ValueError(f"unknown feature-map form {form!r}; use one of {FORMS}")


@lru_cache(maxsize=64)
def _monomials(D: int, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Index tuples i_1 <= ... <= i_n of degree-n monomials and their weights 1/sqrt(a!)."""
    combos = list(itertools.combinations_with_replacement(range(D), n))
    index = torch.tensor(combos, dtype=torch.long).reshape(len(combos), n)
    weights = []
    for combo in combos:
        multiplicities = [combo.count(i) for i in set(combo)]
        weights.append(1.0 / math.sqrt(math.prod(math.factorial(m) for m in multiplicities)))
    return index, torch.tensor(weights, dtype=torch.float64)


# classes / functions ---------------------------------------------------------

def mclaurin_features(x: torch.Tensor, K: int = 3, form: str = "symmetric") -> torch.Tensor:
    """Return phi_K(x): (..., D) -> (..., M) so that phi(q).phi(k) = sum_{n<K} (q.k)^n / n!."""
    D = x.shape[-1]
    _check(D, K, form)
    blocks = [torch.ones(*x.shape[:-1], 1, dtype=x.dtype, device=x.device)]
    if form == "symmetric":
        for n in range(1, K):
            index, weights = _monomials(D, n)
            index = index.to(x.device)
            # (..., D) -> (..., C(D+n-1, n), n) -> product over the n factors
            monomial = x[..., index].prod(dim=-1)
            blocks.append(monomial * weights.to(device=x.device, dtype=x.dtype))
    else:
        power = blocks[0]
        for n in range(1, K):
            # (..., D^(n-1)) x (..., D) -> (..., D^n)
            power = (power.unsqueeze(-1) * x.unsqueeze(-2)).flatten(-2)
            blocks.append(power / math.sqrt(math.factorial(n)))
    return torch.cat(blocks, dim=-1)


def taylor_exp(t: torch.Tensor, K: int) -> torch.Tensor:
    """Return the K-term McLaurin polynomial of exp evaluated at t."""
    out = torch.zeros_like(t)
    term = torch.ones_like(t)
    for n in range(K):
        out = out + term
        term = term * t / (n + 1)
    return out


def softmax_attention(Q: torch.Tensor, K: torch.Tensor, V: torch.Tensor) -> torch.Tensor:
    """Return Softmax(Q K^T) V (no 1/sqrt(D) scaling, as in the handout): (..., L, D)."""
    scores = Q @ K.transpose(-1, -2)  # (..., L, L)
    return torch.softmax(scores, dim=-1) @ V


def taylor_attention_quadratic(Q: torch.Tensor, K: torch.Tensor, V: torch.Tensor, terms: int = 3,
                               form: str = "symmetric") -> torch.Tensor:
    """Return D^-1 Phi(Q) Phi(K)^T V computed left to right: O(L^2 M) time, O(L^2) memory."""
    phi_q = mclaurin_features(Q, terms, form)  # (..., L, M)
    phi_k = mclaurin_features(K, terms, form)
    weights = phi_q @ phi_k.transpose(-1, -2)  # (..., L, L)
    return (weights @ V) / weights.sum(dim=-1, keepdim=True)


def taylor_attention_linear(Q: torch.Tensor, K: torch.Tensor, V: torch.Tensor, terms: int = 3,
                            form: str = "symmetric") -> torch.Tensor:
    """Return D^-1 Phi(Q) (Phi(K)^T V) with Phi(K)^T V formed first: O(L M D) time."""
    phi_q = mclaurin_features(Q, terms, form)  # (..., L, M)
    phi_k = mclaurin_features(K, terms, form)
    kv = phi_k.transpose(-1, -2) @ V  # (..., M, D)
    k_sum = phi_k.sum(dim=-2)  # (..., M)  = Phi(K)^T 1_L
    numerator = phi_q @ kv  # (..., L, D)
    denominator = phi_q @ k_sum.unsqueeze(-1)  # (..., L, 1)
    return numerator / denominator


def taylor_attention_weights(Q: torch.Tensor, K: torch.Tensor, terms: int) -> torch.Tensor:
    """Return the row-normalised weights P_K(QK^T) / rowsum: the approximation of Softmax(QK^T)."""
    weights = taylor_exp(Q @ K.transpose(-1, -2), terms)
    return weights / weights.sum(dim=-1, keepdim=True)
