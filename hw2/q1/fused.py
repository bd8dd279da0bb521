"""The fused CPU kernel for linear Taylor attention (K = 3, symmetric map, float32).

``fused_taylor.c`` computes ``D^-1 Phi(Q) (Phi(K)^T [V 1])`` in one pass over the keys and
one over the queries, forming the monomials of a block of positions in cache and never
storing the (L, M) features; see the comment at its top.  This module compiles it with the
machine's C compiler (``cc``, or ``$CC``) the first time it is needed, into a cache
directory keyed by the source, the compiler and the CPU, and calls it through ctypes.

Where there is no compiler, the build fails, or ``HW2_FUSED=0`` is set, ``available()`` is
False, ``status()`` says why, and ``taylor_attention_linear`` uses its torch path instead.
The workspace is a torch tensor, so the profiler counts it like any other allocation.
"""

from __future__ import annotations

import ctypes
import hashlib
import math
import os
import platform
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

import torch

SOURCE = Path(__file__).with_name("fused_taylor.c")
FINGERPRINT_FILES = (SOURCE,)  # results depend on the kernel's source: pipeline/fingerprint.py hashes it
FLAGS = ["-O3", "-march=native", "-fopenmp", "-shared", "-fPIC"]
FALLBACK_FLAGS = ["-O3", "-fopenmp", "-shared", "-fPIC"]  # compilers without -march=native
SMALL_WORK = 1 << 19  # below about this many multiply-adds per batch item one thread is as fast or faster (measured: D = 8, 16, 32)

_LOCK = threading.Lock()
_STATE: dict = {}


def cache_dir() -> Path:
    """Where compiled kernels are kept: $HW2_CACHE_DIR, else $XDG_CACHE_HOME/hw2-report, else ~/.cache/hw2-report."""
    env = os.environ.get("HW2_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "hw2-report"


def _compiler() -> str | None:
    cc = os.environ.get("CC") or "cc"
    return shutil.which(cc)


def _cpu_signature() -> str:
    """The CPU model and feature flags (a kernel built with -march=native runs only where they match)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
        lines = [ln for ln in text.splitlines() if ln.startswith(("model name", "flags", "Features"))]
        return "\n".join(sorted(set(lines)))
    except OSError:
        return platform.processor() or platform.machine()


def _build(cc: str) -> tuple[Path | None, str]:
    """Compile the kernel (once per source, compiler and CPU); return (library, how it was built) or (None, why not)."""
    try:
        version = subprocess.run([cc, "--version"], capture_output=True, text=True, timeout=30).stdout.splitlines()[0]
    except (OSError, subprocess.SubprocessError, IndexError) as exc:
        return None, f"the compiler {cc} does not run ({exc})"
    source = SOURCE.read_bytes()
    errors = []
    for flags in (FLAGS, FALLBACK_FLAGS):
        key = hashlib.sha256(b"\0".join([source, version.encode(), " ".join(flags).encode(),
                                         _cpu_signature().encode()])).hexdigest()[:16]
        target = cache_dir() / "fused" / f"taylor2-{key}.so"
        how = f"{version}, {' '.join(f for f in flags if f not in ('-shared', '-fPIC'))}"
        if target.exists():
            return target, how
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
                partial = Path(tmp) / target.name
                done = subprocess.run([cc, *flags, "-o", str(partial), str(SOURCE)], capture_output=True, text=True,
                                      timeout=300)
                if done.returncode != 0:
                    errors.append((done.stderr.strip().splitlines() or ["no message"])[-1])
                    continue
                os.replace(partial, target)  # atomic: a concurrent build leaves one whole file
            return target, how
        except (OSError, subprocess.SubprocessError) as exc:
            errors.append(str(exc))
    return None, f"{cc} could not build {SOURCE.name}: {errors[-1] if errors else 'unknown error'}"


def _load() -> dict:
    with _LOCK:
        if _STATE:
            return _STATE
        if os.environ.get("HW2_FUSED", "1").strip().lower() in ("0", "no", "off", "false"):
            _STATE.update(lib=None, how="turned off by HW2_FUSED=0")
            return _STATE
        cc = _compiler()
        if cc is None:
            _STATE.update(lib=None, how="no C compiler on PATH (cc, or $CC)")
            return _STATE
        path, how = _build(cc)
        lib = None
        if path is not None:
            try:
                lib = ctypes.CDLL(str(path))
                lib.taylor2_linear.argtypes = [ctypes.c_void_p] * 4 + [ctypes.c_long] * 5 + [ctypes.c_int,
                                                                                               ctypes.c_void_p]
                lib.taylor2_linear.restype = ctypes.c_int
                lib.taylor2_workspace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_int]
                lib.taylor2_workspace.restype = ctypes.c_long
                lib.taylor2_block.argtypes = []
                lib.taylor2_block.restype = ctypes.c_long
            except OSError as exc:
                lib, how = None, f"the built kernel {path} does not load ({exc})"
        _STATE.update(lib=lib, how=how)
        return _STATE


def available() -> bool:
    """Whether the fused kernel is built and loaded (building it on first call)."""
    return (_STATE or _load())["lib"] is not None


def status() -> str:
    """How the kernel was built ("gcc ... -O3 -march=native -fopenmp"), or why it is not available."""
    return _load()["how"]


def supports(Q: torch.Tensor, K: torch.Tensor, V: torch.Tensor, terms: int, form: str) -> bool:
    """Whether the fused kernel computes this call: K = 3, the symmetric map, float32 on the CPU."""
    return (terms == 3 and form == "symmetric" and Q.device.type == "cpu"
            and Q.dtype == K.dtype == V.dtype == torch.float32 and available())


def threads_for(L: int, Lk: int, D: int, Dv: int) -> int:
    """Threads for one call: torch's count, or one when the work is too small to share."""
    M = 1 + D + D * (D + 1) // 2
    return 1 if (L + Lk) * M * (Dv + 1) < SMALL_WORK else torch.get_num_threads()


def block() -> int | None:
    """Keys per monomial block of the kernel's first pass (None when it is not available)."""
    lib = _load()["lib"]
    return int(lib.taylor2_block()) if lib is not None else None


_SIZES: dict[tuple[int, int, int], int] = {}


def workspace_floats(D: int, Dv: int, threads: int) -> int:
    """Floats of the workspace the kernel uses (per call, whatever L): O(threads M D + M D)."""
    key = (D, Dv, threads)
    n = _SIZES.get(key)
    if n is None:
        n = _SIZES[key] = int(_load()["lib"].taylor2_workspace(D, Dv, threads))
    return n


_LOCAL = threading.local()
_KEEP_BYTES = 8 << 20  # workspaces up to this size are kept between calls (per thread and shape)


def _workspace(D: int, Dv: int, threads: int) -> torch.Tensor:
    """The kernel's workspace for this shape: kept per thread between calls (a fresh one would cost page faults
    on every call once it is larger than the C library's mmap threshold); ``clear_workspaces`` drops them."""
    cache = getattr(_LOCAL, "work", None)
    if cache is None:
        cache = _LOCAL.work = {}
    key = (D, Dv, threads)
    work = cache.get(key)
    if work is None:
        work = torch.empty(workspace_floats(D, Dv, threads), dtype=torch.float32)
        if work.data_ptr() % 64:  # torch's CPU allocator aligns to 64 bytes; the kernel's vector loads need it
            raise RuntimeError("fused kernel: workspace not 64-byte aligned")
        if work.nbytes <= _KEEP_BYTES:
            if len(cache) >= 8:
                cache.clear()
            cache[key] = work
    return work


def clear_workspaces() -> None:
    """Forget this thread's kept workspaces (so that a memory measurement sees them allocated)."""
    _LOCAL.work = None


def _flat(x: torch.Tensor, lead: tuple[int, ...]) -> torch.Tensor:
    """x broadcast to ``lead`` and contiguous (no copy when it already is)."""
    if tuple(x.shape[:-2]) != lead:
        x = x.expand(*lead, *x.shape[-2:])
    return x if x.is_contiguous() else x.contiguous()


def linear(Q: torch.Tensor, K: torch.Tensor, V: torch.Tensor, lead: tuple[int, ...]) -> torch.Tensor:
    """Return the linear Taylor attention (K = 3) of (..., L, D) inputs broadcast to ``lead``, by the fused kernel.

    The workspace is a torch tensor (the profiler sees it when it is allocated), kept per
    thread and shape between calls; it is O(threads M D), independent of L.
    """
    lib = _STATE["lib"]
    L, Lk, D, Dv = Q.shape[-2], K.shape[-2], Q.shape[-1], V.shape[-1]
    q, k, v = _flat(Q, lead), _flat(K, lead), _flat(V, lead)
    B = math.prod(lead)
    out = torch.empty(*lead, L, Dv, dtype=torch.float32)
    if B == 0 or L == 0:
        return out
    nt = threads_for(L, Lk, D, Dv)
    work = _workspace(D, Dv, nt)
    lib.taylor2_linear(q.data_ptr(), k.data_ptr(), v.data_ptr(), out.data_ptr(), B, L, Lk, D, Dv, nt,
                       work.data_ptr())
    return out
