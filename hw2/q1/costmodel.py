"""Cost models of one attention call (one head, Q, K, V of shape L x D, K-term map).

Two models predict where linear attention overtakes exact attention:

* **operation count** (``hw2.q1.symbolic``): every multiply-add costs the same;
  exact = 2 L^2 D + L^2, linear = 2 L M D + 2 L M + L D, crossover L* ~ M.
* **roofline** (this module): each step of the computation has FLOPs F and bytes B it
  moves to and from memory; it takes ``max(F / R, B / W)``, R the rate of its kind of
  work (matrix products: the measured matmul rate; softmax: the measured softmax rate)
  and W the measured bandwidth of the memory level its working set fits in (L2, L3 or
  DRAM).  Writes into fresh pages are memory traffic of their own: an allocation larger
  than the C library's mmap threshold gets new pages from the kernel on every call, and
  the first write to each page (a page fault and zeroing) runs at the measured
  fresh-page rate.  Exact attention allocates two L x L tensors per call, so this
  applies from L^2 s > 32 MiB.
* **roofline with per-call costs** (``calls``, a ``CallCosts``) adds what does not scale with the
  work: a fixed cost per call (Python, operator dispatch, small allocations, waking the
  worker threads), measured as what a call at the shortest timed length takes beyond its
  roofline time, and for linear attention a cost per extra slab.

All rates come from ``Rates``, which the experiment measures on the machine at run time.

Step lists mirror the implementations in ``hw2.q1.attention``: ``softmax_attention``
(QK^T, softmax, times V, as torch runs them: no fusion, fresh L x L outputs), the fused
kernel of ``hw2.q1.fused`` (``fused_steps``: two compute-bound passes) and the torch path
of ``taylor_attention_linear`` (``linear_steps``: symmetric map, feature-major slabs,
[V 1] fused).
The functions that count FLOPs also accept SymPy symbols, so the tests can check them
against ``symbolic.exact_cost_terms`` and ``symbolic.linear_cost_terms``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

from hw2.q1.attention import default_chunk, feature_dim

MMAP_THRESHOLD_BYTES = 32 << 20  # glibc's largest dynamic mmap threshold (DEFAULT_MMAP_THRESHOLD_MAX, 64-bit)
MATMUL, SOFTMAX, ELEMENTWISE = "matmul", "softmax", "elementwise"
SCAN_FROM = 2.0  # crossovers are searched from this L; a crossover equal to it means "linear is faster everywhere"


@dataclass(frozen=True)
class Step:
    """One step of an attention call: its work, its memory traffic and what it allocates."""

    name: str
    kind: str  # MATMUL, SOFTMAX or ELEMENTWISE
    flops: float  # floating-point operations executed
    bytes: float  # bytes read and written
    working_set: float  # bytes the step touches (picks the memory level)
    elements: float = 0.0  # SOFTMAX: entries normalised
    fresh_bytes: float = 0.0  # bytes of the new tensors it writes (fresh pages above the mmap threshold)


@dataclass(frozen=True)
class Rates:
    """Machine rates measured at run time (``hw2.q1.machine.measure_rates``)."""

    matmul: float  # FLOP/s of a square float32 matrix product
    bandwidth: dict[str, float]  # B/s by level: "l2", "l3", "dram"
    cache_bytes: dict[str, float]  # capacity of "l2" (one core) and "l3"
    softmax: float  # entries/s of torch.softmax over rows that fit in cache
    fresh_pages: float  # B/s of writing into newly allocated pages (page faults and zeroing included)

    def bandwidth_for(self, working_set: float, levels: bool = True) -> float:
        """Return the bandwidth of the smallest memory level that holds ``working_set`` (DRAM unless ``levels``)."""
        if levels:
            for level in ("l2", "l3"):
                if working_set <= self.cache_bytes.get(level, 0):
                    return self.bandwidth[level]
        return self.bandwidth["dram"]


@dataclass(frozen=True)
class CallCosts:
    """Fixed costs of one D: seconds per exact call, per linear call, per extra linear slab (all measured)."""

    exact: float
    linear: float
    slab: float


# FLOP counts (SymPy symbols allowed) ---------------------------------------------------

def exact_flops(L: Any, D: Any) -> dict[str, Any]:
    """Return the FLOPs of Softmax(QK^T)V by step (a multiply-add is 2; softmax: max, subtract, exp, sum, divide)."""
    return {"scores": 2 * L * L * D, "softmax": 5 * L * L, "weighted sum": 2 * L * L * D}


def feature_map_flops(L: Any, D: Any, M: Any) -> Any:
    """Return the multiplications that build the monomials of degree >= 2 of L vectors: L (M - D - 1)."""
    return L * (M - D - 1)


def linear_useful_flops(L: Any, D: Any, M: Any) -> dict[str, Any]:
    """Return the useful FLOPs of linear attention by step (issue #14's definition; Lk = L, Dv = D)."""
    return {
        "feature map": 2 * feature_map_flops(L, D, M),  # Q and K
        "Phi(K)^T V": 2 * L * M * D,
        "Phi(K)^T 1": L * M,  # additions only
        "Phi(Q) kv": 2 * L * M * D,
        "Phi(Q) k_sum": 2 * L * M,
        "division": L * D,
    }


def exact_useful_flops(L: Any, D: Any) -> Any:
    """Return the FLOPs of exact attention (all of exact_flops)."""
    return sum(exact_flops(L, D).values())


def linear_flops(L: Any, D: Any, K: int = 3) -> Any:
    """Return the useful FLOPs of one linear-attention call for concrete D and K."""
    return sum(linear_useful_flops(L, D, feature_dim(D, K)).values())


# step lists ------------------------------------------------------------------------------

def exact_steps(L: int, D: int, itemsize: int = 4) -> list[Step]:
    """Return the steps of softmax_attention: S = QK^T, P = softmax(S), Z = PV (S and P new each call)."""
    f = exact_flops(L, D)
    square = float(L) * L * itemsize  # one L x L tensor
    inputs = 2.0 * L * D * itemsize
    return [
        Step("scores", MATMUL, f["scores"], inputs + square, inputs + square, fresh_bytes=square),
        Step("softmax", SOFTMAX, f["softmax"], 2 * square, 2 * square, elements=float(L) * L, fresh_bytes=square),
        Step("weighted sum", MATMUL, f["weighted sum"], square + inputs, square + inputs),
    ]


def slabs(L: int, D: int, K: int = 3, itemsize: int = 4) -> tuple[int, int]:
    """Return (positions per slab, number of slabs) of taylor_attention_linear with its default chunk."""
    chunk = default_chunk(feature_dim(D, K), itemsize)
    if chunk >= L:
        return L, 1
    return chunk, math.ceil(L / chunk)


def linear_steps(L: int, D: int, K: int = 3, itemsize: int = 4) -> list[Step]:
    """Return the steps of the fast taylor_attention_linear (symmetric map, Lk = L, Dv = D).

    Features are written once and read once by the product that follows, at the memory
    level their slab fits in; with one slab, Q's and K's features share a buffer.
    """
    M = feature_dim(D, K)
    width, n = slabs(L, D, K, itemsize)
    slab = M * width * itemsize * (2 if n == 1 else 1)
    s = itemsize
    feats = L * M * s  # features of one side, written once and read once
    fused = 2 * L * M * (D + 1)  # [V 1]^T Phi(K) or kv^T Phi(Q): the ones row folded in
    return [
        Step("inputs", ELEMENTWISE, 0, 2 * 3 * L * D * s, 6 * L * D * s),  # Q, K, V copied feature-major
        Step("features K", ELEMENTWISE, feature_map_flops(L, D, M), feats, slab),
        Step("[V 1]^T Phi(K)", MATMUL, fused, feats + L * (D + 1) * s, slab + L * (D + 1) * s),
        Step("features Q", ELEMENTWISE, feature_map_flops(L, D, M), feats, slab),
        Step("kv^T Phi(Q)", MATMUL, fused, feats + L * (D + 1) * s, slab + L * (D + 1) * s),
        Step("division", ELEMENTWISE, L * D, L * (D + 1) * s + L * D * s, L * (2 * D + 1) * s),
    ]


def fused_steps(L: int, D: int, K: int = 3, itemsize: int = 4) -> list[Step]:
    """Return the steps of the fused kernel (``hw2.q1.fused``; Lk = L, Dv = D): one pass over the keys, one over
    the queries, the features formed in cache and never stored, so each pass moves only its inputs and outputs.

    The kernel multiplies by the ones column of [V 1] like any other, so a pass does 2 L M (D + 1) FLOPs besides
    the features (the useful count has L M for Phi(K)^T 1).
    """
    M = feature_dim(D, K)
    s = itemsize
    io = 2 * L * D * s  # keys pass: K and V read; queries pass: Q read, Z written
    product = 2 * L * M * (D + 1)
    return [
        Step("keys: features and [V 1]^T Phi(K)", MATMUL, feature_map_flops(L, D, M) + product, io, io),
        Step("queries: features, kv^T Phi(Q), division", MATMUL, feature_map_flops(L, D, M) + product + L * D,
             io, io),
    ]


IMPL_STEPS = {"fused": fused_steps, "torch": linear_steps}


def traffic(steps: list[Step]) -> float:
    """Return the bytes all steps move, wherever their data live."""
    return sum(st.bytes for st in steps)


def dram_traffic(steps: list[Step], L: int, D: int, l3_bytes: float, itemsize: int = 4) -> float:
    """Return the bytes that cross to main memory: Q, K, V read and Z written once, plus every step
    whose working set does not fit in L3 (the roofline figure's denominator of arithmetic intensity)."""
    compulsory = 4.0 * L * D * itemsize
    return compulsory + sum(st.bytes for st in steps if st.working_set > l3_bytes)


# models ----------------------------------------------------------------------------------

def step_time(st: Step, rates: Rates) -> float:
    """Return max(work / rate, bytes / bandwidth) of one step, plus its writes into fresh pages."""
    if st.kind == SOFTMAX:
        compute = st.elements / rates.softmax
    elif st.kind == MATMUL:
        compute = st.flops / rates.matmul
    else:
        compute = 0.0  # a few operations per byte: bound by memory
    t = max(compute, st.bytes / rates.bandwidth_for(st.working_set))
    if st.fresh_bytes > MMAP_THRESHOLD_BYTES:
        t += st.fresh_bytes / rates.fresh_pages
    return t


def exact_time(L: float, D: int, rates: Rates, calls: CallCosts | None = None, itemsize: int = 4) -> float:
    """Return the roofline time of one exact call, plus the measured fixed cost per call when ``calls`` is given."""
    t = sum(step_time(st, rates) for st in exact_steps(int(round(L)), D, itemsize))
    return t + (calls.exact if calls else 0.0)


def linear_time(L: float, D: int, rates: Rates, calls: CallCosts | None = None, K: int = 3,
                itemsize: int = 4, impl: str = "fused") -> float:
    """Return the roofline time of one linear call by ``impl`` ("fused" or "torch"), plus the measured costs per
    call (and, for the torch path, per extra slab) when given."""
    Li = int(round(L))
    t = sum(step_time(st, rates) for st in IMPL_STEPS[impl](Li, D, K, itemsize))
    if calls:
        t += calls.linear
        if impl == "torch":
            t += (slabs(Li, D, K, itemsize)[1] - 1) * calls.slab
    return t


def opcount_crossover(D: int, K: int = 3) -> float:
    """Return the L where the operation counts of exact and linear attention are equal (SymPy's L*)."""
    from hw2.q1.symbolic import crossover_at

    return crossover_at(D, K)


def roofline_crossover(D: int, rates: Rates, calls: CallCosts | None = None, K: int = 3,
                       impl: str = "fused") -> float | None:
    """Return the smallest L where the roofline predicts linear attention (by ``impl``) to be as fast as exact."""
    return crossover(lambda L: exact_time(L, D, rates, calls),
                     lambda L: linear_time(L, D, rates, calls, K, impl=impl))


def crossover(t_exact: Callable[[float], float], t_linear: Callable[[float], float],
              lo: float = SCAN_FROM, hi: float = float(1 << 22)) -> float | None:
    """Return the smallest L in [lo, hi] with t_exact(L) >= t_linear(L) (a log-spaced scan, then bisection)."""
    grid = [lo * (hi / lo) ** (i / 400) for i in range(401)]
    previous = None
    for x in grid:
        if t_exact(x) >= t_linear(x):
            if previous is None:
                return lo
            a, b = previous, x
            for _ in range(60):
                mid = math.sqrt(a * b)
                a, b = (a, mid) if t_exact(mid) >= t_linear(mid) else (mid, b)
            return b
        previous = x
    return None
