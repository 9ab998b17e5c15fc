"""One schedules file's YAML, read safely: a size cap, an alias-bomb guard, libyaml's speed, PyYAML's words.

Reading is in two steps. The fast one, for a file written plainly (no tags, directives, block
scalars, tabs or unusual line breaks: what schedule files hold), tokenises with libyaml (PyYAML's
C extension) and builds the node tree with PyYAML's own Python composer, resolver and safe
constructor: the same nodes, values and alias handling, and a ``RecursionError`` on deep nesting
(libyaml's own C composer recurses without a bound and crashed the process on a few hundred
thousand ``[``). Its result is trusted only when it succeeds. Anything else, and every refusal
(bad YAML, a value that cannot be built, deep nesting, an alias bomb), is read by PyYAML's
pure-Python loader, whose result stands, so every message is the one the sync always gave, word
for word. The pure loader alone took ~7 s of CPU for 10,000 entries; the fast one ~1 s.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.events import (
    AliasEvent,
    CollectionStartEvent,
    DocumentStartEvent,
    MappingEndEvent,
    NodeEvent,
    ScalarEvent,
    SequenceEndEvent,
)
from yaml.parser import Parser
from yaml.resolver import Resolver
from yaml.scanner import Scanner

#: A schedules file larger than this is refused before it is parsed (1,000 entries take ~150 KB).
MAX_FILE_BYTES = 2 * 1024 * 1024
#: Values a file's aliases may add once expanded: bounds the work an alias bomb (``&a [*b, *b, ...]``)
#: can cause. Only the copies aliases make are counted, so a file without aliases is never refused.
MAX_ALIAS_VALUES = 200_000


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


#: What libyaml and PyYAML read differently (found by ``tests/unit/test_yaml_load.py``): line breaks
#: other than ``\n``, a byte-order mark, a tab (PyYAML refuses one after a plain value), a tag (an
#: empty ``!`` value is ``""`` to one and ``None`` to the other), a ``?`` starting a token (``[?]`` is a
#: mapping to libyaml, an error to PyYAML). A file holding one is read by the pure loader only:
#: slower, and exactly as before. ``_plainly_written`` rules out the rest.
_DIFFERENT = re.compile("[\r\t\x85\u2028\u2029\ufeff]|(?:^|[\\s\\[{,])[!?]")
#: Nesting (of lists and mappings) past which a file is left to the pure loader; schedules nest ~4 deep.
_MAX_PLAIN_DEPTH = 64
#: Where alias_copies stops counting: far past any limit plus any file's node count, and cheap to add.
_SATURATED = 1 << 62


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


if yaml.__with_libyaml__:  # PyYAML built without libyaml: the pure loader reads everything
    from yaml._yaml import CParser

    class _FastLoader(Composer, CParser, _CheckedConstructor, Resolver):
        """libyaml's events, PyYAML's Python composer (bounded recursion) and safe constructor.

        It counts the aliases it composes: a document without one cannot be an alias bomb, and
        needs no walk. (The count costs a frame per level of nesting, so deep files reach the
        recursion limit a little sooner here: the pure loader then reads them, as before.)
        """

        def __init__(self, stream: str) -> None:
            CParser.__init__(self, stream)
            Composer.__init__(self)
            _CheckedConstructor.__init__(self)
            Resolver.__init__(self)
            self.aliases = 0

        def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
            if self.check_event(AliasEvent):
                self.aliases += 1
            return super().compose_node(parent, index)


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


def _plainly_written(text: str) -> bool:
    """Whether ``text`` keeps to the YAML both parsers read alike: no directives, tags or block scalars,
    and no ``:``, ``?`` or ``#`` in an unquoted value inside ``[...]`` or ``{...}``.

    The fast reader's differences from PyYAML (found by ``tests/unit/test_yaml_load.py``) all lie
    outside it; one pass over libyaml's events costs a tenth of reading the file. Deeper nesting
    than ``_MAX_PLAIN_DEPTH`` is left to the pure loader too: scanning ever deeper brackets costs
    both scanners time in proportion to the depth at each one, and the pure composer gives up
    (``RecursionError``) a few hundred levels in, before that adds up.
    """
    parser = CParser(text)
    flow: list[bool] = []
    try:
        while (event := parser.get_event()) is not None:
            if isinstance(event, DocumentStartEvent) and (event.version or event.tags):
                return False
            if isinstance(event, NodeEvent) and getattr(event, "tag", None) is not None:
                return False
            in_flow = bool(flow) and flow[-1]
            if isinstance(event, CollectionStartEvent):
                if len(flow) >= _MAX_PLAIN_DEPTH:
                    return False
                flow.append(in_flow or bool(event.flow_style))
            elif isinstance(event, SequenceEndEvent | MappingEndEvent):
                flow.pop()
            elif isinstance(event, ScalarEvent) and not _read_alike(event, in_flow=in_flow):
                return False
    except yaml.YAMLError:
        return False
    finally:
        parser.dispose()
    return True


def _read_alike(scalar: ScalarEvent, *, in_flow: bool) -> bool:
    if scalar.style in ("|", ">"):
        return False
    return not (not scalar.style and in_flow and any(mark in scalar.value for mark in ":?#"))  # plain: "" or None


def _read_fast(text: str) -> Document | None:
    """The document read by libyaml, or ``None`` when the pure loader must have the last word."""
    if not yaml.__with_libyaml__ or _DIFFERENT.search(text):
        return None
    try:
        yaml.reader.Reader(text)  # the pure reader's refusal of control characters, before libyaml's
        if not _plainly_written(text):
            return None
        loader = _FastLoader(text)
    except yaml.YAMLError:
        return None
    try:
        root = loader.get_single_node()
        if root is not None and loader.aliases:
            _check_aliases(root)
        data = loader.construct_document(root) if root is not None else None
    except (yaml.YAMLError, RecursionError, _AliasBomb):
        return None
    finally:
        loader.dispose()
    return Document(root=root, data=data)


def _read_pure(text: str) -> Document | Refusal:
    """The document as PyYAML's pure-Python safe loader reads it, or the message it refuses it with."""
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


def load_text(text: str, *, fast: bool = True) -> Document | Refusal:
    """``text`` as one YAML document (safe tags only); ``fast=False`` reads it with the pure loader only."""
    return (_read_fast(text) if fast else None) or _read_pure(text)


def load_file(path: Path, *, fast: bool = True) -> Document | Refusal:
    """The YAML document in ``path``, or why it is refused: too large, unreadable, or not safe YAML."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            return Refusal(message=f"is {size} bytes; the limit is {MAX_FILE_BYTES} bytes: split it into several files")
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return Refusal(message=f"cannot be read: {exc}")
    return load_text(text, fast=fast)
