"""Q1 numerics, checked against brute-force computations written independently here."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from hw2.q1.attention import (
    feature_dim,
    mclaurin_features,
    softmax_attention,
    taylor_attention_linear,
    taylor_attention_quadratic,
    taylor_exp,
)


def brute_force_features(x: list[float], K: int) -> dict[tuple[int, ...], float]:
    """Features keyed by exponent vector alpha, weight 1/sqrt(alpha!), by enumerating all exponents."""
    D = len(x)
    feats = {}
    for alpha in itertools.product(range(K), repeat=D):
        if sum(alpha) >= K:
            continue
        value = 1.0
        for xi, a in zip(x, alpha):
            value *= xi**a / math.sqrt(math.factorial(a))
        feats[alpha] = value
    return feats


@pytest.mark.parametrize("D,K", [(1, 1), (1, 4), (2, 3), (3, 3), (4, 2), (3, 4), (5, 3)])
def test_symmetric_map_matches_brute_force_monomials(D, K):
    gen = torch.Generator().manual_seed(D * 10 + K)
    x = torch.randn(D, generator=gen, dtype=torch.float64)
    ours = mclaurin_features(x, K, "symmetric")
    reference = brute_force_features(x.tolist(), K)
    assert ours.shape[-1] == len(reference) == feature_dim(D, K)
    # same multiset of values (the order of monomials is the code's own choice)
    assert torch.allclose(ours.sort().values, torch.tensor(sorted(reference.values()), dtype=torch.float64))


@pytest.mark.parametrize("form", ["symmetric", "tensor"])
@pytest.mark.parametrize("D,K", [(2, 2), (3, 3), (4, 4), (6, 3)])
def test_kernel_equals_truncated_series(form, D, K):
    gen = torch.Generator().manual_seed(7)
    q = torch.randn(32, D, generator=gen, dtype=torch.float64)
    k = torch.randn(32, D, generator=gen, dtype=torch.float64)
    kernel = (mclaurin_features(q, K, form) * mclaurin_features(k, K, form)).sum(-1)
    # brute force: the series term by term with Python floats
    for row in range(4):
        t = sum(a * b for a, b in zip(q[row].tolist(), k[row].tolist()))
        series = sum(t**n / math.factorial(n) for n in range(K))
        assert kernel[row].item() == pytest.approx(series, rel=1e-12, abs=1e-12)


def test_feature_dims_match_spec_numbers():
    assert feature_dim(16, 3, "symmetric") == 153  # SPEC: "Based" with 16-dim projections
    assert feature_dim(16, 3, "tensor") == 273
    for D in range(1, 20):
        assert feature_dim(D, 3) == (D + 1) * (D + 2) // 2
        assert feature_dim(D, 3, "tensor") == 1 + D + D * D


def test_invalid_arguments_are_rejected():
    with pytest.raises(ValueError):
        feature_dim(0, 3)
    with pytest.raises(ValueError):
        mclaurin_features(torch.zeros(3), 3, "diagonal")


def brute_force_taylor_attention(Q, K, V, terms):
    """Z_i = sum_j P(q_i.k_j) v_j / sum_j P(q_i.k_j), with explicit loops."""
    L = Q.shape[0]
    out = torch.zeros_like(V)
    for i in range(L):
        weights = [taylor_exp(torch.dot(Q[i], K[j]), terms) for j in range(L)]
        total = sum(weights)
        out[i] = sum(w * V[j] for j, w in enumerate(weights)) / total
    return out


@pytest.mark.parametrize("terms", [3, 5])
def test_linear_and_quadratic_forms_match_loops(terms):
    gen = torch.Generator().manual_seed(3)
    Q, K, V = (torch.randn(12, 4, generator=gen, dtype=torch.float64) * 0.6 for _ in range(3))
    expected = brute_force_taylor_attention(Q, K, V, terms)
    assert torch.allclose(taylor_attention_quadratic(Q, K, V, terms), expected, atol=1e-12)
    assert torch.allclose(taylor_attention_linear(Q, K, V, terms), expected, atol=1e-12)
    assert torch.allclose(taylor_attention_linear(Q, K, V, terms, form="tensor"), expected, atol=1e-12)


def test_batched_float32_and_close_to_softmax_for_small_scores():
    gen = torch.Generator().manual_seed(5)
    Q, K, V = (torch.randn(3, 2, 40, 8, generator=gen) * 0.15 for _ in range(3))
    lin = taylor_attention_linear(Q, K, V, 3)
    assert lin.shape == (3, 2, 40, 8) and lin.dtype == torch.float32
    exact = softmax_attention(Q, K, V)
    # |q.k| is tiny, so exp(t) ~ 1 + t + t^2/2 is accurate to O(t^3)
    assert (lin - exact).abs().max() < 1e-4


def test_softmax_attention_matches_definition():
    gen = torch.Generator().manual_seed(1)
    Q, K, V = (torch.randn(6, 3, generator=gen, dtype=torch.float64) for _ in range(3))
    scores = Q @ K.T
    weights = scores.exp() / scores.exp().sum(-1, keepdim=True)
    assert torch.allclose(softmax_attention(Q, K, V), weights @ V)
