"""Retention: delete old runs with their artifact folders, sweep orphaned folders, rotate the event log.

Runs are pruned oldest first in batches (keyset pagination on ``(created_at, id)``), each batch in
its own short transaction, so a prune of millions of rows never holds long locks and can be
stopped and started again. Only runs in a final status are touched. Which old runs to keep is
pluggable (``Protect``): the orchestrator knows nothing of schedules, and ``scheduling`` passes a
policy that keeps the newest N runs of every schedule. Rows are deleted before their folders, so
a crash between the two leaves an orphaned folder, which the next prune sweeps; never a row
pointing at a missing file.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import shutil
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal, cast

from django.conf import settings
from django.db import connection, models, transaction
from django.db.models import Count, Q, Sum

from orchestrator import artifacts, db
from orchestrator.errors import ValidationError
from orchestrator.models import FINAL_STATUSES, LLMCall, Run, RunArtifact

logger = logging.getLogger(__name__)

#: Given a batch of candidate run ids, the ones to keep.
Protect = Callable[[Sequence[uuid.UUID]], set[uuid.UUID]]


@dataclass(frozen=True, kw_only=True)
class Policy:
    """What other apps add to pruning runs: which old runs to keep, and their own rows to delete alongside."""

    protect: Protect | None = None
    #: Models of other apps whose rows referencing a pruned run are deleted with it, whatever their
    #: ``on_delete`` says, in the statement that deletes the run (counted in ``related_rows``).
    delete_with: tuple[type[models.Model], ...] = ()


_AGE = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_age(text: str) -> timedelta:
    """``30d``, ``12h``, ``90m``, ``3600s``, ``2w`` as a timedelta; the unit is required."""
    match = _AGE.match(text)
    if match is None or int(match.group(1)) <= 0:
        raise ValidationError(
            {"older_than": f"{text!r} is not an age: a positive number and a unit s, m, h, d or w (e.g. 30d)"}
        )
    return timedelta(seconds=int(match.group(1)) * _UNIT_SECONDS[match.group(2).lower()])


@dataclass(kw_only=True)
class PruneReport:
    cutoff: datetime
    dry_run: bool
    batches: int = 0
    runs: int = 0
    kept: int = 0
    artifacts: int = 0
    artifact_bytes: int = 0
    llm_calls: int = 0
    folders: int = 0
    orphan_folders: int = 0
    #: Rows of the policy's ``delete_with`` models deleted (or that would be) with the runs.
    related_rows: int = 0


def prune_runs(
    *,
    older_than: datetime,
    dry_run: bool,
    batch_size: int = 2000,
    policy: Policy | None = None,
) -> PruneReport:
    """Delete finished runs created before ``older_than`` (except the protected), with their rows and folders.

    With ``dry_run`` nothing changes and the report counts what would go. Each batch is read (a
    page of ``batch_size`` candidates, then the policy's ``protect``) and deleted by one statement
    (``_Batch``): the runs still final and not locked by anyone, the rows that reference them, and
    the counts of what went, so a batch is never half-deleted and holds its locks for that one
    statement only. Run folders are removed after it commits.
    """
    policy = policy or Policy()
    report = PruneReport(cutoff=older_than, dry_run=dry_run)
    statement = _Batch.build(policy, dry_run=dry_run)
    candidates = Run.objects.filter(created_at__lt=older_than, status__in=FINAL_STATUSES).order_by("created_at", "id")
    cursor: tuple[datetime, uuid.UUID] | None = None
    folders = _folder_names()  # a run pruned here is old: its folder, if any, exists already
    while True:
        page = candidates
        if cursor is not None:
            # created_at >= the cursor's bounds the index scan; the OR alone would make it start at
            # the oldest row each batch, over every index entry the earlier batches deleted
            page = page.filter(Q(created_at__gte=cursor[0]) & (Q(created_at__gt=cursor[0]) | Q(id__gt=cursor[1])))
        batch = list(page.values_list("created_at", "id")[:batch_size])
        if not batch:
            break
        cursor = batch[-1]
        ids = [run_id for _, run_id in batch]
        keep = policy.protect(ids) if policy.protect is not None else set()
        doomed = [run_id for run_id in ids if run_id not in keep]
        report.kept += len(ids) - len(doomed)
        if not doomed:
            continue
        gone = statement.run(doomed)
        report.batches += 1
        report.runs += len(gone.run_ids)
        report.artifacts += gone.artifacts
        report.artifact_bytes += gone.artifact_bytes
        report.llm_calls += gone.llm_calls
        report.related_rows += gone.related_rows
        report.folders += _remove_folders(gone.run_ids, folders, dry_run=dry_run)
        logger.info(
            "%s %d runs (batch %d)",
            "would prune" if dry_run else "pruned",
            len(gone.run_ids),
            report.batches,
            extra={"event": "runs_pruned"},
        )
    report.orphan_folders = sweep_orphan_folders(older_than=older_than, dry_run=dry_run)
    return report


@dataclass(frozen=True, kw_only=True)
class _Gone:
    run_ids: list[uuid.UUID]
    artifacts: int
    artifact_bytes: int
    llm_calls: int
    related_rows: int


# The batch's statement on PostgreSQL, put together by ``_Batch.build`` (names quoted, values bound).
_GONE = {
    "count": "gone AS (SELECT id FROM {run} WHERE id = ANY(%b::uuid[]) AND status = ANY(%b::text[]))",
    "delete": "gone AS (DELETE FROM {run} WHERE id IN (SELECT id FROM {run} WHERE id = ANY(%b::uuid[]) "
    "AND status = ANY(%b::text[]) FOR UPDATE SKIP LOCKED) RETURNING id)",
}
_REFS = {
    "delete": "{name} AS (DELETE FROM {table} WHERE {column} IN (SELECT id FROM gone) RETURNING {returning})",
    "count": "{name} AS (SELECT {returning} FROM {table} WHERE {column} IN (SELECT id FROM gone))",
    "null": "{name} AS (UPDATE {table} SET {column} = NULL WHERE {column} IN (SELECT id FROM gone) RETURNING 1)",
}
_COUNT = "(SELECT count(*) FROM {name})"
_BYTES = "(SELECT COALESCE(sum({column}), 0) FROM {name})"
_BATCH = "WITH {ctes} SELECT ARRAY(SELECT id FROM gone), {artifacts}, {artifact_bytes}, {llm_calls}, {related}"


@dataclass(frozen=True, kw_only=True)
class _Relation:
    """A relation to ``Run`` and what a pruned run does to its rows: deletes them, or clears their reference."""

    model: type[models.Model]
    field: str
    column: str
    action: Literal["delete", "null"]


@dataclass(frozen=True, kw_only=True)
class _Batch:
    """One statement that deletes (in a dry run, selects) a batch of runs with every row that references them.

    On PostgreSQL: ``DELETE FROM run WHERE id IN (the batch's runs still final, FOR UPDATE SKIP
    LOCKED) RETURNING id`` and, in the same statement, for each relation to ``Run`` its rows
    deleted (``CASCADE`` and the policy's ``delete_with``) or cleared (``SET_NULL``) by ``run_id IN
    (SELECT id FROM gone)``, with the artifacts' count and bytes, the LLM calls and the policy's
    rows counted from what those return; the run ids go as one binary array. It replaces a lock,
    a statement per relation and two counts, each a round trip with a placeholder per run, which
    together cost more than the deleting. SQLite (the demo) takes the same steps as a statement
    each, in one transaction.
    """

    relations: tuple[_Relation, ...]
    delete_with: tuple[type[models.Model], ...]
    dry_run: bool
    sql: str

    @classmethod
    def build(cls, policy: Policy, *, dry_run: bool) -> _Batch:
        relations = _relations(policy)
        qn = connection.ops.quote_name
        run = qn(Run._meta.db_table)
        ctes = [_GONE["count" if dry_run else "delete"].format(run=run)]
        counts = {"artifacts": "0", "artifact_bytes": "0", "llm_calls": "0"}
        related = []
        for index, relation in enumerate(relations):
            name, table, column = f"r{index}", qn(relation.model._meta.db_table), qn(relation.column)
            if relation.action == "null" and dry_run:
                continue
            returning = qn("size_bytes") if relation.model is RunArtifact else "1"
            action = "count" if dry_run else relation.action
            ctes.append(_REFS[action].format(name=name, table=table, column=column, returning=returning))
            if relation.model in policy.delete_with:
                related.append(_COUNT.format(name=name))
            elif relation.model is RunArtifact:
                counts["artifacts"] = _COUNT.format(name=name)
                counts["artifact_bytes"] = _BYTES.format(name=name, column=returning)
            elif relation.model is LLMCall:
                counts["llm_calls"] = _COUNT.format(name=name)
        sql = _BATCH.format(ctes=", ".join(ctes), related=" + ".join(related) or "0", **counts)
        return cls(relations=relations, delete_with=policy.delete_with, dry_run=dry_run, sql=sql)

    def run(self, run_ids: Sequence[uuid.UUID]) -> _Gone:
        """Delete (or count) the runs of ``run_ids`` still final and not locked, in one transaction."""
        if not db.is_postgres():
            return self._portable(run_ids)
        [row] = db.execute(self.sql, [list(run_ids), list(FINAL_STATUSES)], fetch=True, binary=True)
        return _Gone(run_ids=list(row[0]), artifacts=row[1], artifact_bytes=int(row[2]), llm_calls=row[3],
                     related_rows=int(row[4]))  # fmt: skip

    def _portable(self, run_ids: Sequence[uuid.UUID]) -> _Gone:
        with transaction.atomic():
            runs = Run.objects.filter(id__in=list(run_ids), status__in=FINAL_STATUSES)
            locked = runs if self.dry_run else runs.select_for_update(skip_locked=True)
            ids = list(locked.values_list("id", flat=True))
            files = RunArtifact.objects.filter(run_id__in=ids).aggregate(count=Count("id"), size=Sum("size_bytes"))
            calls = LLMCall.objects.filter(run_id__in=ids).count()
            related = 0
            for relation in self.relations:
                rows = relation.model._base_manager.filter(**{f"{relation.field}__in": ids})
                if relation.model in self.delete_with:
                    related += rows.count()
                if self.dry_run:
                    continue
                if relation.action == "delete":
                    rows._raw_delete(rows.db)
                else:
                    rows.update(**{relation.field: None})
            if not self.dry_run:
                Run.objects.filter(id__in=ids)._raw_delete(Run.objects.db)
        return _Gone(run_ids=ids, artifacts=files["count"] or 0, artifact_bytes=files["size"] or 0, llm_calls=calls,
                     related_rows=related)  # fmt: skip


def _relations(policy: Policy) -> tuple[_Relation, ...]:
    """What a pruned run does to each relation's rows, as its ``on_delete`` (or the policy's ``delete_with``) says.

    A relation a statement cannot honour (``PROTECT``, ``RESTRICT``, ``SET_DEFAULT``, ``SET(...)``,
    or rows to delete that other rows reference in turn) is refused before anything is deleted.
    """
    found = []
    for relation in Run._meta.related_objects:
        model = cast("type[models.Model]", relation.related_model)
        skipped = relation.on_delete is models.DO_NOTHING and model not in policy.delete_with
        if not relation.field.concrete or skipped:
            continue
        if model in policy.delete_with or relation.on_delete is models.CASCADE:
            nested = [
                cast("type[models.Model]", r.related_model).__name__
                for r in model._meta.related_objects
                if r.field.concrete and getattr(r.field, "db_constraint", True)
            ]
            if nested:
                raise NotImplementedError(
                    f"pruning runs deletes {model.__name__} rows by statement, but {', '.join(nested)} rows "
                    "reference them"
                )
            action: Literal["delete", "null"] = "delete"
        elif relation.on_delete is models.SET_NULL:
            action = "null"
        else:
            raise NotImplementedError(
                f"pruning runs cannot honour {model.__name__}.{relation.field.name}'s "
                f"on_delete={relation.on_delete.__name__} by statement"
            )
        found.append(_Relation(model=model, field=relation.field.name, column=relation.field.column, action=action))
    return tuple(found)


def _folder_names() -> set[str]:
    root = Path(settings.ARTIFACTS_DIR)
    return {entry.name for entry in os.scandir(root)} if root.is_dir() else set()


def _remove_folders(run_ids: Sequence[uuid.UUID], existing: set[str], *, dry_run: bool) -> int:
    removed = 0
    for run_id in run_ids:
        if str(run_id) not in existing:  # most runs wrote no artifact: no path built for them
            continue
        folder = artifacts.run_dir(run_id)
        if not folder.is_dir():
            continue
        removed += 1
        if not dry_run:
            shutil.rmtree(folder, ignore_errors=True)
    return removed


def sweep_orphan_folders(*, older_than: datetime, dry_run: bool, batch_size: int = 1000) -> int:
    """Remove run folders under ``ARTIFACTS_DIR`` that have no run row and were last changed before ``older_than``."""
    root = Path(settings.ARTIFACTS_DIR)
    if not root.is_dir():
        return 0
    cutoff = older_than.timestamp()
    found: dict[uuid.UUID, Path] = {}
    for entry in os.scandir(root):
        try:
            run_id = uuid.UUID(entry.name)
        except ValueError:
            continue  # not a run folder: leave it alone
        if str(run_id) == entry.name and entry.is_dir(follow_symlinks=False) and entry.stat().st_mtime < cutoff:
            found[run_id] = Path(entry.path)
    removed = 0
    ids = list(found)
    for start in range(0, len(ids), batch_size):
        chunk = ids[start : start + batch_size]
        existing = set(Run.objects.filter(id__in=chunk).values_list("id", flat=True))
        for run_id in chunk:
            if run_id in existing:
                continue
            removed += 1
            if not dry_run:
                shutil.rmtree(found[run_id], ignore_errors=True)
    return removed


@dataclass(frozen=True, kw_only=True)
class Rotation:
    path: Path
    size_bytes: int
    max_bytes: int
    rotated: bool
    kept_files: int


def rotate_event_log(path: Path, *, max_bytes: int, keep_files: int, dry_run: bool) -> Rotation:
    """Rename the event log to ``<name>.1`` (older ones to ``.2`` ... ``.keep_files``) once it is past ``max_bytes``.

    The rename happens under the same ``flock`` writers take, so no batch is split across files;
    a writer that opened the old file just before keeps appending to ``.1`` (nothing is lost),
    and the next write creates a fresh log.
    """
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return Rotation(path=path, size_bytes=0, max_bytes=max_bytes, rotated=False, kept_files=keep_files)
    if size <= max_bytes or dry_run:
        return Rotation(
            path=path, size_bytes=size, max_bytes=max_bytes, rotated=size > max_bytes, kept_files=keep_files
        )
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        for index in range(keep_files - 1, 0, -1):
            older = path.with_name(f"{path.name}.{index}")
            if older.exists():
                older.replace(path.with_name(f"{path.name}.{index + 1}"))
        path.replace(path.with_name(f"{path.name}.1"))
    finally:
        os.close(fd)
    logger.info("rotated the event log at %d bytes", size, extra={"event": "event_log_rotated"})
    return Rotation(path=path, size_bytes=size, max_bytes=max_bytes, rotated=True, kept_files=keep_files)
