"""Keyset pages of a schedule's history: ``?cursor=`` instead of ``?page=N``, the same cost at any depth.

A page number is an ``OFFSET``: PostgreSQL reads and throws away every row before the page, and
the page's ``count`` reads every row of the schedule, so the middle of a busy schedule's history
took seconds. A cursor names the last row shown (its time and id, in the history's order); the
next page starts right after it through ``occurrence_history_idx``. Cursor pages carry no
``count``. The cursor is opaque to clients: they follow ``next``.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Q, QuerySet


@dataclass(frozen=True, kw_only=True, slots=True)
class Position:
    """The last row of a page: its ``at`` (scheduled time, or creation time for a manual run) and id."""

    at: datetime
    pk: int


def encode(position: Position) -> str:
    raw = f"{position.at.isoformat()}|{position.pk}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(text: str) -> Position | None:
    """The position a cursor names; None for the empty cursor (the first page). ValueError if malformed."""
    if text == "":
        return None
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
        at_text, pk_text = raw.split("|")
        at = datetime.fromisoformat(at_text)
        pk = int(pk_text)
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise ValueError("not a cursor of this list: follow the `next` link of a page") from exc
    if at.tzinfo is None or pk < 1:
        raise ValueError("not a cursor of this list: follow the `next` link of a page")
    return Position(at=at, pk=pk)


def page(rows: QuerySet[Any], after: Position | None, size: int) -> tuple[list[Any], Position | None]:
    """Up to ``size`` rows of ``rows`` (ordered ``-at, -id``) after ``after``; and where the next page starts.

    ``at <= cursor`` bounds the index scan; the OR alone would not.
    """
    if after is not None:
        rows = rows.filter(Q(at__lte=after.at) & (Q(at__lt=after.at) | Q(id__lt=after.pk)))
    found = list(rows[: size + 1])
    if len(found) <= size:
        return found, None
    last = found[size - 1]
    return found[:size], Position(at=last.at, pk=last.pk)
