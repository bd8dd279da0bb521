"""report/metadata.yml: the report's title, group, members and contribution, checked before use.

The file is edited by hand, so each mistake is reported in one line naming the file, the
line and the field, before any template is filled or experiment run::

    report/metadata.yml:8: members[1] has no student_number
    report/metadata.yml:9: not valid YAML: expected <block end>, but found '-' (while parsing a block mapping)
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from hw2.errors import Hw2Error
from pipeline.results import REPO_ROOT

METADATA = REPO_ROOT / "report" / "metadata.yml"


class MetadataError(Hw2Error):
    """report/metadata.yml is missing, not YAML, or lacks or misspells a field."""


@dataclass(frozen=True)
class Field:
    """One field of metadata.yml: its name, the types it may hold, what it is, and whether it is required."""

    name: str
    types: tuple[type, ...]
    what: str
    required: bool = True


TOP = (
    Field("title", (str,), "the report's title"),
    Field("course", (str,), "the course, printed under the title", required=False),
    Field("group", (int, str), "the group number"),
    Field("members", (list,), "the group's members, each with a name and a student_number"),
    Field("contribution", (str,), "who did what"),
)
MEMBER = (
    Field("name", (str,), "the member's name"),
    Field("student_number", (int, str), "the member's student number"),
)
TYPE_WORDS = {str: "text", int: "a number", list: "a list", dict: "keys and values"}


def display(path: Path) -> str:
    """Return ``path`` relative to the repository when it lies inside it."""
    try:
        return path.resolve().relative_to(REPO_ROOT).as_posix()
    except ValueError:
        return str(path)


def load_metadata(path: Path = METADATA) -> dict[str, Any]:
    """Return the metadata as a dict; raise a one-line MetadataError naming file, line and field."""
    where = display(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise MetadataError(f"{where}: missing (it holds the report's title, group and members)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise MetadataError(f"{where}: cannot be read ({exc})") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        context = f" ({exc.context})" if exc.context else ""
        raise MetadataError(f"{where}:{mark.line + 1 if mark else 1}: not valid YAML: {exc.problem}{context}") from None
    except yaml.YAMLError as exc:
        raise MetadataError(f"{where}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if node is None or not isinstance(node, yaml.MappingNode):
        raise MetadataError(f"{where}:1: expected the keys {', '.join(f.name for f in TOP)}, "
                            f"found {_kind(data)}")
    check_mapping(node, data, TOP, "", where)
    members = _value_node(node, "members")
    if not members.value:
        raise MetadataError(f"{where}:{members.start_mark.line + 1}: members lists nobody; add one '- name: ...' "
                            "entry per member, each with a student_number")
    for index, (member, value) in enumerate(zip(members.value, data["members"])):
        if not isinstance(member, yaml.MappingNode):
            raise MetadataError(f"{where}:{member.start_mark.line + 1}: members[{index}] must have a name and a "
                                f"student_number, found {_kind(value)}")
        check_mapping(member, value, MEMBER, f"members[{index}]", where)
    return data


def check_mapping(node: yaml.MappingNode, data: dict[str, Any], fields: tuple[Field, ...], prefix: str,
                  where: str) -> None:
    """Check one mapping (its YAML node, for line numbers, and its value) against ``fields``."""
    known = {f.name: f for f in fields}
    present = {}
    for key_node, value_node in node.value:
        key = key_node.value
        line = key_node.start_mark.line + 1
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f"did you mean {close[0]}?" if close else f"known: {', '.join(known)}"
            raise MetadataError(f"{where}:{line}: unknown key {_path(prefix, key)} ({hint})")
        present[key] = value_node
    for field in fields:
        if field.name not in present:
            if field.required:
                owner = f"{prefix} has no" if prefix else "no"
                raise MetadataError(f"{where}:{node.start_mark.line + 1}: {owner} {field.name} ({field.what})")
            continue
        value = data[field.name]
        line = present[field.name].start_mark.line + 1
        name = _path(prefix, field.name)
        if value is None or value == "":
            raise MetadataError(f"{where}:{line}: {name} is empty ({field.what})")
        if isinstance(value, bool) or not isinstance(value, field.types):
            wanted = " or ".join(TYPE_WORDS[t] for t in field.types)
            raise MetadataError(f"{where}:{line}: {name} must be {wanted} ({field.what}), found {_kind(value)}")


def _value_node(node: yaml.MappingNode, key: str) -> yaml.Node:
    return next(value for key_node, value in node.value if key_node.value == key)


def _path(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else str(key)


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"{str(value).lower()} (a yes/no value)"
    for t, word in TYPE_WORDS.items():
        if isinstance(value, t):
            return word
    return type(value).__name__
