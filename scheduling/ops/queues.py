"""How many messages wait in each broker queue, for the status page and the metrics.

The reading itself is ``orchestrator.queue_depths``: recovery also asks it, to find queued runs
whose message no queue holds any more.
"""

from orchestrator.queue_depths import queue_depths

__all__ = ["queue_depths"]
