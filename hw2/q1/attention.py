"""Self-attention, and attention through the McLaurin feature map (Q1).

* ``softmax_attention`` -- exact ``Softmax(Q K^T) V`` in plain torch (the baseline).
* ``taylor_attention_quadratic`` -- ``D^-1 Phi(Q) Phi(K)^T V`` left to right: O(L^2 M).
* ``taylor_attention_linear`` -- the same with ``Phi(K)^T V`` formed first: O(L M D) time,
  O(chunk M + M D) extra memory.  Built for speed on a CPU (see below).
* ``taylor_attention_linear_gather`` -- the first implementation of the linear form
  (row-major features by gathers, four separate products); the reference the fast path
  is tested and benchmarked against, and the path taken when gradients are needed.

How the fast linear path works (symmetric map):

1. features are built feature-major, (M, positions), by ``features.monomial_rows``:
   D broadcast products per level, each writing one contiguous block of rows;
2. the monomial weights enter the kernel squared, so Q and K get *unweighted* monomials
   and the small (Dv+1, M) matrix ``[V 1]^T Phi(K)`` is scaled once by w^2;
3. ``Phi(K)^T V`` and ``Phi(K)^T 1`` are one product (a row of ones under V^T), and so are
   the numerator and the denominator: ``kv^T Phi(Q)^T``, (Dv+1, positions);
4. the sequence is cut into slabs of ``chunk`` positions (about 2 MiB of features) so a
   slab stays in cache and the extra memory does not grow with L beyond the O(L D) of
   ``[V 1]^T``; when everything fits in one slab, Q's and K's features are built together;
5. buffers and their views are made once per problem shape and kept per thread
   (``_plan``), which removes most of the per-call Python and allocation cost.

All functions take batched torch tensors ``(..., L, D)`` of any float dtype.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict

import torch

from hw2.q1 import fused
from hw2.q1.features import (
    FORMS,
    check_args,
    feature_dim,
    mclaurin_features,
    mclaurin_features_gather,
    monomial_weights,
    build_plan,
    tensor_rows,
)

__all__ = [
    "FORMS", "feature_dim", "mclaurin_features", "mclaurin_features_gather", "softmax_attention",
    "taylor_exp", "taylor_attention_quadratic", "taylor_attention_linear", "taylor_attention_linear_gather",
    "taylor_attention_weights", "default_chunk", "linear_workspace_bytes", "linear_implementation", "IMPLS",
]

SLAB_BYTES = 2 << 20  # feature bytes per slab: small enough to stay in a core's L2/L3
_PLAN_CACHE_BYTES = 8 << 20  # plans with more buffer bytes than this are not kept between calls
_PLAN_CACHE_ENTRIES = 8
_LOCAL = threading.local()


# exact and reference forms ------------------------------------------------------

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
    phi_q = mclaurin_features_gather(Q, terms, form)  # (..., L, M)
    phi_k = mclaurin_features_gather(K, terms, form)
    weights = phi_q @ phi_k.transpose(-1, -2)  # (..., L, L)
    return (weights @ V) / weights.sum(dim=-1, keepdim=True)


def taylor_attention_linear_gather(Q: torch.Tensor, K: torch.Tensor, V: torch.Tensor, terms: int = 3,
                                   form: str = "symmetric") -> torch.Tensor:
    """Return D^-1 Phi(Q) (Phi(K)^T V) from row-major gathered features: O(L M D) time, O(L M) memory."""
    phi_q = mclaurin_features_gather(Q, terms, form)  # (..., L, M)
    phi_k = mclaurin_features_gather(K, terms, form)
    kv = phi_k.transpose(-1, -2) @ V  # (..., M, D)
    k_sum = phi_k.sum(dim=-2)  # (..., M)  = Phi(K)^T 1_L
    numerator = phi_q @ kv  # (..., L, D)
    denominator = phi_q @ k_sum.unsqueeze(-1)  # (..., L, 1)
    return numerator / denominator


def taylor_attention_weights(Q: torch.Tensor, K: torch.Tensor, terms: int) -> torch.Tensor:
    """Return the row-normalised weights P_K(QK^T) / rowsum: the approximation of Softmax(QK^T)."""
    weights = taylor_exp(Q @ K.transpose(-1, -2), terms)
    return weights / weights.sum(dim=-1, keepdim=True)


# the fast linear path ---------------------------------------------------------------

def default_chunk(M: int, itemsize: int) -> int:
    """Return the positions per feature slab: about SLAB_BYTES of features, a multiple of 256, >= 1024."""
    return max(1024, SLAB_BYTES // (M * itemsize) // 256 * 256)


def slab_width(L: int, Lk: int, M: int, itemsize: int, chunk: int | None = -1) -> int:
    """Return the positions per slab that ``taylor_attention_linear`` uses (0: one slab for everything)."""
    if chunk == -1:
        chunk = default_chunk(M, itemsize)
    if chunk is None or chunk <= 0 or chunk >= max(L, Lk):
        return 0
    return chunk


def linear_workspace_bytes(L: int, Lk: int, D: int, Dv: int, terms: int = 3, batch: int = 1, itemsize: int = 4,
                           chunk: int | None = -1) -> int:
    """Return the bytes ``taylor_attention_linear`` (symmetric) allocates besides its output: O(chunk M + L D + M D)."""
    M = feature_dim(D, terms)
    width = slab_width(L, Lk, M, itemsize, chunk)
    stacked = width == 0 and L == Lk
    positions = (2 * L if stacked else max(L, Lk)) if width == 0 else width
    slab = M * positions
    ones_v = (Dv + 1) * Lk  # [V 1]^T
    kv = (Dv + 1) * M
    nd = (Dv + 1) * (width or L)  # numerators and denominators of one slab of queries
    return batch * itemsize * (slab + ones_v + kv + nd)


class _SlabBuilder:
    """Unweighted monomials of (nb, D, w) inputs, built in one reused (nb, M, width) buffer.

    ``rows(w)`` is where the inputs go, ``expand(w)`` fills the monomials and returns the
    (nb, M, w) features.  The views of every product are made once per slab width, so a
    slab costs one copy and D (K-2) products with little Python work.
    """

    def __init__(self, nb: int, M: int, width: int, D: int, K: int, dtype: torch.dtype, device: torch.device):
        self.D, self.K = D, K
        self.buf = torch.empty(nb, M, width, dtype=dtype, device=device)
        self.buf[:, 0, :] = 1  # the constant row is never overwritten
        self.views: dict[int, tuple] = {}

    @property
    def nbytes(self) -> int:
        return self.buf.nbytes

    def _views(self, w: int) -> tuple:
        v = self.views.get(w)
        if v is None:
            b = self.buf[..., :w]
            ops = [(b[:, i:i + 1], b[:, src:stop], b[:, dst:dst + stop - src])
                   for i, src, stop, dst in build_plan(self.D, self.K)]
            v = self.views[w] = (b, b[:, 1:self.D + 1], ops)
        return v

    def rows(self, w: int) -> torch.Tensor:
        """The (nb, D, w) view the inputs x^T are copied into."""
        return self._views(w)[1]

    def expand(self, w: int) -> torch.Tensor:
        """Fill the monomial rows from the input rows; return the (nb, M, w) features."""
        b, _, ops = self._views(w)
        for a, s, o in ops:
            torch.mul(a, s, out=o)
        return b

    def __call__(self, xT: torch.Tensor) -> torch.Tensor:
        w = xT.shape[-1]
        if self.K > 1:
            self.rows(w).copy_(xT)
        return self.expand(w)


class _Plan:
    """Everything one problem shape reuses between calls: slab builder, [V 1]^T, kv^T, and their views."""

    def __init__(self, lead: tuple[int, ...], L: int, Lk: int, D: int, Dv: int, K: int, width: int,
                 dtype: torch.dtype, device: torch.device):
        B = math.prod(lead)
        M = feature_dim(D, K)
        self.lead, self.L, self.Lk, self.D, self.Dv, self.width = lead, L, Lk, D, Dv, width
        self.stacked = width == 0 and L == Lk  # Q and K features in one (2B, M, L) buffer
        nb, positions = (2 * B, L) if self.stacked else (B, width or max(L, Lk))
        self.build = _SlabBuilder(nb, M, positions, D, K, dtype, device)
        self.ones_v = torch.empty(B, Dv + 1, Lk, dtype=dtype, device=device)  # [V 1]^T
        self.ones_v[:, Dv] = 1
        self.v_rows = self.ones_v[:, :Dv].view(*lead, Dv, Lk)  # where V^T goes (broadcasting V's lead dims)
        self.kvT = torch.empty(B, Dv + 1, M, dtype=dtype, device=device)
        self.w2 = monomial_weights(D, K, dtype, str(device), squared=True)
        if self.stacked:
            if K > 1:
                rows = self.build.rows(L)
                self.q_rows, self.k_rows = rows[:B].view(*lead, D, L), rows[B:].view(*lead, D, L)
            phi = self.build.expand(L)  # also fixes the constant rows when K = 1
            self.phi_q, self.phi_kT = phi[:B], phi[B:].transpose(-1, -2)

    @property
    def nbytes(self) -> int:
        return self.build.nbytes + self.ones_v.nbytes + self.kvT.nbytes

    def run(self, Q: torch.Tensor, K: torch.Tensor, V: torch.Tensor, out: torch.Tensor) -> None:
        """Write D^-1 Phi(Q) (Phi(K)^T V) into out (B, L, Dv)."""
        self.v_rows.copy_(V.transpose(-1, -2))
        if not self.stacked:
            B = out.shape[0]
            qT = Q.expand(*self.lead, self.L, self.D).reshape(B, self.L, self.D).transpose(-1, -2)
            kT = K.expand(*self.lead, self.Lk, self.D).reshape(B, self.Lk, self.D).transpose(-1, -2)
            _slabs(self.build, self.w2, self.ones_v, qT, kT, out, self.width, self.kvT)
            return
        if self.build.K > 1:
            self.q_rows.copy_(Q.transpose(-1, -2))
            self.k_rows.copy_(K.transpose(-1, -2))
            self.build.expand(self.L)
        torch.bmm(self.ones_v, self.phi_kT, out=self.kvT).mul_(self.w2)  # (B, Dv+1, M)
        _emit(self.kvT, self.phi_q, out)


def _plan(key: tuple, make) -> _Plan:
    """Return the plan for ``key`` from this thread's cache, or a new one (kept if it is small)."""
    cache = getattr(_LOCAL, "plans", None)
    if cache is None:
        cache = _LOCAL.plans = OrderedDict()
    plan = cache.get(key)
    if plan is not None:
        cache.move_to_end(key)
        return plan
    plan = make()
    if plan.nbytes <= _PLAN_CACHE_BYTES:
        cache[key] = plan
        while len(cache) > _PLAN_CACHE_ENTRIES:
            cache.popitem(last=False)
    return plan


IMPLS = ("auto", "fused", "torch")


def linear_implementation(Q: torch.Tensor, K: torch.Tensor, V: torch.Tensor, terms: int = 3,
                          form: str = "symmetric", impl: str = "auto") -> str:
    """Return which code ``taylor_attention_linear`` runs for these arguments: "fused", "torch" or "gather"."""
    if impl not in IMPLS:
        raise ValueError(f"unknown implementation {impl!r}; use one of {IMPLS}")
    if torch.is_grad_enabled() and (Q.requires_grad or K.requires_grad or V.requires_grad):
        return "gather"
    if impl == "torch":
        return "torch"
    if fused.supports(Q, K, V, terms, form):
        return "fused"
    if impl == "fused":
        raise ValueError("the fused kernel needs terms=3, the symmetric form and float32 CPU tensors, and a "
                         f"built kernel ({fused.status()})")
    return "torch"


def taylor_attention_linear(Q: torch.Tensor, K: torch.Tensor, V: torch.Tensor, terms: int = 3,
                            form: str = "symmetric", chunk: int | None = -1, impl: str = "auto") -> torch.Tensor:
    """Return D^-1 Phi(Q) (Phi(K)^T V): O(L M D) time, O(M D) (fused) or O(chunk M + L D + M D) extra memory.

    Same result as ``taylor_attention_linear_gather`` within float tolerance.  ``impl``:
    "fused" runs the compiled kernel of ``hw2.q1.fused`` (K = 3, symmetric, float32 on the
    CPU), "torch" the torch operations below, "auto" the kernel where it applies and is
    built, torch otherwise.  ``form`` chooses which feature map the torch path forms; both
    give the same kernel.  ``chunk``: positions per feature slab of the torch path; -1
    picks one from the feature size (``default_chunk``); None or 0 makes the whole
    sequence one slab.  With gradients enabled and an input that requires them, the
    differentiable ``taylor_attention_linear_gather`` is used instead.
    """
    D = Q.shape[-1]
    check_args(D, terms, form)
    which = linear_implementation(Q, K, V, terms, form, impl)
    if which == "gather":
        return taylor_attention_linear_gather(Q, K, V, terms, form)
    L, Lk, Dv = Q.shape[-2], K.shape[-2], V.shape[-1]
    lead = tuple(Q.shape[:-2])
    if lead != K.shape[:-2] or lead != V.shape[:-2]:  # torch.broadcast_shapes costs ~20 us; skip it when possible
        lead = tuple(torch.broadcast_shapes(Q.shape[:-2], K.shape[:-2], V.shape[:-2]))
    if which == "fused":
        return fused.linear(Q, K, V, lead)
    B = math.prod(lead)
    out = torch.empty(*lead, L, Dv, dtype=Q.dtype, device=Q.device)
    width = slab_width(L, Lk, feature_dim(D, terms, form), Q.element_size(), chunk)
    if form == "symmetric":
        key = (lead, L, Lk, D, Dv, terms, width, Q.dtype, Q.device)
        plan = _plan(key, lambda: _Plan(lead, L, Lk, D, Dv, terms, width, Q.dtype, Q.device))
        plan.run(Q, K, V, out.view(B, L, Dv))
        return out
    qT = Q.expand(*lead, L, D).reshape(B, L, D).transpose(-1, -2)  # (B, D, L)
    kT = K.expand(*lead, Lk, D).reshape(B, Lk, D).transpose(-1, -2)  # (B, D, Lk)
    vT = V.expand(*lead, Lk, Dv).reshape(B, Lk, Dv).transpose(-1, -2)  # (B, Dv, Lk)
    ones_v = torch.cat([vT, vT.new_ones(B, 1, Lk)], dim=1)  # [V 1]^T (B, Dv+1, Lk)
    _slabs(lambda x: tensor_rows(x, terms), None, ones_v, qT, kT, out.view(B, L, Dv), width)
    return out


def _emit(kvT: torch.Tensor, phi_q: torch.Tensor, out: torch.Tensor) -> None:
    """Write [numerator / denominator] for queries with features phi_q (B, M, w) into out (B, w, Dv)."""
    Dv = out.shape[-1]
    nd = torch.bmm(kvT, phi_q)  # (B, Dv+1, w): numerator rows, then the denominator row
    torch.div(nd[:, :Dv].transpose(-1, -2), nd[:, Dv:].transpose(-1, -2), out=out)


def _slabs(build, w2: torch.Tensor | None, ones_v: torch.Tensor, qT: torch.Tensor, kT: torch.Tensor,
           out: torch.Tensor, width: int, kvT: torch.Tensor | None = None) -> None:
    """Keys slab by slab into kv^T = [V 1]^T Phi(K) (times w^2), then queries slab by slab into out."""
    Lk, L = kT.shape[-1], qT.shape[-1]
    step = width or Lk
    for s in range(0, Lk, step):
        e = min(s + step, Lk)
        phi_kT = build(kT[..., s:e]).transpose(-1, -2)  # (B, e-s, M)
        if s == 0:
            kvT = torch.bmm(ones_v[..., :e], phi_kT, out=kvT)  # (B, Dv+1, M)
        else:
            kvT.baddbmm_(ones_v[..., s:e], phi_kT)
    if w2 is not None:
        kvT.mul_(w2)
    step = width or L
    for s in range(0, L, step):
        e = min(s + step, L)
        _emit(kvT, build(qT[..., s:e]), out[:, s:e])
