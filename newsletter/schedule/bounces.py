"""Reading the bounce mailbox on a timer: ``bounces`` without ``--once``, and the daemon's job.

Both poll every :data:`POLL_EVERY`. A pass that cannot reach the mailbox is logged and
the next one tries again; a stop (SIGTERM, SIGINT) lets the pass in progress finish the
mail it is on and ends the loop.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import timedelta

from newsletter import logs
from newsletter.app import App
from newsletter.errors import OperationalError
from newsletter.run.mailbox import BouncePass, mailbox_url, read_bounces
from newsletter.run.stopping import stop_on_signals

event = logs.events(__name__)

POLL_EVERY = timedelta(minutes=5)

PassHook = Callable[[BouncePass], None]


def read_bounces_once(app: App, *, dry_run: bool = False) -> BouncePass:
    """``bounces --once``: one pass (exit 2 for the URL, exit 1 when unreachable)."""
    return read_bounces(app, mailbox_url(app.env), dry_run=dry_run)


def bounce_job(app: App, stop: threading.Event) -> None:
    """The daemon's job: one pass, its trouble logged rather than raised."""
    if stop.is_set() or not app.env.bounce_imap_url:
        return
    try:
        read_bounces(app, mailbox_url(app.env), stop=stop)
    except OperationalError as exc:
        event("bounces_failed", logging.WARNING, error=str(exc))


def poll_bounces(
    app: App,
    *,
    on_pass: PassHook | None = None,
    every: timedelta = POLL_EVERY,
    stop: threading.Event | None = None,
) -> int:
    """``bounces``: a pass now and every ``every`` until SIGTERM/SIGINT; exit 0 then."""
    url = mailbox_url(app.env)  # a bad URL stops here, exit 2
    stop = stop or threading.Event()
    logs.setup(app.config.log_format, level=logging.INFO)
    event("bounces_polling", mailbox=url.where, every=every)
    with stop_on_signals(stop):
        while not stop.is_set():
            try:
                result = read_bounces(app, url, stop=stop)
            except OperationalError as exc:
                event("bounces_failed", logging.WARNING, error=str(exc))
            else:
                if on_pass is not None:
                    on_pass(result)
            stop.wait(every.total_seconds())
    event("bounces_stopped")
    return 0
