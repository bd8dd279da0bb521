"""The fused C kernel of linear Taylor attention: same numbers as the references, chosen only where it applies,
its workspace seen by the profiler and independent of L, and a clean fallback when it cannot be built."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from hw2.q1 import fused, measure
from hw2.q1.attention import (
    linear_implementation,
    taylor_attention_linear,
    taylor_attention_linear_gather,
    taylor_attention_quadratic,
)
from pipeline.fingerprint import imported_sources

REPO = Path(__file__).resolve().parent.parent
needs_kernel = pytest.mark.skipif(fused._compiler() is None, reason="no C compiler: the torch path is tested instead")

# float32 kernel against a float64 reference: inputs scaled like the experiment's (q.k of order 1), outputs of
# order 1; 1e-5 is about 100 float32 ulps at 1, room for the different summation order over up to 4,000 keys
TOL = 1e-5


def _qkv(shape_q, shape_k, shape_v, seed=0):
    gen = torch.Generator().manual_seed(seed)
    D = shape_q[-1]
    Q = torch.randn(*shape_q, generator=gen) / D**0.25
    K = torch.randn(*shape_k, generator=gen) / D**0.25
    V = torch.randn(*shape_v, generator=gen)
    return Q, K, V


@needs_kernel
@pytest.mark.parametrize("D", [1, 2, 8, 16, 30, 31, 33])  # 30: the largest with vector monomials, 31+: scalar ones
def test_kernel_matches_the_gather_reference(D):
    assert fused.available(), fused.status()
    for L, Lk, Dv in ((1, 1, 1), (37, 101, 5), (130, 64, D), (1000, 999, 3)):
        Q, K, V = _qkv((2, L, D), (2, Lk, D), (2, Lk, Dv), seed=D + L)
        with torch.no_grad():
            assert linear_implementation(Q, K, V) == "fused"
            out = taylor_attention_linear(Q, K, V)
        ref = taylor_attention_linear_gather(Q.double(), K.double(), V.double())
        assert out.dtype == torch.float32 and out.shape == (2, L, Dv)
        assert torch.allclose(out.double(), ref, atol=TOL, rtol=TOL), (D, L, Lk, Dv, (out - ref).abs().max())


@needs_kernel
def test_kernel_matches_the_quadratic_form_and_broadcasts():
    Q, K, V = _qkv((3, 1, 50, 8), (1, 4, 70, 8), (3, 4, 70, 2))
    with torch.no_grad():
        out = taylor_attention_linear(Q, K, V)
        torch_path = taylor_attention_linear(Q, K, V, impl="torch")
    Qb, Kb, Vb = Q.expand(3, 4, 50, 8), K.expand(3, 4, 70, 8), V  # the reference does not broadcast
    ref = taylor_attention_quadratic(Qb.double(), Kb.double(), Vb.double())
    assert out.shape == (3, 4, 50, 2)
    assert torch.allclose(out.double(), ref, atol=TOL, rtol=TOL)
    assert torch.allclose(out, torch_path, atol=TOL, rtol=TOL)
    # non-contiguous inputs are copied, not misread
    Qt = Q[0, 0].T.contiguous().T  # same values, column-major
    assert not Qt.is_contiguous()
    k, v = K[0, 0], V[0, 0]
    with torch.no_grad():
        assert torch.allclose(taylor_attention_linear(Qt, k, v).double(),
                              taylor_attention_quadratic(Qt.double(), k.double(), v.double()), atol=TOL)


@needs_kernel
def test_two_threads_give_the_one_thread_result(monkeypatch):
    Q, K, V = _qkv((4096, 16), (4096, 16), (4096, 16))
    assert fused.threads_for(4096, 4096, 16, 16) == torch.get_num_threads()
    assert fused.threads_for(16, 16, 8, 8) == 1  # tiny calls stay on one thread
    with torch.no_grad():
        many = taylor_attention_linear(Q, K, V)
        monkeypatch.setattr(fused, "threads_for", lambda *args: 1)
        one = taylor_attention_linear(Q, K, V)
    # the keys are summed in per-thread shares, so the last bits may differ; nothing more
    assert torch.allclose(many, one, atol=1e-6, rtol=1e-5)


def test_the_kernel_is_used_only_where_it_applies():
    Q, K, V = _qkv((10, 4), (10, 4), (10, 4))
    with torch.no_grad():
        expected = "fused" if fused.available() else "torch"
        assert linear_implementation(Q, K, V) == expected
        assert linear_implementation(Q, K, V, impl="torch") == "torch"
        assert linear_implementation(Q.double(), K.double(), V.double()) == "torch"  # float32 only
        assert linear_implementation(Q, K, V, terms=4) == "torch"  # K = 3 only
        assert linear_implementation(Q, K, V, form="tensor") == "torch"  # the tensor form is the torch path's
        with pytest.raises(ValueError, match="fused kernel needs"):
            linear_implementation(Q.double(), K.double(), V.double(), impl="fused")
        with pytest.raises(ValueError, match="unknown implementation"):
            linear_implementation(Q, K, V, impl="cuda")
    Qg = Q.clone().requires_grad_()
    assert linear_implementation(Qg, K, V) == "gather"  # gradients need the differentiable reference
    taylor_attention_linear(Qg, K, V).sum().backward()
    assert Qg.grad is not None


@needs_kernel
def test_workspace_is_a_torch_allocation_independent_of_L():
    peaks = {}
    for L in (1024, 4096):
        Q, K, V = _qkv((L, 16), (L, 16), (L, 16))
        nt = fused.threads_for(L, L, 16, 16)
        peaks[L] = measure.peak_allocated_bytes(lambda: taylor_attention_linear(Q, K, V), fresh_plans=True)
        # output plus the workspace the kernel asks for, nothing else (the profiler sees both)
        assert peaks[L] == L * 16 * 4 + fused.workspace_floats(16, 16, nt) * 4
    # growing L by 3,072 positions adds only their outputs: O(L D), never O(L M) or O(L^2)
    assert peaks[4096] - peaks[1024] == 3072 * 16 * 4
    # kept between calls: a second call allocates only its output
    Q, K, V = _qkv((4096, 16), (4096, 16), (4096, 16))
    taylor_attention_linear(Q, K, V)
    assert measure.peak_allocated_bytes(lambda: taylor_attention_linear(Q, K, V)) == 4096 * 16 * 4


def test_kernel_source_is_part_of_the_fingerprint():
    assert "hw2/q1/fused_taylor.c" in imported_sources()


def _fallback_run(env: dict[str, str]) -> list[str]:
    code = ("import torch; from hw2.q1 import fused; from hw2.q1.attention import taylor_attention_linear, "
            "linear_implementation\n"
            "Q = torch.randn(20, 4)\n"
            "with torch.no_grad(): out = taylor_attention_linear(Q, Q, Q)\n"
            "print(fused.available()); print(linear_implementation(Q, Q, Q)); print(fused.status()); "
            "print(bool(torch.isfinite(out).all()))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                          env={**os.environ, **env}, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_turned_off_it_falls_back_to_torch():
    available, which, status, finite = _fallback_run({"HW2_FUSED": "0"})
    assert (available, which, finite) == ("False", "torch", "True")
    assert "HW2_FUSED=0" in status


def test_a_compiler_that_fails_leaves_the_torch_path(tmp_path):
    # `false` runs and fails: the kernel cannot be built, and the reason is kept for the report
    available, which, status, finite = _fallback_run({"CC": "false", "HW2_CACHE_DIR": str(tmp_path)})
    assert (available, which, finite) == ("False", "torch", "True")
    assert "false" in status and ("could not build" in status or "does not run" in status)
    assert not list(tmp_path.rglob("*.so"))  # no half-written library left behind


@needs_kernel
def test_the_build_is_cached_by_source_compiler_and_cpu(tmp_path, monkeypatch):
    monkeypatch.setenv("HW2_CACHE_DIR", str(tmp_path))
    cc = fused._compiler()
    first, how = fused._build(cc)
    assert first is not None and first.parent == tmp_path / "fused" and "-O3" in how
    stamp = first.stat().st_mtime_ns
    again, _ = fused._build(cc)
    assert again == first and again.stat().st_mtime_ns == stamp  # found, not rebuilt
