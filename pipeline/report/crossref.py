"""Quarto-style cross-references resolved for plain pandoc.

The generated ``report.qmd`` uses Quarto's conventions: ``![Caption](img){#fig-x}``,
a pipe table followed by ``: Caption {#tbl-x}``, ``$$ ... $$ {#eq-x}``,
``## Heading {#sec-x}``, and ``@fig-x`` / ``@tbl-x`` / ``@eq-x`` / ``@sec-x`` in
the text.  Quarto resolves these itself.  Without Quarto, :func:`resolve` numbers
them the way Quarto does (figures, tables and equations each 1, 2, ... in order
of appearance; sections by their heading numbers) and rewrites the text so that
pandoc's HTML and Typst writers print the same numbers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from pipeline.errors import RenderError

PREFIX = {"fig": "Figure", "tbl": "Table", "eq": "Equation", "sec": "Section"}
LABEL = r"(?:fig|tbl|eq|sec)-[A-Za-z0-9_-]*[A-Za-z0-9_]"

FIGURE_RE = re.compile(r"^!\[(?P<cap>.*)\]\((?P<path>[^)\s]+)\)\{(?P<attrs>[^}]*)\}\s*$", re.S)
TABLE_CAPTION_RE = re.compile(r"^:\s+(?P<cap>.*?)\s*\{(?P<attrs>[^}]*)\}\s*$", re.S)
HEADING_RE = re.compile(r"^(?P<hashes>#{1,6})\s+(?P<title>.*?)(?:\s*\{(?P<attrs>[^}]*)\})?\s*$")
EQUATION_RE = re.compile(r"\$\$(?P<body>.+?)\$\$[ \t]*\{#(?P<id>eq-[A-Za-z0-9_-]+)\}", re.S)
REF_RE = re.compile(r"(?<![\w{#@])@(?P<id>" + LABEL + r")")
ID_RE = re.compile(r"#(?P<id>" + LABEL + r")")


@dataclass
class Numbering:
    """The number Quarto would give each label, in document order."""

    numbers: dict[str, str] = field(default_factory=dict)

    def text(self, label: str) -> str:
        kind = label.split("-", 1)[0]
        return f"{PREFIX[kind]} {self.numbers[label]}"


def split_front_matter(text: str) -> tuple[str, str]:
    """Return (YAML front matter including its --- lines, body)."""
    if text.startswith("---\n"):
        end = text.find("\n---\n", 4)
        if end != -1:
            return text[: end + 5], text[end + 5:]
    return "", text


def blocks(body: str) -> list[tuple[str, bool]]:
    """Split ``body`` into (text, is_code) blocks: paragraphs separated by blank lines, fenced code whole."""
    out: list[tuple[str, bool]] = []
    current: list[str] = []
    fence = None

    def flush(is_code: bool = False) -> None:
        if current:
            out.append(("\n".join(current), is_code))
            current.clear()

    for line in body.split("\n"):
        stripped = line.lstrip()
        if fence is None and (stripped.startswith("```") or stripped.startswith("~~~")):
            flush()
            fence = stripped[:3]
            current.append(line)
        elif fence is not None:
            current.append(line)
            if stripped.startswith(fence) and len(current) > 1:
                flush(is_code=True)
                fence = None
        elif not line.strip():
            flush()
            out.append((line, False))
        else:
            current.append(line)
    flush(is_code=fence is not None)
    return out


def _block_label(block: str, kind: str) -> str | None:
    regex = FIGURE_RE if kind == "fig" else TABLE_CAPTION_RE
    match = regex.match(block)
    if not match:
        return None
    ids = [i for i in ID_RE.findall(match.group("attrs")) if i.startswith(kind + "-")]
    return ids[0] if ids else None


def number_labels(body: str) -> Numbering:
    """Find every figure, table, equation and section label and number it."""
    numbering = Numbering()
    counters = {"fig": 0, "tbl": 0, "eq": 0}
    sections = [0] * 6
    events: list[tuple[int, str, str]] = []  # (offset, kind, label)
    offset = 0
    for block, is_code in blocks(body):
        if not is_code:
            for kind in ("fig", "tbl"):
                label = _block_label(block, kind)
                if label:
                    events.append((offset, kind, label))
            for line in block.split("\n"):
                heading = HEADING_RE.match(line)
                if not heading:
                    continue
                attrs = heading.group("attrs") or ""
                level = len(heading.group("hashes"))
                if ".unnumbered" not in attrs and not re.search(r"(^|\s)-(\s|$)", attrs):
                    sections[level - 1] += 1
                    sections[level:] = [0] * (6 - level)
                    ids = [i for i in ID_RE.findall(attrs) if i.startswith("sec-")]
                    if ids:
                        numbering.numbers[ids[0]] = ".".join(str(n) for n in sections[:level] if n) or "0"
            for match in EQUATION_RE.finditer(block):
                events.append((offset + match.start(), "eq", match.group("id")))
        offset += len(block) + 1
    for _, kind, label in sorted(events):
        if label in numbering.numbers:
            raise RenderError(f"report.qmd: the label #{label} is defined twice")
        counters[kind] += 1
        numbering.numbers[label] = str(counters[kind])
    return numbering


def _rewrite_equation(match: re.Match, numbering: Numbering, target: str) -> str:
    label, body = match.group("id"), match.group("body").strip()
    number = numbering.numbers[label]
    if target == "typst":
        return (
            "```{=typst}\n#grid(columns: (1fr, auto), align: (center + horizon, right + horizon), [\n```\n\n"
            f"$${body}$$\n\n```{{=typst}}\n], [({number})]) <{label}>\n```"
        )
    return f"::: {{#{label} .equation}}\n$${body}$$ [({number})]{{.eq-number}}\n:::"


def resolve(text: str, target: str) -> tuple[str, Numbering]:
    """Rewrite Quarto cross-references for pandoc's ``html`` or ``typst`` writer."""
    if target not in ("html", "typst"):
        raise ValueError(f"unknown target {target!r}")
    front, body = split_front_matter(text)
    numbering = number_labels(body)
    out = []
    for block, is_code in blocks(body):
        if is_code:
            out.append(block)
            continue
        fig_label, tbl_label = _block_label(block, "fig"), _block_label(block, "tbl")
        if fig_label:
            match = FIGURE_RE.match(block)
            block = (f"![{numbering.text(fig_label)}: {match.group('cap')}]"
                     f"({match.group('path')}){{{match.group('attrs')}}}")
        elif tbl_label:
            match = TABLE_CAPTION_RE.match(block)
            block = f": {numbering.text(tbl_label)}: {match.group('cap')} {{{match.group('attrs')}}}"
        block = EQUATION_RE.sub(lambda m: _rewrite_equation(m, numbering, target), block)
        out.append(_replace_refs(block, numbering))
    return front + "\n".join(out), numbering


def _replace_refs(line: str, numbering: Numbering) -> str:
    def ref(match: re.Match) -> str:
        label = match.group("id")
        if label not in numbering.numbers:
            raise RenderError(f"report.qmd: @{label} refers to no figure, table, equation or section")
        return f"[{numbering.text(label)}](#{label})"

    return REF_RE.sub(ref, line)
