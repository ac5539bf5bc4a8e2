"""The digest run: one object carries fetch → plan → render → enqueue → deliver.

Every command that makes digests drives :class:`DigestRun`; see ``docs/architecture.md``.
"""

from newsletter.run.audience import Audience, partition_of
from newsletter.run.digest_run import DigestRun, RunOptions
from newsletter.run.feeds import feed_specs, fetch_and_store, store_entries
from newsletter.run.links import Links, web_link
from newsletter.run.messages import DRY_RUN_SECRET, MessageMaker, render_settings
from newsletter.run.plan import Planned, Planner
from newsletter.run.sinks import FileRow, FileSink, Made, OutboxSink, Sink
from newsletter.run.tally import RunResult, Tally, Trouble, WorkerReport
from newsletter.run.workers import send_with_workers

__all__ = [
    "DRY_RUN_SECRET",
    "Audience",
    "DigestRun",
    "FileRow",
    "FileSink",
    "Links",
    "Made",
    "MessageMaker",
    "OutboxSink",
    "Planned",
    "Planner",
    "RunOptions",
    "RunResult",
    "Sink",
    "Tally",
    "Trouble",
    "WorkerReport",
    "feed_specs",
    "fetch_and_store",
    "partition_of",
    "render_settings",
    "send_with_workers",
    "store_entries",
    "web_link",
]
