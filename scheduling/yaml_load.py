"""One schedules file's YAML, read safely: a size cap, safe tags only, a bound on alias expansion."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

#: A schedules file larger than this is refused before it is parsed (1,000 entries take ~150 KB).
MAX_FILE_BYTES = 2 * 1024 * 1024
#: Values in one file, aliases expanded: bounds the work an alias bomb (``&a [*b, *b, ...]``) can cause.
MAX_NODES = 200_000


@dataclass(frozen=True, kw_only=True)
class Refusal:
    """Why a file cannot be read, and the line (1-based) where the YAML went wrong, when known."""

    message: str
    line: int | None = None


@dataclass(frozen=True, kw_only=True)
class Document:
    """A file's node tree (``None`` for an empty file) and the values constructed from it."""

    root: yaml.Node | None
    data: Any


def _expands_past(root: yaml.Node, limit: int) -> bool:
    """Whether the document has more than ``limit`` nodes with every alias expanded (an alias bomb)."""
    count = 0
    stack: list[yaml.Node] = [root]
    while stack:
        node = stack.pop()
        count += 1
        if count > limit:
            return True
        if isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
        elif isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                stack += (key, value)
    return False


def load_text(text: str) -> Document | Refusal:
    """``text`` as one YAML document (safe tags only), or the message it is refused with."""
    try:
        loader = yaml.SafeLoader(text)  # reads the first characters: refuses control characters here
    except yaml.YAMLError as exc:
        return Refusal(message=f"is not valid YAML: {exc}")
    try:
        root = loader.get_single_node()
        if root is not None and _expands_past(root, MAX_NODES):
            return Refusal(message=f"holds more than {MAX_NODES} values once its aliases are expanded; split it up")
        data = loader.construct_document(root) if root is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        hint = ' (quote cron expressions: cron: "*/5 * * * *")' if "alias" in str(exc) else ""
        detail = str(getattr(exc, "problem", None) or exc)
        return Refusal(message=f"is not valid YAML: {detail}{hint}", line=mark.line + 1 if mark else None)
    except RecursionError:
        return Refusal(message="is nested too deeply to be a schedules file")
    finally:
        loader.dispose()
    return Document(root=root, data=data)


def load_file(path: Path) -> Document | Refusal:
    """The YAML document in ``path``, or why it is refused: too large, unreadable, or not safe YAML."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            return Refusal(message=f"is {size} bytes; the limit is {MAX_FILE_BYTES} bytes: split it into several files")
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return Refusal(message=f"cannot be read: {exc}")
    return load_text(text)
