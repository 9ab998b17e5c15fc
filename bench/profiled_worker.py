"""A Celery worker under pyinstrument: ``python -m bench.profiled_worker OUT celery-args...``.

Used by ``bench.run`` (``bench.worker_steps``) to profile the real worker path (message, signals,
fixups, the task, the ack), not only the task's body: run it with ``-P solo`` so the task runs in
the profiled process.
The profile is written to ``OUT.txt`` when the worker exits (SIGTERM: warm shutdown), with
Celery's and kombu's frames folded; the whole session goes to ``OUT.pyisession`` (not committed:
``pyinstrument --load OUT.pyisession --show-all`` shows every frame, e.g. the ack and the QoS).
"""

from __future__ import annotations

import sys
import time


def main() -> None:
    from pyinstrument import Profiler

    out, argv = sys.argv[1], sys.argv[2:]
    from celery.__main__ import main as celery_main

    profiler = Profiler(interval=0.0005)
    sys.argv = ["celery", *argv]
    wall, cpu = time.perf_counter(), time.process_time()
    profiler.start()
    try:
        celery_main()
    finally:
        profiler.stop()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        with open(out + ".txt", "w") as fh:
            fh.write(f"# worker process: {wall:.2f} s wall, {cpu:.2f} s CPU\n")
            fh.write(profiler.output_text(unicode=False, color=False))
        if profiler.last_session is not None:
            profiler.last_session.save(out + ".pyisession")


if __name__ == "__main__":
    main()
