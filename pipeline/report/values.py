"""Read-only views of results for templates, and the filters that format numbers.

A template never sees a raw dict: ``ResultsView`` raises a one-line error naming
the results file, the missing key and the command that produces it, instead of
printing an empty string (Jinja's StrictUndefined does the same for names).
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any, Iterator

from pipeline.errors import ResultsError


class TracedFloat(float):
    """A float read from a results file, remembering the file and key (for hover titles).

    Arithmetic with another number keeps a trace: ``a - b`` of two traced values is
    traced as ``file: key_a − key_b`` (the file named once when both come from it), so
    a gap or a ratio computed by a finding still says where it came from.
    """

    trace: str = ""

    def _combine(self, other: Any, symbol: str, value: float, reverse: bool = False) -> "TracedFloat":
        return traced_result(value, symbol, (other, self) if reverse else (self, other))

    def __add__(self, other): return self._combine(other, "+", float(self) + float(other))
    def __radd__(self, other): return self._combine(other, "+", float(other) + float(self), True)
    def __sub__(self, other): return self._combine(other, "−", float(self) - float(other))
    def __rsub__(self, other): return self._combine(other, "−", float(other) - float(self), True)
    def __mul__(self, other): return self._combine(other, "×", float(self) * float(other))
    def __rmul__(self, other): return self._combine(other, "×", float(other) * float(self), True)
    def __truediv__(self, other): return self._combine(other, "/", float(self) / float(other))
    def __rtruediv__(self, other): return self._combine(other, "/", float(other) / float(self), True)
    def __neg__(self): return traced(-float(self), f"−({self.trace})")
    def __abs__(self): return traced(abs(float(self)), f"abs({self.trace})")


class TracedInt(int):
    """An int read from a results file, remembering the file and key (for hover titles)."""

    trace: str = ""


def traced(value: Any, trace: str) -> Any:
    """Return ``value`` as a TracedFloat/TracedInt carrying ``trace`` (other values unchanged)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return value
    out = TracedFloat(value) if isinstance(value, float) else TracedInt(value)
    out.trace = trace
    return out


def trace_of(value: Any) -> str:
    """Return the trace of a value: its file and key, or its repr when it is a plain number."""
    return getattr(value, "trace", "") or (repr(float(value)) if isinstance(value, (int, float)) else str(value))


def traced_result(value: float, symbol: str, operands: tuple[Any, Any]) -> TracedFloat:
    """Trace ``value = left <symbol> right``, naming a shared results file once."""
    traces = [trace_of(v) for v in operands]
    files = {t.split(": ", 1)[0] for t in traces if ": " in t}
    if len(files) == 1 and all(": " in t and not t.startswith("(") for t in traces):
        file = files.pop()
        keys = [t.split(": ", 1)[1] for t in traces]  # a derived operand keeps its parentheses
        text = f"{file}: " + f" {symbol} ".join(f"({k})" if " " in k else k for k in keys)
    else:
        text = f" {symbol} ".join(f"({t})" if " " in t else t for t in traces)
    out = TracedFloat(value)
    out.trace = text
    return out


class ResultsView:
    """Attribute/index access into a results.json; a missing key is an error that says how to fix it."""

    def __init__(self, data: Any, source: Path, hint: str, path: str = ""):
        self._data = data
        self._source = source
        self._hint = hint
        self._path = path

    # helpers
    def _wrap(self, value: Any, key: str) -> Any:
        if isinstance(value, (dict, list)):
            return ResultsView(value, self._source, self._hint, key)
        return traced(value, f"{self._label()}: {key}")

    def _label(self) -> str:
        from pipeline.results import REPO_ROOT

        try:
            return self._source.resolve().relative_to(REPO_ROOT).as_posix()
        except ValueError:
            return "/".join(self._source.parts[-4:])

    def _missing(self, key: str) -> ResultsError:
        return ResultsError(f"{self._source}: no key '{key}' (needed by the report); "
                            f"rerun the experiment: {self._hint}")

    def _join(self, name: Any) -> str:
        if isinstance(name, int):
            return f"{self._path}[{name}]"
        return f"{self._path}.{name}" if self._path else str(name)

    # access
    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return self[name]

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, int) and key < 0 and isinstance(self._data, list):
            key = len(self._data) + key  # name the real index in traces
        full = self._join(key)
        try:
            value = self._data[key]
        except (KeyError, IndexError, TypeError):
            raise self._missing(full) from None
        return self._wrap(value, full)

    def get(self, key: Any, default: Any = None) -> Any:
        """Return the value at ``key`` or ``default`` (for optional keys)."""
        try:
            return self[key]
        except ResultsError:
            return default

    def __contains__(self, key: Any) -> bool:
        return key in self._data

    def __iter__(self) -> Iterator[Any]:
        if isinstance(self._data, dict):
            return iter(self._data)
        return (self._wrap(v, self._join(i)) for i, v in enumerate(self._data))

    def items(self):
        return [(k, self._wrap(v, self._join(k))) for k, v in self._data.items()]

    def keys(self):
        return list(self._data.keys())

    def values(self):
        return [v for _, v in self.items()]

    def __len__(self) -> int:
        return len(self._data)

    def __bool__(self) -> bool:
        return bool(self._data)

    @property
    def raw(self) -> Any:
        return self._data

    def __repr__(self) -> str:
        return f"ResultsView({self._source}:{self._path or '<root>'})"


# formatting filters ------------------------------------------------------------

def _number(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, str):
        return {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}.get(value.lower(), None)
    return float(value)


def fmt_fixed(value: Any, digits: int = 3) -> str:
    """Format with a fixed number of decimals; None as an em dash, NaN as 'NaN'."""
    x = _number(value)
    if x is None:
        return "—"
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "∞" if x > 0 else "−∞"
    return f"{x:.{digits}f}".replace("-", "−")


def fmt_int(value: Any) -> str:
    """Format an integer with thousands separators (224,892)."""
    x = _number(value)
    if x is None:
        return "—"
    return f"{int(round(x)):,}"


def fmt_pct(value: Any, digits: int = 1) -> str:
    """Format a fraction as a percentage (0.8318 -> 83.2%)."""
    x = _number(value)
    if x is None:
        return "—"
    return f"{100 * x:.{digits}f}%"


def fmt_sig(value: Any, digits: int = 3) -> str:
    """Format with ``digits`` significant figures, plain notation."""
    x = _number(value)
    if x is None:
        return "—"
    if x == 0 or not math.isfinite(x):
        return fmt_fixed(x, 0)
    decimals = max(0, digits - 1 - int(math.floor(math.log10(abs(x)))))
    return f"{x:.{decimals}f}".replace("-", "−")


def fmt_sci(value: Any, digits: int = 2) -> str:
    """Format as LaTeX scientific notation for use inside $...$: 1.2 \\times 10^{-5}."""
    x = _number(value)
    if x is None:
        return "\\text{—}"
    if x == 0:
        return "0"
    exponent = int(math.floor(math.log10(abs(x))))
    mantissa = x / 10**exponent
    if round(mantissa, digits - 1) >= 10:
        mantissa, exponent = mantissa / 10, exponent + 1
    return f"{mantissa:.{digits - 1}f} \\times 10^{{{exponent}}}"


def fmt_seconds(value: Any) -> str:
    """Format a duration in s, min or h."""
    x = _number(value)
    if x is None:
        return "—"
    if x < 1:
        return f"{x * 1000:.0f} ms"
    if x < 120:
        return f"{x:.1f} s"
    if x < 7200:
        return f"{x / 60:.1f} min"
    return f"{x / 3600:.1f} h"


def fmt_bytes(value: Any) -> str:
    """Format a byte count in KiB, MiB or GiB (3 significant figures)."""
    x = _number(value)
    if x is None:
        return "—"
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if x >= size:
            return f"{fmt_sig(x / size, 3)} {unit}"
    return f"{int(x)} B"


def with_title(fmt):
    """Wrap a formatter so a traced value comes out as a Quarto span with a hover title.

    ``[0.8318]{.num title="results/default/q2_cnn/results.json: runs[1].test_acc"}``:
    HTML shows the title on hover; pandoc's Typst writer drops the attributes, so the
    PDF stays clean. ``strip_spans_in_math`` removes spans that a template put in math.
    """

    def wrapped(value: Any, *args: Any, **kwargs: Any) -> str:
        text = fmt(value, *args, **kwargs)
        trace = getattr(value, "trace", "")
        if not trace:
            return text
        return f'[{text}]{{.num title="{trace}"}}'

    wrapped.__name__ = fmt.__name__
    wrapped.__doc__ = fmt.__doc__
    return wrapped


SPAN_RE = re.compile(r'\[([^\[\]]*)\]\{\.num title="[^"]*"\}')
MATH_RE = re.compile(r"(\$\$.+?\$\$|(?<![\\$])\$(?!\s)[^$\n]+?(?<![\s\\])\$|`[^`\n]*`)", re.S)


def strip_spans_in_math(text: str) -> str:
    """Remove hover-title spans inside math, inline code and YAML front matter."""
    if text.startswith("---\n"):
        end = text.find("\n---\n", 4)
        if end != -1:
            text = SPAN_RE.sub(r"\1", text[:end]) + text[end:]
    return MATH_RE.sub(lambda m: SPAN_RE.sub(r"\1", m.group(0)), text)


def and_join(items: Any, last: str = "and") -> str:
    """Join items as prose: 'a', 'a and b', 'a, b and c'."""
    words = [str(item) for item in items]
    if len(words) <= 1:
        return "".join(words)
    return f"{', '.join(words[:-1])} {last} {words[-1]}"


def to_json(value: Any) -> str:
    """JSON of a value, looking through results views (for settings and overrides in the appendix)."""
    import json

    def plain(v: Any) -> Any:
        if isinstance(v, ResultsView):
            return v.raw
        return v

    return json.dumps(plain(value), ensure_ascii=False)


FILTERS = {
    "and_join": and_join,
    "tojson": to_json,
    "bytes": with_title(fmt_bytes),
    "num": with_title(fmt_fixed),
    "intcomma": with_title(fmt_int),
    "pct": with_title(fmt_pct),
    "sig": with_title(fmt_sig),
    "sci": fmt_sci,  # LaTeX, used inside $...$
    "seconds": with_title(fmt_seconds),
}
