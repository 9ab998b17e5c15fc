"""An event log that cannot be written: runs go on, the failure is logged and counted, writing resumes.

Two faults: a file size limit reached in the middle of a write (``RLIMIT_FSIZE`` in a child
process: the kernel writes what fits, then refuses; the same short write a full disk gives), and
a worker whose event log path cannot be created (its folder is a file) until the obstacle goes.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.processes import ROOT

SHORT_WRITE = textwrap.dedent(
    """
    import json, os, resource, sys
    from orchestrator import events

    path = sys.argv[1]
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    size = os.path.getsize(path)
    resource.setrlimit(resource.RLIMIT_FSIZE, (size + 40, hard))  # room for 40 bytes of a 300-byte line
    refused = events.emit([{"event": "run_started", "error": "x" * 300}], path)
    size_after = os.path.getsize(path)
    resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))  # room again
    resumed = events.emit([{"event": "run_finished", "status": "succeeded"}], path)
    print(json.dumps({"refused": refused, "resumed": resumed, "failures": events.write_failures(),
                      "size": size, "size_after": size_after}))
    """
)


def test_a_write_cut_short_by_a_file_size_limit_leaves_no_torn_line(tmp_path: Path):
    log = tmp_path / "events.jsonl"
    log.write_text('{"ts":"2026-11-23T10:00:00.000Z","event":"run_started"}\n')
    done = subprocess.run(
        [sys.executable, "-c", SHORT_WRITE, str(log)], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"\nfile size limit: {result}; log: {done.stderr.strip().splitlines()[-1:]}")
    assert result["refused"] is False and result["failures"] == 1
    assert result["size_after"] == result["size"], "the partial line was taken back"
    assert result["resumed"] is True
    lines = log.read_bytes().split(b"\n")
    assert lines[-1] == b""
    assert [json.loads(line)["event"] for line in lines[:-1]] == ["run_started", "run_finished"]
    assert "could not write 1 event(s) to the event log" in done.stderr


def test_a_fragment_left_by_a_killed_writer_is_ended_before_the_next_line(tmp_path: Path):
    from orchestrator import events

    log = tmp_path / "events.jsonl"
    log.write_bytes(b'{"ts":"2026-11-23T10:00:00.000Z","event":"run_started"}\n{"ts":"2026-11-23T10:00:0')
    events.record_event({"event": "run_finished"}, log)
    assert [e["event"] for e in events.iter_events(log)] == ["run_started", "run_finished"]
