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
from typing import cast

from django.conf import settings
from django.db import models, transaction
from django.db.models import Count, Q, Sum

from orchestrator import artifacts
from orchestrator.errors import ValidationError
from orchestrator.models import FINAL_STATUSES, LLMCall, Run, RunArtifact

logger = logging.getLogger(__name__)

#: Given a batch of candidate run ids, the ones to keep.
Protect = Callable[[Sequence[uuid.UUID]], set[uuid.UUID]]
#: Given the run ids a batch deletes and ``dry_run``: delete (or only count) rows of your own that
#: belong to them, inside the batch's transaction; returns how many.
WithBatch = Callable[[Sequence[uuid.UUID], bool], int]


@dataclass(frozen=True, kw_only=True)
class Policy:
    """What other apps add to pruning runs: which old runs to keep, and their own rows to delete alongside."""

    protect: Protect | None = None
    with_batch: WithBatch | None = None


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
    #: Rows the policy's ``with_batch`` deleted (or would delete) with the runs.
    related_rows: int = 0


def prune_runs(
    *,
    older_than: datetime,
    dry_run: bool,
    batch_size: int = 500,
    policy: Policy | None = None,
) -> PruneReport:
    """Delete finished runs created before ``older_than`` (except the protected), with their rows and folders.

    With ``dry_run`` nothing changes and the report counts what would go. Artifacts and token
    counts are deleted with their run (cascade), the policy's own rows in the same transaction,
    the run's folder after the batch commits.
    """
    policy = policy or Policy()
    report = PruneReport(cutoff=older_than, dry_run=dry_run)
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
        files = RunArtifact.objects.filter(run_id__in=doomed).aggregate(count=Count("id"), size=Sum("size_bytes"))
        calls = LLMCall.objects.filter(run_id__in=doomed).count()
        if dry_run:
            deleted = doomed
            if policy.with_batch is not None:
                report.related_rows += policy.with_batch(deleted, True)
        else:
            with transaction.atomic():
                # Lock the rows (and re-check them) so nothing changes a run while its batch goes.
                deleted = list(
                    Run.objects.filter(id__in=doomed, status__in=FINAL_STATUSES)
                    .select_for_update(skip_locked=True)
                    .values_list("id", flat=True)
                )
                if policy.with_batch is not None:
                    report.related_rows += policy.with_batch(deleted, False)
                _delete_runs(deleted)
        report.batches += 1
        report.runs += len(deleted)
        report.artifacts += files["count"] or 0
        report.artifact_bytes += files["size"] or 0
        report.llm_calls += calls
        report.folders += _remove_folders(deleted, folders, dry_run=dry_run)
        logger.info(
            "%s %d runs (batch %d)",
            "would prune" if dry_run else "pruned",
            len(deleted),
            report.batches,
            extra={"event": "runs_pruned"},
        )
    report.orphan_folders = sweep_orphan_folders(older_than=older_than, dry_run=dry_run)
    return report


def _delete_runs(run_ids: Sequence[uuid.UUID]) -> None:
    """Delete runs by id with what references them, without Django's collector reading the runs first.

    Each relation to ``Run`` is handled as its ``on_delete`` says, by one statement over the batch
    (rows pointing at a run are deleted or cleared); any other ``on_delete`` takes the ORM's way.
    The collector's reads cost a third of a prune's time at a million runs.
    """
    ids = list(run_ids)
    relations = [relation for relation in Run._meta.related_objects if relation.field.concrete]
    if any(relation.on_delete not in (models.CASCADE, models.SET_NULL, models.DO_NOTHING) for relation in relations):
        Run.objects.filter(id__in=ids).only("id").delete()
        return
    for relation in relations:
        related = cast("type[models.Model]", relation.related_model)
        rows = related._base_manager.filter(**{f"{relation.field.name}__in": ids})
        if relation.on_delete is models.CASCADE:
            rows.delete()
        elif relation.on_delete is models.SET_NULL:
            rows.update(**{relation.field.name: None})
    Run.objects.filter(id__in=ids)._raw_delete(Run.objects.db)


def _folder_names() -> set[str]:
    root = Path(settings.ARTIFACTS_DIR)
    return {entry.name for entry in os.scandir(root)} if root.is_dir() else set()


def _remove_folders(run_ids: Sequence[uuid.UUID], existing: set[str], *, dry_run: bool) -> int:
    removed = 0
    for run_id in run_ids:
        folder = artifacts.run_dir(run_id)
        if folder.name not in existing or not folder.is_dir():
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
