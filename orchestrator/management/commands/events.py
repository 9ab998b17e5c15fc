"""``manage.py events last|index|tail``: the JSONL event log, read through ``orchestrator.events``.

Corrupted lines are skipped, as by every reader of the log, and counted on stderr. ``--json`` prints one JSON object a
line (the events as stored), for ``jq`` and scripts. ``index`` counts a run announced again after a failed publish
once (``orchestrator.events.once_per_run``); ``last`` and ``tail`` show every line as written.
"""

from __future__ import annotations

import json
import signal
from collections.abc import Callable
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from orchestrator import event_tail, events
from orchestrator.events import Event

#: Shown after ``ts``, ``event`` and the schedule, in this order, when present.
DETAIL_KEYS = (
    "scheduled_for",
    "run_id",
    "job",
    "trigger",
    "status",
    "attempt",
    "worker",
    "duration_ms",
    "missed_count",
    "reason",
    "error",
)


def format_event(event: Event) -> str:
    schedule = event.get("schedule") or (f"#{event['schedule_id']}" if event.get("schedule_id") else "-")
    parts = [str(event.get("ts", "?")), f"{event.get('event', '?'):<17}", str(schedule)]
    for key in DETAIL_KEYS:
        value = event.get(key)
        if value is None or value == "":
            continue
        text = str(value).split("\n", 1)[0]
        parts.append(f"{key}={text!r}" if " " in text else f"{key}={text}")
    return "  ".join(parts)


def matcher(*, event: str | None, schedule: str | None, run: str | None) -> Callable[[Event], bool]:
    """A predicate on events: every given filter must hold (``schedule`` is a name or an id)."""

    def matches(candidate: Event) -> bool:
        if event and candidate.get("event") != event:
            return False
        if schedule and schedule not in (str(candidate.get("schedule", "")), str(candidate.get("schedule_id", ""))):
            return False
        return not (run and str(candidate.get("run_id", "")) != run)

    return matches


class Command(BaseCommand):
    help = "Read the JSONL event log: the last events, an index by a field, or follow it (tail)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--path", help="the event log (default: EVENTS_PATH)")
        sub = parser.add_subparsers(dest="action", required=True, metavar="{last,index,tail}")

        last = sub.add_parser("last", help="the most recent events, newest first")
        last.add_argument("--limit", type=int, default=20, help="how many (default 20)")
        self._filters(last)

        index = sub.add_parser(
            "index",
            help="the recent events grouped by a field (schedule, job, status, ...); a run announced again "
            "after a failed publish (schedule_enqueued, recovered) counts once",
        )
        index.add_argument("field", help="the field to group by, e.g. schedule, job, status, worker, event")
        index.add_argument("--limit", type=int, default=1000, help="how many recent events to group (default 1000)")
        index.add_argument("--json", action="store_true", help="a JSON object of value -> events")

        tail = sub.add_parser("tail", help="the last events, then follow new ones as they are written")
        tail.add_argument("--lines", "-n", type=int, default=10, help="events shown before following (default 10)")
        self._filters(tail)

    @staticmethod
    def _filters(parser: CommandParser) -> None:
        parser.add_argument("--event", help="only this event, e.g. run_finished")
        parser.add_argument("--schedule", help="only this schedule (its name or id)")
        parser.add_argument("--run", help="only this run id")
        parser.add_argument("--json", action="store_true", help="one JSON object a line, as stored")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        skipped_before = events.skipped_lines()
        if action == "last":
            self._last(options)
        elif action == "index":
            self._index(options)
        else:
            self._tail(options)
        skipped = events.skipped_lines() - skipped_before
        if skipped:
            where = options["path"] or events.default_path()
            self.stderr.write(f"skipped {skipped} corrupted line{'s' if skipped != 1 else ''} in {where}")

    def _emit(self, event: Event, as_json: bool) -> None:
        self.stdout.write(json.dumps(event, ensure_ascii=False) if as_json else format_event(event))

    def _last(self, options: dict[str, Any]) -> None:
        limit = options["limit"]
        if limit < 1:
            raise CommandError("--limit must be at least 1")
        predicate = matcher(event=options["event"], schedule=options["schedule"], run=options["run"])
        shown = 0
        for event in events.iter_events_backwards(options["path"], predicate):
            self._emit(event, options["json"])
            shown += 1
            if shown >= limit:
                break
        if shown == 0 and not options["json"]:
            self.stderr.write("no matching events")

    def _index(self, options: dict[str, Any]) -> None:
        if options["limit"] < 1:
            raise CommandError("--limit must be at least 1")
        grouped = events.index_by(options["field"], limit=options["limit"], path=options["path"])
        if options["json"]:
            self.stdout.write(json.dumps(grouped, ensure_ascii=False, indent=2))
            return
        if not grouped:
            self.stderr.write(f"no recent events have a {options['field']!r} field")
            return
        ordered = sorted(grouped.items(), key=lambda item: str(item[1][-1].get("ts", "")), reverse=True)
        table = [(options["field"].upper(), "EVENTS", "LAST EVENT", "LAST STATUS", "LAST AT")]
        for value, group in ordered:
            latest = group[-1]
            status = next((str(e["status"]) for e in reversed(group) if e.get("status")), "-")
            table.append((value, str(len(group)), str(latest.get("event", "?")), status, str(latest.get("ts", "?"))))
        widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
        for row in table:
            self.stdout.write("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())

    def _tail(self, options: dict[str, Any]) -> None:
        stopping = False

        def stop(signum: int, frame: object) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        predicate = matcher(event=options["event"], schedule=options["schedule"], run=options["run"])
        for event in event_tail.follow(options["path"], initial=max(options["lines"], 0), stop=lambda: stopping):
            if predicate(event):
                self._emit(event, options["json"])
                self.stdout.flush()
