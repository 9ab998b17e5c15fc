"""One schedules file's YAML, read safely: a size cap, safe tags only, a bound on alias expansion."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.parser import Parser
from yaml.resolver import Resolver
from yaml.scanner import Scanner

#: A schedules file larger than this is refused before it is parsed (1,000 entries take ~150 KB).
MAX_FILE_BYTES = 2 * 1024 * 1024
#: Values a file's aliases may add once expanded: bounds the work an alias bomb (``&a [*b, *b, ...]``)
#: can cause. Only the copies aliases make are counted, so a file without aliases is never refused.
MAX_ALIAS_VALUES = 200_000
#: Where alias_copies stops counting: far past any limit plus any file's node count, and cheap to add.
_SATURATED = 1 << 62


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


class _AliasBomb(Exception):
    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


class _CheckedConstructor(SafeConstructor):
    """PyYAML's safe constructor, with a value it cannot build refused as bad YAML, at its line.

    ``2026-02-30`` resolves as a date and ``0b_`` as an integer, then building them raises a bare
    ``ValueError`` (``day is out of range for month``), which escaped the sync as a traceback.
    """

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except ValueError as exc:
            raise ConstructorError(None, None, f"{exc}: {node.value!r}", node.start_mark) from exc


class _PureLoader(yaml.reader.Reader, Scanner, Parser, Composer, _CheckedConstructor, Resolver):
    """``yaml.SafeLoader`` with the checked constructor."""

    def __init__(self, stream: str) -> None:
        yaml.reader.Reader.__init__(self, stream)
        Scanner.__init__(self)
        Parser.__init__(self)
        Composer.__init__(self)
        _CheckedConstructor.__init__(self)
        Resolver.__init__(self)


def alias_copies(root: yaml.Node) -> int | None:
    """How many values the document's aliases add once expanded, or ``None`` when they never end.

    Each node is visited once (an alias is the very node its anchor made), so this costs what the
    file holds, not what it expands to: the expanded size of a node is itself plus the expanded
    sizes of its children, and the aliases add the root's expanded size less the nodes written
    out. Sizes saturate at 2**62 (a bomb's would have millions of digits), which still compares
    right against any limit. An alias inside the node it refers to (``&a [*a]``) never ends.
    """
    expanded: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            on_path.discard(key)
            size = 1 + sum(expanded[id(child)] for child in _children(node))
            expanded[key] = min(size, _SATURATED)
            continue
        if key in expanded:
            continue
        if key in on_path:
            return None
        on_path.add(key)
        stack.append((node, True))
        for child in _children(node):
            if id(child) in on_path:
                return None
            if id(child) not in expanded:
                stack.append((child, False))
    return expanded[id(root)] - len(expanded)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [item for pair in node.value for item in pair]
    return []


def _check_aliases(root: yaml.Node) -> None:
    added = alias_copies(root)
    if added is None:
        raise _AliasBomb("an alias refers to a value that contains it, so it expands without end; remove that alias")
    if added > MAX_ALIAS_VALUES:
        raise _AliasBomb(
            f"its aliases add more than {MAX_ALIAS_VALUES} values (copies of what they refer to) once the "
            "aliases are expanded; write those values out, or use fewer aliases"
        )


def load_text(text: str) -> Document | Refusal:
    """``text`` as one YAML document (safe tags only), or the message it is refused with."""
    try:
        loader = _PureLoader(text)  # reads the first characters: refuses control characters here
    except yaml.YAMLError as exc:
        return Refusal(message=f"is not valid YAML: {exc}")
    try:
        root = loader.get_single_node()
        if root is not None:
            _check_aliases(root)
        data = loader.construct_document(root) if root is not None else None
    except _AliasBomb as exc:
        return Refusal(message=exc.message)
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
