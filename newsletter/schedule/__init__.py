"""The scheduler daemon (`newsletter run`) and the operator's view of it (`newsletter status`)."""

from newsletter.schedule.daemon import Daemon, run_daemon
from newsletter.schedule.status import StatusReport, collect_status, print_status, status
from newsletter.schedule.timing import Group, groups, latest_fire, next_fire, period_for

__all__ = [
    "Daemon",
    "Group",
    "StatusReport",
    "collect_status",
    "groups",
    "latest_fire",
    "next_fire",
    "period_for",
    "print_status",
    "run_daemon",
    "status",
]
