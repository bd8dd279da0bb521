"""report/metadata.yml is checked before any template is filled: each mistake is one line
naming the file, the line and the field (issue #15: they used to be blamed on the templates)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from pipeline.report.metadata import METADATA, MetadataError, load_metadata

ORIGINAL = METADATA.read_text(encoding="utf-8")


def edited(old: str, new: str) -> str:
    assert old in ORIGINAL, old
    return ORIGINAL.replace(old, new, 1)


def line_of(text: str, fragment: str) -> int:
    return text[: text.index(fragment)].count("\n") + 1


CASES = {
    "a member without a student number": (
        edited("    student_number: 99115\n", ""),
        "{file}:{line}: members[1] has no student_number (the member's student number)", "  - name: Pedro Lobo"),
    "a misspelt key": (
        edited("    student_number: 99115", "    studnet_number: 99115"),
        "{file}:{line}: unknown key members[1].studnet_number (did you mean student_number?)", "studnet_number"),
    "a missing title": (
        edited('title: "Deep Learning 2023/24, Homework 2"\n', ""),
        "{file}:{line}: no title (the report's title)", "course:"),
    "an empty title": (
        edited('title: "Deep Learning 2023/24, Homework 2"', "title:"),
        "{file}:{line}: title is empty (the report's title)", "title:"),
    "a group that is a list": (
        edited("group: 48", "group: [48]"),
        "{file}:{line}: group must be a number or text (the group number), found a list", "group:"),
    "a yes/no group": (
        edited("group: 48", "group: yes"),
        "{file}:{line}: group must be a number or text (the group number), found true (a yes/no value)", "group:"),
    "a YAML slip (indentation)": (
        edited("  - name: Pedro Lobo", " - name: Pedro Lobo"),
        "{file}:{line}: not valid YAML: expected <block end>, but found '<block sequence start>' "
        "(while parsing a block mapping)", " - name: Pedro"),
    "a member that is not a mapping": (
        edited("  - name: Pedro Lobo\n    student_number: 99115", "  - Pedro Lobo"),
        "{file}:{line}: members[1] must have a name and a student_number, found text", "  - Pedro Lobo"),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_each_mistake_is_one_line_with_file_line_and_field(case, tmp_path):
    text, expected, where = CASES[case]
    path = tmp_path / "metadata.yml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(MetadataError) as err:
        load_metadata(path)
    assert str(err.value) == expected.format(file=path, line=line_of(text, where))


def test_the_project_file_is_valid():
    data = load_metadata()
    assert data["title"] and len(data["members"]) >= 1 and all("student_number" in m for m in data["members"])


def test_an_empty_member_list_is_an_error(tmp_path):
    path = tmp_path / "metadata.yml"
    path.write_text(edited("members:\n  - name: Miguel Vale\n    student_number: 99113\n"
                           "  - name: Pedro Lobo\n    student_number: 99115\n", "members: []\n"))
    with pytest.raises(MetadataError, match=r"metadata.yml:5: members lists nobody"):
        load_metadata(path)


def test_the_build_checks_metadata_before_anything_else(tree_copy, tmp_path):
    """The example of issue #15: the error names report/metadata.yml, its line and the member."""
    path = tree_copy / "report" / "metadata.yml"
    path.write_text(edited("    student_number: 99115\n", ""), encoding="utf-8")
    env = {**os.environ, "HW2_RESULTS_DIR": str(tmp_path / "no-results")}
    proc = subprocess.run([sys.executable, "-m", "pipeline", "build", "--profile", "quick", "--run", "none"],
                          cwd=tree_copy, capture_output=True, text=True, env=env)
    assert proc.returncode == 2
    assert proc.stderr == ("error: report/metadata.yml:8: members[1] has no student_number "
                           "(the member's student number)\n")
