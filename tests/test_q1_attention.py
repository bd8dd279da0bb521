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


# the fast path against the first implementation ------------------------------------------

from hw2.q1 import attention as attention_module  # noqa: E402
from hw2.q1.attention import (  # noqa: E402
    default_chunk,
    linear_workspace_bytes,
    taylor_attention_linear_gather,
)
from hw2.q1.features import mclaurin_features_gather  # noqa: E402

# float64 agrees to rounding; float32 to a few units of its epsilon (1.2e-7) times the length of the sums
TOLERANCE = {torch.float64: 1e-12, torch.float32: 2e-6}


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max())


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("form", ["symmetric", "tensor"])
@pytest.mark.parametrize("K", [1, 2, 3, 4, 5])
def test_fast_features_equal_the_gathered_ones(dtype, form, K):
    gen = torch.Generator().manual_seed(K)
    for D in (1, 2, 3, 5, 8):
        if form == "tensor" and D ** (K - 1) > 5000:
            continue
        x = (torch.randn(2, 7, D, generator=gen, dtype=torch.float64) / D**0.25).to(dtype)
        fast, reference = mclaurin_features(x, K, form), mclaurin_features_gather(x, K, form)
        assert fast.shape == reference.shape == (2, 7, feature_dim(D, K, form))
        assert fast.dtype == dtype
        assert relative_error(fast, reference) < TOLERANCE[dtype], (D, K, form)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("K", [1, 2, 3, 4, 5])
def test_fast_features_give_the_kernel_of_the_tensor_form(dtype, K):
    """Symmetric features of the fast map reproduce phi.phi of the gathered tensor-product map."""
    gen = torch.Generator().manual_seed(10 + K)
    q, k = (torch.randn(16, 4, generator=gen, dtype=torch.float64).to(dtype) for _ in range(2))
    fast = (mclaurin_features(q, K) * mclaurin_features(k, K)).sum(-1)
    tensor = (mclaurin_features_gather(q, K, "tensor") * mclaurin_features_gather(k, K, "tensor")).sum(-1)
    assert relative_error(fast, tensor) < TOLERANCE[dtype]


# (query shape, key/value shape, chunk): one slab with Q and K stacked, several slabs with a
# remainder, lead dimensions broadcast between Q and K/V, keys longer than queries
SHAPES = [((300,), (300,), -1), ((2, 257), (2, 257), 64), ((3, 1, 100), (1, 100), None),
          ((2, 130), (130,), 0), ((1, 3000), (1, 3000), 1500), ((2, 3, 50), (2, 3, 70), 16),
          ((2, 3, 50), (2, 3, 70), -1)]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("form", ["symmetric", "tensor"])
@pytest.mark.parametrize("terms", [1, 2, 3, 4])
def test_fast_linear_attention_equals_the_reference(dtype, form, terms):
    gen = torch.Generator().manual_seed(terms)
    D = 4 if form == "tensor" and terms == 4 else 8
    for qshape, kshape, chunk in SHAPES:
        Q = (torch.randn(*qshape, D, generator=gen, dtype=torch.float64) / D**0.25).to(dtype)
        Kt = (torch.randn(*kshape, D, generator=gen, dtype=torch.float64) / D**0.25).to(dtype)
        V = torch.randn(*kshape, D, generator=gen, dtype=torch.float64).to(dtype)
        fast = taylor_attention_linear(Q, Kt, V, terms, form, chunk=chunk)
        reference = taylor_attention_linear_gather(Q, Kt, V, terms, form)
        assert fast.shape == reference.shape and fast.dtype == dtype
        # K = 4: the normaliser can come close to 0, so allow for its conditioning
        assert relative_error(fast, reference) < TOLERANCE[dtype] * (50 if terms == 4 else 5), (qshape, chunk)


def test_fast_linear_attention_equals_the_quadratic_form_batched():
    gen = torch.Generator().manual_seed(4)
    Q, Kt, V = (torch.randn(2, 3, 200, 16, generator=gen, dtype=torch.float64) / 2 for _ in range(3))
    quadratic = taylor_attention_quadratic(Q, Kt, V, 3)
    for chunk in (-1, 32, None):
        assert torch.allclose(taylor_attention_linear(Q, Kt, V, 3, chunk=chunk), quadratic, rtol=1e-11, atol=1e-12)


def test_reused_buffers_never_leak_between_calls():
    """The per-thread plans keep buffers; a second input of the same shape must not see the first one's."""
    gen = torch.Generator().manual_seed(6)
    Q1, K1, V1, Q2, K2, V2 = (torch.randn(500, 8, generator=gen, dtype=torch.float64) for _ in range(6))
    first = taylor_attention_linear(Q1, K1, V1)
    second = taylor_attention_linear(Q2, K2, V2)
    assert torch.allclose(second, taylor_attention_linear_gather(Q2, K2, V2), rtol=1e-11, atol=1e-12)
    assert torch.allclose(first, taylor_attention_linear_gather(Q1, K1, V1), rtol=1e-11, atol=1e-12)
    assert first.data_ptr() != second.data_ptr()  # each call returns a tensor of its own


def test_gradients_flow_through_the_linear_form():
    gen = torch.Generator().manual_seed(8)
    Q, Kt, V = (torch.randn(20, 4, generator=gen, dtype=torch.float64, requires_grad=True) for _ in range(3))
    assert torch.autograd.gradcheck(lambda q, k, v: taylor_attention_linear(q, k, v, 3), (Q, Kt, V))


def test_invalid_forms_and_terms_are_rejected_by_the_fast_path():
    x = torch.zeros(4, 3)
    with pytest.raises(ValueError):
        taylor_attention_linear(x, x, x, 0)
    with pytest.raises(ValueError):
        taylor_attention_linear(x, x, x, 3, form="diagonal")


# memory -----------------------------------------------------------------------------------------

def test_default_chunk_keeps_a_slab_near_two_mebibytes():
    for D in (4, 8, 16, 32, 64):
        M = feature_dim(D, 3)
        chunk = default_chunk(M, 4)
        assert chunk % 256 == 0 and chunk >= 1024
        assert chunk * M * 4 <= max(attention_module.SLAB_BYTES, 1024 * M * 4)


def test_workspace_grows_like_L_D_not_L_M_or_L_squared():
    D = 16
    M = feature_dim(D, 3)
    small, large = (linear_workspace_bytes(L, L, D, D) for L in (1 << 16, 1 << 17))
    # doubling L past one slab adds only the O(L D) rows of [V 1]^T: far below L M or L^2
    assert large - small == (1 << 16) * (D + 1) * 4
    assert large < (1 << 17) * M * 4 / 4


@pytest.mark.parametrize("L, D, chunk", [(4096, 8, 1024), (4096, 8, -1), (3000, 16, None), (6000, 32, -1)])
def test_measured_peak_allocation_matches_the_workspace_bound(L, D, chunk):
    """torch's own allocation records (profiler) stay within the buffers the code says it needs."""
    from hw2.q1.measure import peak_allocated_bytes

    gen = torch.Generator().manual_seed(L)
    Q, Kt, V = (torch.randn(L, D, generator=gen) for _ in range(3))
    peak = peak_allocated_bytes(lambda: taylor_attention_linear(Q, Kt, V, chunk=chunk), fresh_plans=True)
    bound = linear_workspace_bytes(L, L, D, D, chunk=chunk) + Q.nbytes  # + the output
    assert 0 < peak <= bound * 1.01 + 4096
    assert peak < L * L * 4  # never an L x L matrix


def test_exact_attention_peak_is_two_square_matrices():
    from hw2.q1.measure import peak_allocated_bytes

    L, D = 1024, 8
    Q, Kt, V = (torch.randn(L, D) for _ in range(3))
    peak = peak_allocated_bytes(lambda: softmax_attention(Q, Kt, V))
    assert 2 * L * L * 4 <= peak < 2 * L * L * 4 + 4 * L * D * 4
