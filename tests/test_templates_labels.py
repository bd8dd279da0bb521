"""A table's label must stay apart from its caption's last word once Jinja has trimmed the block tags.

Jinja runs with trim_blocks, so a newline right after ``{% endif %}`` disappears: a caption
ending in a block tag, with ``{#tbl-...}`` on the next line, renders as ``word.{#tbl-...}``.
pandoc still reads that as a label; Quarto does not, and leaves ``?@tbl-...`` in the text.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

TEMPLATES = sorted((Path(__file__).resolve().parent.parent / "templates").rglob("*.j2"))


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.name)
def test_no_label_is_glued_to_a_block_tag(path):
    lines = path.read_text(encoding="utf-8").splitlines()
    glued = [i + 1 for i in range(1, len(lines))
             if re.match(r"\s*\{#(tbl|fig)-", lines[i]) and lines[i - 1].rstrip().endswith("%}")]
    assert not glued, f"{path.name}: a label follows a block tag at line(s) {glued}; put it after a space instead"
