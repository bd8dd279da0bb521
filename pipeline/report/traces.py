"""The numbers a report prints, read back through their hover traces.

Every number a template prints through a formatting filter carries a trace
(``pipeline.report.values.TracedFloat``): ``results/default/q2_cnn/results.json:
runs[1].test_acc`` for a value read from a results file, or arithmetic of such
values for a derived one (``file: a.b − c.d``, ``abs((file: x) × 100.0)``).  This
module parses a trace into an expression over (experiment, key) references,
evaluates it on any set of results, and collects the printed numbers of a filled
report (``[0.832]{.num title="…"}`` spans) so that ``verify`` and ``diff`` can
judge exactly the numbers a reader sees.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from pipeline.errors import Hw2Error
from pipeline.report.values import fmt_bytes, fmt_fixed, fmt_int, fmt_pct, fmt_seconds


# helpers: keys ---------------------------------------------------------------------

_KEY_PART = re.compile(r"[^.\[\]]+|\[\d+\]")


def key_parts(key: str) -> list[str | int]:
    """Split ``a.b[3].c`` into ['a', 'b', 3, 'c']."""
    return [int(p[1:-1]) if p.startswith("[") else p for p in _KEY_PART.findall(key)]


def lookup(data: Any, key: str) -> Any:
    """Follow a key such as ``timing.series[1].exact_s[3]`` into a results dict; KeyError if absent."""
    for part in key_parts(key):
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            raise KeyError(key) from None
    return data


def as_number(value: Any) -> float | None:
    """Return a results value as a float (NaN/inf strings included); None when it is not a number."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str) and value.lower() in ("nan", "inf", "-inf"):
        return float(value)
    return None


# parsing traces -----------------------------------------------------------------------

@dataclass(frozen=True)
class Ref:
    """A value read from an experiment's results.json at ``key``."""

    experiment: str
    key: str


_TOKEN = re.compile(r"(?P<abs>abs\()|(?P<neg>−\()|(?P<open>\()|(?P<close>\))|(?P<op> [−+×/] )"
                    r"|(?P<file>[^\s()]+\.json): |(?P<atom>[^\s()]+)|(?P<space>\s+)")


def _tokens(trace: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    while pos < len(trace):
        m = _TOKEN.match(trace, pos)
        if not m:
            raise Hw2Error(f"cannot read the trace {trace!r} at character {pos}")
        pos = m.end()
        if m.lastgroup != "space":
            out.append((m.lastgroup, m.group(m.lastgroup).strip()))
    return out


def experiment_of(label: str) -> str:
    """Return the experiment a results-file label names (``…/<profile>/<experiment>/results.json``)."""
    parts = label.split("/")
    if len(parts) < 2:
        raise Hw2Error(f"trace names {label!r}, not <profile>/<experiment>/results.json")
    return parts[-2]


class _Parser:
    """Recursive descent over a trace: + and − bind looser than × and /; a file prefix covers its group."""

    def __init__(self, trace: str):
        self.trace, self.tokens, self.i = trace, _tokens(trace), 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self, kind: str | None = None) -> tuple[str, str]:
        tok = self.peek()
        if tok is None or (kind and tok[0] != kind):
            raise Hw2Error(f"cannot read the trace {self.trace!r}: expected {kind or 'more'} at token {self.i}")
        self.i += 1
        return tok

    def group(self, file: str | None) -> Any:
        if self.peek() and self.peek()[0] == "file":
            file = experiment_of(self.take("file")[1])
        return self.expr(file)

    def expr(self, file: str | None) -> Any:
        node = self.term(file)
        while self.peek() and self.peek()[0] == "op" and self.peek()[1] in "+−":
            node = ("bin", self.take()[1], node, self.term(file))
        return node

    def term(self, file: str | None) -> Any:
        node = self.unary(file)
        while self.peek() and self.peek()[0] == "op" and self.peek()[1] in "×/":
            node = ("bin", self.take()[1], node, self.unary(file))
        return node

    def unary(self, file: str | None) -> Any:
        kind, text = self.take()
        if kind in ("abs", "neg", "open"):
            inner = self.group(file)
            self.take("close")
            return {"abs": ("abs", inner), "neg": ("neg", inner), "open": inner}[kind]
        if kind == "file":  # a prefix in the middle of a group: it covers what follows
            self.i -= 1
            return self.group(file)
        if kind != "atom":
            raise Hw2Error(f"cannot read the trace {self.trace!r}: unexpected {text!r}")
        number = _float_or_none(text)
        if number is not None:
            return ("num", number)
        if file is None:
            raise Hw2Error(f"trace {self.trace!r}: the key {text!r} names no results file")
        return ("ref", Ref(file, text))


def _float_or_none(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


_FILE_PREFIX = re.compile(r"[^\s()]+\.json: ")


@dataclass(frozen=True)
class Expression:
    """A parsed trace: evaluate it on any results, list the values it reads."""

    trace: str
    tree: Any

    @property
    def refs(self) -> list[Ref]:
        """The results values the expression reads, in order, each once."""
        found: dict[Ref, None] = {}

        def walk(node: Any) -> None:
            if node[0] == "ref":
                found[node[1]] = None
            elif node[0] == "bin":
                walk(node[2]), walk(node[3])
            elif node[0] in ("abs", "neg"):
                walk(node[1])

        walk(self.tree)
        return list(found)

    @property
    def label(self) -> str:
        """The trace without its results-file names: ``runs[1].test_acc`` or ``abs((a − b) × 100.0)``."""
        return _FILE_PREFIX.sub("", self.trace)

    @property
    def identity(self) -> str:
        """What makes two traces the same number, wherever their results folder is."""
        return repr(self.tree)

    @property
    def is_single(self) -> bool:
        """True when the trace is one value read from a results file (nothing derived)."""
        return self.tree[0] == "ref"

    def evaluate(self, value_of: Callable[[Ref], float]) -> float:
        """Return the expression's value, reading each reference through ``value_of``."""
        def ev(node: Any) -> float:
            kind = node[0]
            if kind == "num":
                return node[1]
            if kind == "ref":
                return value_of(node[1])
            if kind == "abs":
                return abs(ev(node[1]))
            if kind == "neg":
                return -ev(node[1])
            left, right = ev(node[2]), ev(node[3])
            return _apply(node[1], left, right)

        return ev(self.tree)


def _apply(op: str, left: float, right: float) -> float:
    if op == "+":
        return left + right
    if op == "−":
        return left - right
    if op == "×":
        return left * right
    return left / right if right != 0 else math.copysign(math.inf, left) if left else math.nan


def parse_trace(trace: str) -> Expression:
    """Parse a hover trace into an Expression; a malformed trace raises a one-line Hw2Error."""
    parser = _Parser(trace)
    tree = parser.group(None)
    if parser.peek() is not None:
        raise Hw2Error(f"cannot read the trace {trace!r}: unexpected {parser.peek()[1]!r}")
    return Expression(trace, tree)


def value_reader(results: Mapping[str, Any]) -> Callable[[Ref], float]:
    """Return a function reading a Ref from ``{experiment: results dict}``; KeyError when absent or not a number."""
    def value_of(ref: Ref) -> float:
        if ref.experiment not in results:
            raise KeyError(f"{ref.experiment}: no results")
        number = as_number(lookup(results[ref.experiment], ref.key))
        if number is None:
            raise KeyError(f"{ref.experiment}: {ref.key} is not a number")
        return number

    return value_of


# printed numbers ----------------------------------------------------------------------

SPAN = re.compile(r'\[([^\[\]]*)\]\{\.num title="([^"]*)"\}')


@dataclass(frozen=True)
class Printed:
    """One number as the report prints it: its text, its parsed trace, and how often it appears."""

    text: str
    expression: Expression
    count: int = 1

    @property
    def experiments(self) -> list[str]:
        return list(dict.fromkeys(ref.experiment for ref in self.expression.refs))


def printed_numbers(qmd_text: str) -> list[Printed]:
    """Return each traced number of a filled report once, in order of first appearance."""
    seen: dict[tuple[str, str], int] = {}
    for text, trace in SPAN.findall(qmd_text):
        seen[(text, trace)] = seen.get((text, trace), 0) + 1
    return [Printed(text, parse_trace(trace), count) for (text, trace), count in seen.items()]


def format_like(printed: str, value: float) -> str:
    """Format ``value`` the way ``printed`` was formatted (decimals, %, thousands, units)."""
    text = printed.strip()
    if re.fullmatch(r"−?[\d.]+ (ms|s|min|h)", text):
        return fmt_seconds(value)
    if re.fullmatch(r"[\d.]+ (KiB|MiB|GiB|B)", text):
        return fmt_bytes(value)
    if text.endswith("%"):
        return fmt_pct(value, _decimals(text[:-1]))
    if "," in text and "." not in text:
        return fmt_int(value)
    return fmt_fixed(value, _decimals(text))


def format_kind(text: str) -> str:
    """What kind of format a printed number has: '%.1', 's', 'int,', '.3' (for telling two printings apart)."""
    text = text.strip()
    unit = re.search(r"(ms|s|min|h|KiB|MiB|GiB|B|%)$", text)
    if unit and unit.group(1) != "%":
        return unit.group(1)
    number = text.rstrip("%")
    return ("%" if unit else "") + ("," if "," in number else "") + f".{_decimals(number)}"


def _decimals(text: str) -> int:
    return len(text.split(".", 1)[1]) if "." in text else 0
