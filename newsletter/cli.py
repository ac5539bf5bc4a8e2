"""Command line: parses arguments and calls the run (or a query) once per command.

Exit status: 0 all well, 1 the work did not all succeed (e.g. messages deferred),
2 a problem a person must fix (configuration, environment, usage) — see
:mod:`newsletter.errors`.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING

from newsletter import __version__, logs
from newsletter.clock import Clock, system_clock
from newsletter.config import ConfigError, Environment, load_config, read_environment
from newsletter.errors import (
    EXIT_INCOMPLETE,
    EXIT_OK,
    EXIT_USER,
    NewsletterError,
    UsageError,
    UserError,
)

if TYPE_CHECKING:
    from newsletter.app import App
    from newsletter.run import RunOptions
DEFAULT_OUT = Path("out/dry-run")


def _global_options(parser: argparse.ArgumentParser, *, top: bool) -> None:
    # Defined on the top parser and every sub-parser, so `--config` works before and after the
    # command; SUPPRESS keeps a sub-parser from overwriting a value given before the command.
    parser.add_argument(
        "--config",
        metavar="PATH",
        type=Path,
        default=None if top else argparse.SUPPRESS,
        help="newsletter.yaml to use (default: $NEWSLETTER_CONFIG or config/newsletter.yaml)",
    )
    parser.add_argument(
        "--env-file",
        metavar="PATH",
        type=Path,
        default=Path(".env") if top else argparse.SUPPRESS,
        help="dotenv file to read (default: .env; real environment variables win)",
    )


def _positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {value!r}")
    return number


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="newsletter",
        description="Self-hosted digest mailer: feeds matched against each subscriber's topics.",
    )
    parser.add_argument("--version", action="version", version=f"newsletter {__version__}")
    _global_options(parser, top=True)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        _global_options(sub, top=False)
        return sub

    send = command("send", "fetch feeds, compose every due digest and deliver it")
    send.add_argument(
        "--dry-run",
        action="store_true",
        help="write each message to files instead of sending; records nothing",
    )
    send.add_argument(
        "--out",
        metavar="DIR",
        type=Path,
        default=DEFAULT_OUT,
        help=f"where --dry-run writes messages (default: {DEFAULT_OUT})",
    )
    send.add_argument("--subscriber", metavar="EMAIL", help="only this subscriber")
    send.add_argument("--no-fetch", action="store_true", help="use stored entries; fetch nothing")
    send.add_argument(
        "--retry-deferred",
        action="store_true",
        help="retry deferred messages now, ignoring their backoff",
    )

    send.add_argument(
        "--workers",
        metavar="N",
        type=_positive_int,
        default=1,
        help="senders: N processes on PostgreSQL, N times the SMTP connections on SQLite",
    )

    db = command("db", "manage the database schema")
    db_commands = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    db_upgrade = db_commands.add_parser(
        "upgrade", help="apply every pending migration (also done automatically on first use)"
    )
    _global_options(db_upgrade, top=False)

    fetch = command("fetch", "fetch every due feed and store new entries")
    fetch.add_argument(
        "--force",
        action="store_true",
        help="fetch even feeds that are not due yet (caching headers, backoff)",
    )

    command("check", "validate the configuration, topics and templates; exit 0 when all is well")

    match = command("match", "show what a query (or a subscriber's next digest) matches, and why")
    match.add_argument("query", nargs="?", metavar="QUERY", help="a topic query, quoted")
    match.add_argument(
        "--feed", metavar="PATH_OR_URL", help="match this feed's entries instead of the stored ones"
    )
    match.add_argument(
        "--subscriber", metavar="EMAIL", help="show what this subscriber's next digest would hold"
    )
    match.add_argument("--json", action="store_true", help="a JSON array, one object per entry")
    match.add_argument(
        "--stemming",
        choices=("plural", "snowball"),
        default="plural",
        help="how QUERY's words fold, as a topic's stemming: key (default: plural)",
    )

    preview = command("preview", "write the HTML and text of a subscriber's next digest")
    preview.add_argument("--subscriber", metavar="EMAIL", required=True)
    preview.add_argument(
        "--out",
        metavar="DIR",
        type=Path,
        default=Path("out/preview"),
        help="where to write it (default: out/preview)",
    )
    preview.add_argument("--open", action="store_true", help="open the HTML in the default browser")
    preview.add_argument(
        "--no-fetch", action="store_true", help="use stored entries; fetch nothing"
    )

    serve = command(
        "serve",
        "run the web app: the day's papers, search, archived digests, Atom feeds, sign-up "
        "with double opt-in, the manage and unsubscribe pages (put an HTTPS reverse proxy "
        "in front)",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8080, help="port to bind (default 8080)")

    subs = command(
        "subscribers",
        "list subscribers of every origin (config, web, import) with their status and last "
        "digest; export, import or remove them",
    )
    subs.add_argument("--json", action="store_true", help="JSON Lines: one object per subscriber")
    subs_actions = subs.add_subparsers(dest="subscribers_action", metavar="ACTION")
    reactivate = subs_actions.add_parser(
        "reactivate",
        help="lift a bounce suppression (an unsubscribe or complaint needs --force)",
        description="Lift a bounce-hard or bounce-soft suppression so the address gets "
        "digests again. An unsubscribe or a complaint is the person's own word: only they "
        "undo it, unless --force says they asked you to.",
    )
    _global_options(reactivate, top=False)
    reactivate.add_argument("email", metavar="EMAIL")
    reactivate.add_argument(
        "--force", action="store_true", help="lift an unsubscribe or complaint too"
    )

    export = subs_actions.add_parser(
        "export",
        help="write every subscriber as CSV (default) or YAML to standard output",
        description="CSV: email,name,topics,schedule,timezone,origin,status with topics as "
        "library ids separated by ';' (what `subscribers import` reads). YAML: a "
        "subscribers: list of those who receive digests, own topics written in full.",
    )
    _global_options(export, top=False)
    export.add_argument("--format", choices=("csv", "yaml"), default="csv")
    imports = subs_actions.add_parser(
        "import",
        help="add or update web-managed subscribers from a CSV file",
        description="FILE.csv has the header email,name,topics,schedule,timezone; topics "
        "are library topic ids separated by ';'. Every row is checked first; any problem "
        "and nothing is imported. Imported addresses are active at once (you vouch for "
        "their consent, as when editing YAML) unless --confirm makes them confirm by mail.",
    )
    _global_options(imports, top=False)
    imports.add_argument("file", metavar="FILE", type=Path)
    imports.add_argument(
        "--confirm",
        action="store_true",
        help="new addresses stay pending until they follow the link in a confirmation mail",
    )
    remove = subs_actions.add_parser(
        "remove",
        help="delete a web or imported subscriber (YAML ones are removed from the YAML)",
    )
    _global_options(remove, top=False)
    remove.add_argument("email", metavar="EMAIL")

    bounces = command(
        "bounces",
        "read the bounce mailbox (BOUNCE_IMAP_URL): suppress hard bounces, complaints and "
        "mailed unsubscribes, count soft bounces",
    )
    bounces.add_argument("--once", action="store_true", help="one pass, then exit")
    bounces.add_argument(
        "--dry-run",
        action="store_true",
        help="one pass that says what it would do and changes nothing (implies --once)",
    )

    run = command(
        "run",
        "run the scheduler in the foreground: every digest on time, per subscriber time zone",
    )
    run.add_argument(
        "--stop-timeout",
        metavar="SECONDS",
        type=float,
        default=45.0,
        help="on SIGTERM, how long to let the job in flight finish (default: 45)",
    )

    command("status", "show next runs, last outcomes, failing feeds and the outbox; exit 1 if not")

    demo = command("demo-feed", "write the bundled sample feeds with dates ending today")
    demo.add_argument(
        "--out",
        metavar="PATH",
        type=Path,
        help="where to write it (default: sample-feed.atom beside newsletter.yaml); "
        "sample-daily-papers.json (invented upvotes) is written beside it",
    )
    demo.add_argument(
        "--write-secret",
        action="store_true",
        help="also give the --env-file (default .env) a fresh NEWSLETTER_SECRET if it has "
        "none (an existing one is never replaced)",
    )
    return parser


def _environment(args: argparse.Namespace) -> tuple[Environment, Path]:
    env = read_environment(args.env_file)
    return env, args.config or env.config_path


def _app(args: argparse.Namespace) -> AbstractContextManager[App]:
    """Load and validate everything once; the stages get typed objects; the store is closed
    when the command ends, whatever happens."""
    from newsletter.app import open_app

    return open_app(args.env_file, args.config, args.clock)


def _print_problems(error: NewsletterError) -> None:
    for problem in error.problems:
        print(str(problem), file=sys.stderr)
    if isinstance(error, UserError):
        count = len(error.problems)
        print(f"{count} problem{'s' if count != 1 else ''} found.", file=sys.stderr)


def _options(args: argparse.Namespace, app: App) -> RunOptions:
    from newsletter import report
    from newsletter.run import Audience, RunOptions

    return RunOptions(
        audience=Audience(only=args.subscriber),
        fetch=not args.no_fetch,
        retry_deferred=getattr(args, "retry_deferred", False),
        on_fetch=report.fetch_progress(len(app.config.feeds)),
        on_result=report.send_progress(),
    )


def cmd_send(args: argparse.Namespace) -> int:
    import threading

    from newsletter import report
    from newsletter.run import DigestRun, FileSink, send_with_workers
    from newsletter.run.stopping import stop_on_signals

    with _app(args) as app:
        options = _options(args, app)
        if args.dry_run:
            sink = FileSink(args.out)
            result = DigestRun(app, sink, options).execute()
            report.print_fetch(result.fetched)
            report.print_dry_run(
                sink.rows,
                sink.skipped,
                out_dir=args.out,
                lookback_days=app.config.digest.lookback_days,
                max_items=app.config.digest.max_items,
            )
            return EXIT_OK if result.tally.complete else EXIT_INCOMPLETE
        stop = threading.Event()
        with stop_on_signals(stop):
            result = send_with_workers(app, args.workers, options, stop=stop)
        report.print_fetch(result.fetched)
        report.print_send(result)
        return EXIT_OK if result.complete else EXIT_INCOMPLETE


def cmd_fetch(args: argparse.Namespace) -> int:
    from newsletter import report
    from newsletter.run import fetch_and_store

    with _app(args) as app:
        progress = report.fetch_progress(len(app.config.feeds))
        outcomes = fetch_and_store(
            app.config, app.store, app.store, now=app.clock, force=args.force, progress=progress
        )
        report.print_fetch(outcomes, always=True)
        return EXIT_INCOMPLETE if report.flagged(outcomes) else EXIT_OK


def cmd_db(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import ArgumentError, OperationalError

    from newsletter.store.migrate import upgrade
    from newsletter.store.sql import database_problem, make_engine

    env, path = _environment(args)
    url = env.database_url or load_config(path).database_url
    try:
        engine = make_engine(url)
        try:
            before, after = upgrade(engine)
        finally:
            engine.dispose()
    except (ImportError, ArgumentError, OperationalError) as exc:
        raise database_problem(url, exc) from exc
    where = engine.url.render_as_string(hide_password=True)
    if before == after:
        print(f"{where}: schema already at {after} (newest)")
    else:
        print(f"{where}: schema upgraded {before or 'empty'} -> {after}")
    return EXIT_OK


def cmd_check(args: argparse.Namespace) -> int:
    from newsletter.checks import check_everything

    env, path = _environment(args)
    problems, summary = check_everything(path, env)
    if problems:
        raise ConfigError(problems)
    print(summary)
    return EXIT_OK


def cmd_demo_feed(args: argparse.Namespace) -> int:
    from newsletter.demo import (
        SAMPLE_DAILY_PAPERS_NAME,
        SAMPLE_FEED_NAME,
        ensure_secret,
        write_sample_feed,
    )

    if args.write_secret and ensure_secret(args.env_file):
        print(f"Wrote a new NEWSLETTER_SECRET to {args.env_file}")
    _env, path = _environment(args)
    target = args.out or path.parent / SAMPLE_FEED_NAME
    count = write_sample_feed(target, args.clock())
    print(
        f"Wrote {count} sample papers dated over the last 5 days to {target}, "
        f"and their invented upvotes to {target.parent / SAMPLE_DAILY_PAPERS_NAME}"
    )
    return EXIT_OK


def cmd_match(args: argparse.Namespace) -> int:
    from newsletter import report
    from newsletter.explain import match_query, subscriber_plan

    if bool(args.query) == bool(args.subscriber):
        raise UsageError(
            'give either a QUERY (in quotes) or --subscriber EMAIL — e.g. match "speech OR TTS"',
            where="match",
        )
    with _app(args) as app:
        if args.subscriber:
            report.print_subscriber_plan(subscriber_plan(app, args.subscriber), as_json=args.json)
        else:
            rows = match_query(app, args.query, feed=args.feed, stemming=args.stemming)
            report.print_matches(rows, as_json=args.json)
    return EXIT_OK


def cmd_preview(args: argparse.Namespace) -> int:
    from newsletter.explain import preview

    with _app(args) as app:
        path = preview(
            app, args.subscriber, out_dir=args.out, open_browser=args.open, fetch=not args.no_fetch
        )
    if path is None:
        print(f"Nothing new for {args.subscriber}: their next digest would be empty (no mail).")
    else:
        print(f"Wrote {path} and {path.with_suffix('.txt')}")
    return EXIT_OK


def cmd_serve(args: argparse.Namespace) -> int:
    from newsletter.web import serve_app

    with _app(args) as app:
        logs.setup(app.config.log_format, level=logging.INFO)
        print(
            f"Serving the web app on http://{args.host}:{args.port} "
            f"(public URL {app.config.base_url}); Ctrl-C stops it.",
            file=sys.stderr,
        )
        serve_app(app, host=args.host, port=args.port)
    return EXIT_OK


def cmd_subscribers(args: argparse.Namespace) -> int:
    from newsletter import report
    from newsletter.admin import reactivate, subscriber_statuses

    with _app(args) as app:
        action = args.subscribers_action
        if action == "reactivate":
            report.print_reactivated(reactivate(app, args.email, force=args.force))
        elif action == "export":
            return _export_subscribers(app, args.format)
        elif action == "import":
            return _import_subscribers(app, args.file, confirm=args.confirm)
        elif action == "remove":
            from newsletter.subscriptions.transfer import remove

            found = remove(app.config, app.store, args.email, app.now())
            print(f"Removed {found.email} ({found.origin.value}, was {found.status.value}).")
        else:
            report.print_subscribers(subscriber_statuses(app), as_json=args.json)
    return EXIT_OK


def _export_subscribers(app: App, form: str) -> int:
    from newsletter.subscriptions import roster
    from newsletter.subscriptions.transfer import export_csv, export_yaml

    listed = roster(app.config, app.store, app.now()).listed
    write = export_yaml if form == "yaml" else export_csv
    for warning in write(app.config, listed, sys.stdout):
        print(f"warning: {warning}", file=sys.stderr)
    return EXIT_OK


def _import_subscribers(app: App, path: Path, *, confirm: bool) -> int:
    from newsletter.subscriptions.confirmations import ConfirmationSender
    from newsletter.subscriptions.transfer import import_rows, read_rows

    rows = read_rows(app.config, path)
    sender = None
    if confirm:
        sender = ConfirmationSender(
            app.config,
            app.store,
            secret=app.env.require_secret(),
            smtp=app.env.smtp,
            clock=app.clock,
        )
    result = import_rows(app.config, app.store, rows, app.now(), notify=sender)
    print(
        f"Imported {len(rows)} rows from {path}: {len(result.added)} added, "
        f"{len(result.updated)} updated, {len(result.pending)} pending confirmation."
    )
    if result.in_yaml:
        print(
            f"Skipped {len(result.in_yaml)} already in {app.config.subscribers_path.name} "
            f"(YAML wins): {', '.join(result.in_yaml[:10])}"
            + (" …" if len(result.in_yaml) > 10 else "")
        )
    if result.suppressed:
        print(
            f"{len(result.suppressed)} stay suppressed (they unsubscribed, bounced or "
            f"complained): {', '.join(result.suppressed[:10])}"
            + (" …" if len(result.suppressed) > 10 else "")
        )
    if sender is not None and result.mailed:
        if app.env.smtp is None:
            mails = "mail" if result.mailed == 1 else "mails"
            print(
                f"Queued {result.mailed} confirmation {mails}; SMTP_HOST is not set, so "
                "`newsletter send` (or the daemon) delivers them once it is."
            )
            return EXIT_OK
        tally = sender.send_due()
        print(
            f"Confirmation mails: {tally.sent} sent, {tally.deferred} deferred (retried by "
            f"`newsletter send`), {tally.failed} failed."
        )
        if tally.failed or tally.deferred:
            return EXIT_INCOMPLETE
    return EXIT_OK


def cmd_bounces(args: argparse.Namespace) -> int:
    from newsletter import report
    from newsletter.schedule.bounces import poll_bounces, read_bounces_once

    with _app(args) as app:
        if args.once or args.dry_run:
            report.print_bounces(read_bounces_once(app, dry_run=args.dry_run))
            return EXIT_OK
        return poll_bounces(app, on_pass=report.print_bounces)


def cmd_run(args: argparse.Namespace) -> int:
    from functools import partial

    from newsletter.app import load_checked_config
    from newsletter.schedule import run_daemon

    with _app(args) as app:
        reload = partial(load_checked_config, app.config.path)
        return run_daemon(app, reload, stop_timeout=args.stop_timeout)


def cmd_status(args: argparse.Namespace) -> int:
    from newsletter.schedule import status

    with _app(args) as app:
        return status(app)


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "send": cmd_send,
    "fetch": cmd_fetch,
    "check": cmd_check,
    "db": cmd_db,
    "demo-feed": cmd_demo_feed,
    "serve": cmd_serve,
    "match": cmd_match,
    "preview": cmd_preview,
    "subscribers": cmd_subscribers,
    "bounces": cmd_bounces,
    "run": cmd_run,
    "status": cmd_status,
}


def main(argv: list[str] | None = None, *, clock: Clock = system_clock) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.clock = clock
    if not args.command:
        parser.print_help()
        return EXIT_USER
    logs.setup(level=logging.WARNING)
    try:
        return COMMANDS[args.command](args)
    except NewsletterError as exc:
        _print_problems(exc)
        return exc.exit_status
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `newsletter match … | head`: the reader left, not an error
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
