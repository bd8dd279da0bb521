"""No number may be typed by hand into the report's prose or tables: they all come from results.

Numbers inside Jinja expressions, LaTeX math (formulas), inline code, Quarto
attributes and labels are not prose. Structural numbers are allowed only in the
forms listed in ALLOWED (question numbers, dtype names, "2D", ordinals). A
paragraph that states facts of the handout or the course (a layer's kernel size,
the real corpus's split) rather than results may say so with a Jinja comment
``{## not results: <why> ##}``; the reason is required, and the test lists how many
paragraphs use it so that the exemption stays visible.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

TEMPLATES = sorted((Path(__file__).resolve().parent.parent / "templates").rglob("*.j2"))

STRIP = [
    re.compile(r"\{##.*?##\}", re.S),          # Jinja comments
    re.compile(r"\{%.*?%\}", re.S),            # Jinja statements
    re.compile(r"\{\{.*?\}\}", re.S),          # Jinja expressions
    re.compile(r"\$\$.*?\$\$", re.S),          # display math
    re.compile(r"\$[^$\n]+\$"),                # inline math
    re.compile(r"`[^`\n]*`"),                  # inline code
    re.compile(r"\{[#.][^}]*\}"),              # Quarto attributes {#fig-x width=80%}
    re.compile(r"@(?:fig|tbl|eq|sec)-[\w-]+"),  # cross-references
    re.compile(r"\]\([^)]*\)"),                # link and image targets
    re.compile(r"^---$.*?^---$", re.S | re.M),  # front matter
]
ALLOWED = re.compile(
    r"(?:Question|Questions|Section|Q|question)\s?\d(?:\.\d)?"  # question and section numbers
    r"|\b(?:float|int|uint)(?:16|32|64|8)\b"                    # dtype names
    r"|\b\d+D\b|\b\d+(?:st|nd|rd|th)\b"                         # 2D, 2nd
    r"|\b[A-Za-z]+\d+\b|\b\d+[A-Za-z]+\w*"                      # identifiers (q1, conv1, sha256, 3x3 kernels named in prose)
)
NUMBER = re.compile(r"(?<![\w.])\d+(?:[.,]\d+)*%?")


EXEMPT = re.compile(r"\{##\s*not results:\s*(\S[^#]*?)\s*##\}")


def prose_numbers(text: str) -> list[str]:
    text = "\n\n".join(p for p in re.split(r"\n\s*\n", text) if not EXEMPT.search(p))
    for pattern in STRIP:
        text = pattern.sub(" ", text)
    text = ALLOWED.sub(" ", text)
    return NUMBER.findall(text)


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.name)
def test_template_has_no_hand_typed_numbers(path):
    found = prose_numbers(path.read_text(encoding="utf-8"))
    assert not found, f"{path.name}: numbers typed by hand: {found[:10]}"


def test_exemptions_need_a_reason():
    assert prose_numbers("{## not results: handout network ##} conv1 maps 1 to 8 channels.") == []
    assert prose_numbers("{## not results: ##} It was 0.83.") == ["0.83"]
    assert prose_numbers("{## not results: handout ##} 3x3.\n\nThe accuracy was 0.83.") == ["0.83"]


def test_the_check_can_fail():
    assert prose_numbers("The accuracy was 0.83 and {{ r.acc | num(2) }} in $x^2$.") == ["0.83"]
    assert prose_numbers("| 0.1 | {{ r.lr }} |") == ["0.1"]
    assert prose_numbers("Question 2 uses float32 and conv1.") == []
