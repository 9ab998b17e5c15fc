"""``manage.py scheduler --once|--serve``: the beat's dispatch loop without Celery beat."""

from __future__ import annotations

import signal
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from orchestrator.errors import SchedulerError
from scheduling.engine.heartbeat import BeatHeartbeat
from scheduling.engine.loop import Dispatcher, SingleBeatLock
from scheduling.engine.reports import MaintenanceReport, TickReport

LABELS = {"dispatch": "dispatched", "skip": "skipped", "miss": "missed", "buffer": "buffered"}


class Command(BaseCommand):
    help = "Run one dispatch tick (--once) or the dispatch loop (--serve), the same code as celery beat."

    def add_arguments(self, parser: CommandParser) -> None:
        mode = parser.add_mutually_exclusive_group(required=True)
        mode.add_argument("--once", action="store_true", help="one tick (and maintenance), print what it did")
        mode.add_argument("--serve", action="store_true", help="loop until interrupted, like celery beat")

    def handle(self, *args: Any, **options: Any) -> None:
        lock = SingleBeatLock()
        try:
            lock.acquire()
        except SchedulerError as exc:
            raise CommandError(str(exc)) from exc
        try:
            if options["once"]:
                cycle = Dispatcher(prepare=False).cycle(force_maintenance=True)
                self._print(cycle.tick, cycle.maintenance)
            else:
                self._serve()
        finally:
            lock.release()

    def _serve(self) -> None:
        stopping = False

        def stop(signum: int, frame: object) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        heartbeat = BeatHeartbeat()
        dispatcher = Dispatcher(on_cycle=heartbeat.on_cycle)
        self.stdout.write("scheduler serving; Ctrl-C to stop")
        try:
            while not stopping:
                cycle = dispatcher.cycle()
                if cycle.tick and cycle.tick.handled:
                    self._print(cycle.tick, None)
                deadline = time.monotonic() + cycle.sleep_seconds
                while not stopping and time.monotonic() < deadline:
                    time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))
        finally:
            dispatcher.close()
            heartbeat.clear()

    def _print(self, tick: TickReport | None, maintenance: MaintenanceReport | None) -> None:
        if tick is not None:
            for item in tick.handled:
                line = (
                    f"{LABELS.get(item.action, item.action):<10} {item.schedule:<30} {item.scheduled_for.isoformat()}"
                )
                if item.run_id:
                    line += f"  run {item.run_id}  queue={item.queue}"
                if item.missed_count > 1:
                    line += f"  ({item.missed_count} occurrences)"
                if item.reason:
                    line += f"  ({item.reason})"
                self.stdout.write(line)
            self.stdout.write(
                f"tick: {tick.claimed} schedule(s) due; {tick.count('dispatch')} dispatched, "
                f"{tick.count('skip')} skipped, {tick.count('miss')} missed, {tick.count('buffer')} buffered; "
                f"{tick.published} published" + (f"; errors: {'; '.join(tick.errors)}" if tick.errors else "")
            )
        else:
            self.stdout.write("tick: nothing due")
        if maintenance is not None:
            for recovered in maintenance.recovered:
                self.stdout.write(f"recovered  run {recovered.id} (was left pending)")
            for released in maintenance.released:
                self.stdout.write(f"released   run {released.id} (buffered occurrence)")
