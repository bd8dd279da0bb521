"""The McLaurin (Taylor) feature map phi_K: two constructions of the same features.

``exp(t) ~ sum_{n<K} t^n / n!`` with ``t = q.k`` factorises as ``phi_K(q) . phi_K(k)``:

* **symmetric** -- one feature per monomial ``x^a`` with ``|a| = n < K``, weighted by
  ``1/sqrt(a!)`` (``x_i^2`` gets ``1/sqrt 2``, ``x_i x_j`` with i<j gets 1);
  dimension ``C(D+K-1, K-1)``.
* **tensor** -- the Kronecker powers ``x^{(x)n} / sqrt(n!)``; dimension ``sum_{n<K} D^n``.

``mclaurin_features_gather`` is the direct construction (one gather of the n factors of
every monomial, rows of length M); it is kept as the independent reference.
``mclaurin_features`` builds the same features *feature-major* (one row per monomial,
the positions along the row), which is how linear attention uses them:

Every monomial of degree < K in x is a multiset of K-1 indices into ``x' = [1, x]``
(index 0 is the constant), and ``combinations_with_replacement(range(D + 1), K - 1)``
lists them in the gather construction's order (degree 0, 1, 2, ...; each degree in
lexicographic order).  In that order the tuples whose first index is >= i form a suffix,
so the level with k factors is ``concat_i x'_i * (level k-1)[suffix(i)]``: D broadcast
products per level, each writing one contiguous block of rows.  Level k-1 is a prefix of
level k (index 0 multiplies by 1), so every level is built in place in one buffer.
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
    check_args(D, K, form)
    if form == "symmetric":
        return math.comb(D + K - 1, K - 1)
    return sum(D**n for n in range(K))


def check_args(D: int, K: int, form: str) -> None:
    """Raise ValueError unless D >= 1, K >= 1 and form is one of FORMS."""
    if D < 1 or K < 1:
        raise ValueError(f"need D >= 1 and K >= 1, got D={D}, K={K}")
    if form not in FORMS:
        raise ValueError(f"unknown feature-map form {form!r}; use one of {FORMS}")


@lru_cache(maxsize=64)
def _monomials(D: int, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Index tuples i_1 <= ... <= i_n of degree-n monomials and their weights 1/sqrt(a!)."""
    combos = list(itertools.combinations_with_replacement(range(D), n))
    index = torch.tensor(combos, dtype=torch.long).reshape(len(combos), n)
    weights = [1.0 / math.sqrt(_multiplicity_factorial(combo)) for combo in combos]
    return index, torch.tensor(weights, dtype=torch.float64)


def _multiplicity_factorial(combo: tuple[int, ...]) -> int:
    """Return a! for the exponent vector a of the monomial whose factor indices are ``combo``."""
    return math.prod(math.factorial(combo.count(i)) for i in set(combo))


@lru_cache(maxsize=64)
def build_plan(D: int, K: int) -> tuple[tuple[int, int, int, int], ...]:
    """Return the products that fill the monomial rows: (i, src_start, src_stop, dst_start) each.

    Rows of the (M, N) buffer are the sorted (K-1)-tuples over the D+1 symbols of
    ``x' = [1, x]``, lexicographic.  Going from k to k+1 factors, the rows of level k whose
    first index is >= i start at ``C(D+k, k) - C(D+1-i+k-1, k)``; row block i of level k+1
    (i >= 1) is ``x'_i * rows[src_start:src_stop]`` and lands at ``dst_start``.
    """
    n = D + 1
    ops = []
    for k in range(1, K - 1):
        size_k = math.comb(n + k - 1, k)
        dst = size_k  # block i = 0 of level k+1 is level k itself, already in place
        for i in range(1, n):
            src = size_k - math.comb(n - i + k - 1, k)
            ops.append((i, src, size_k, dst))
            dst += size_k - src
        assert dst == math.comb(n + k, k + 1)
    return tuple(ops)


@lru_cache(maxsize=64)
def _tuple_weights(D: int, K: int) -> torch.Tensor:
    """Return 1/sqrt(a!) for every sorted (K-1)-tuple over {0..D} (index 0, the constant, has no weight)."""
    if K == 1:
        return torch.ones(1, dtype=torch.float64)
    weights = []
    for combo in itertools.combinations_with_replacement(range(D + 1), K - 1):
        weights.append(1.0 / math.sqrt(_multiplicity_factorial(tuple(i for i in combo if i))))
    return torch.tensor(weights, dtype=torch.float64)


@lru_cache(maxsize=256)
def monomial_weights(D: int, K: int, dtype: torch.dtype, device: str, squared: bool = False) -> torch.Tensor:
    """Return the (M,) weights 1/sqrt(a!) of the symmetric map (their squares when ``squared``)."""
    w = _tuple_weights(D, K)
    return (w * w if squared else w).to(dtype=dtype, device=device)


# feature-major construction ----------------------------------------------------

def monomial_rows(xT: torch.Tensor, K: int, out: torch.Tensor | None = None) -> torch.Tensor:
    """Return the unweighted symmetric monomials feature-major: (..., D, N) -> (..., M, N).

    Rows come in the order of ``mclaurin_features_gather(..., "symmetric")``; ``out``
    (shape (..., M, N)) is filled in place when given.
    """
    D, N = xT.shape[-2], xT.shape[-1]
    M = math.comb(D + K - 1, K - 1)
    if out is None:
        out = torch.empty(*xT.shape[:-2], M, N, dtype=xT.dtype, device=xT.device)
    out[..., 0, :] = 1
    if K == 1:
        return out
    out[..., 1:D + 1, :] = xT
    for i, src, stop, dst in build_plan(D, K):
        # x'_i (one row) times the suffix of the previous level (stop - src rows): one block
        torch.mul(out[..., i:i + 1, :], out[..., src:stop, :], out=out[..., dst:dst + stop - src, :])
    return out


def tensor_rows(xT: torch.Tensor, K: int) -> torch.Tensor:
    """Return tensor-product features with 1/sqrt(n!) included, feature-major: (..., D, N) -> (..., M, N)."""
    D, N = xT.shape[-2], xT.shape[-1]
    M = sum(D**n for n in range(K))
    out = torch.empty(*xT.shape[:-2], M, N, dtype=xT.dtype, device=xT.device)
    out[..., 0, :] = 1
    prev, start, size = None, 1, 1
    for n in range(1, K):
        block = out[..., start:start + size * D, :]
        if prev is None:
            block.copy_(xT)
        else:
            # x^{(x)n}/sqrt(n!) = (x^{(x)(n-1)}/sqrt((n-1)!)) (x) x / sqrt(n); index (a, b) -> a*D + b
            torch.mul(prev.unsqueeze(-2), xT.unsqueeze(-3) * (1.0 / math.sqrt(n)), out=block.unflatten(-2, (size, D)))
        prev, start, size = block, start + size * D, size * D
    return out


# public feature maps --------------------------------------------------------------

def mclaurin_features(x: torch.Tensor, K: int = 3, form: str = "symmetric") -> torch.Tensor:
    """Return phi_K(x): (..., D) -> (..., M) so that phi(q).phi(k) = sum_{n<K} (q.k)^n / n!."""
    D = x.shape[-1]
    check_args(D, K, form)
    lead = x.shape[:-1]
    xT = x.reshape(-1, D).T  # (N, D) -> (D, N)
    if form == "symmetric":
        rows = monomial_rows(xT, K)  # (M, N)
        rows.mul_(monomial_weights(D, K, x.dtype, str(x.device)).unsqueeze(-1))
    else:
        rows = tensor_rows(xT, K)
    return rows.T.contiguous().reshape(*lead, rows.shape[0])


def mclaurin_features_gather(x: torch.Tensor, K: int = 3, form: str = "symmetric") -> torch.Tensor:
    """Return phi_K(x) built position by position (gather of each monomial's factors): (..., D) -> (..., M).

    The first implementation, kept as the reference the fast map is tested against and as
    the "old" path of benchmarks/q1_attention_speed.py.
    """
    D = x.shape[-1]
    check_args(D, K, form)
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
