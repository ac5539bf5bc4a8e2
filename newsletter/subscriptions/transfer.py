"""Moving subscribers in and out: ``subscribers export``, ``import`` and ``remove``.

The CSV header is ``email,name,topics,schedule,timezone``; topics are library topic ids
separated by ``;``. An import is all or nothing: every row is checked first and any
problem is reported as ``file:line: problem — fix`` with nothing written.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

import yaml

from newsletter.config import Config
from newsletter.config.addresses import excerpt, validate_address
from newsletter.config.schema import TRENDING_ID, check_timezone
from newsletter.errors import Problem, UnknownSubscriber, UserError
from newsletter.records import Subscriber, SubscriberOrigin, SubscriberStatus, Topic
from newsletter.store.protocols import Storage
from newsletter.store.records import Choice, SignUp, StoredSubscriber
from newsletter.subscriptions.roster import Listed, roster
from newsletter.subscriptions.signup import MAIL_EVERY, MAX_NAME, Notify

HEADER = ("email", "name", "topics", "schedule", "timezone")
EXPORT_HEADER = (*HEADER, "origin", "status")
MAX_IMPORT_BYTES = 50 * 1024 * 1024
REMOVE = "subscribers remove"


# -- export ----------------------------------------------------------------------------


def _library_ids(config: Config, subscriber: Subscriber) -> tuple[list[str], list[Topic]]:
    """(library ids, topics of the subscriber's own that have no id in the library)."""
    ids, own = [], []
    for topic in subscriber.topics:
        if topic.id in config.topics or topic.id == TRENDING_ID:
            ids.append(topic.id)
        else:
            own.append(topic)
    return ids, own


def export_csv(config: Config, listed: Sequence[Listed], out: TextIO) -> list[str]:
    """Everyone, with origin and status; returns warnings (topics with no library id, which
    CSV cannot carry — the YAML export does)."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(EXPORT_HEADER)
    warnings = []
    for item in listed:
        sub = item.subscriber
        ids, own = _library_ids(config, sub)
        if own:
            titles = ", ".join(repr(t.title) for t in own)
            warnings.append(
                f"{sub.email}: topic {titles} is not in the library, so the CSV leaves it out "
                "— use --format yaml to keep it"
            )
        row = [sub.email, sub.name or "", ";".join(ids), sub.schedule, sub.timezone]
        writer.writerow([*row, item.origin.value, item.status.value])
    return warnings


def _topic_yaml(topic: Topic) -> dict[str, Any]:
    written: dict[str, Any] = {"title": topic.title}
    for key in ("query", "about", "threshold", "trending"):
        value = getattr(topic, key)
        if value is not None:
            written[key] = value
    if topic.require != "either":
        written["require"] = topic.require
    if topic.stemming != "plural":
        written["stemming"] = topic.stemming
    return written


def export_yaml(config: Config, listed: Sequence[Listed], out: TextIO) -> list[str]:
    """A ``subscribers:`` list to paste into subscribers.yaml: those who receive digests
    (active or paused), with their own topics written out in full."""
    people = []
    for item in listed:
        if item.status not in (SubscriberStatus.ACTIVE, SubscriberStatus.PAUSED):
            continue
        sub = item.subscriber
        ids, own = _library_ids(config, sub)
        person: dict[str, Any] = {"email": sub.email}
        if sub.name:
            person["name"] = sub.name
        person["schedule"] = sub.schedule
        person["timezone"] = sub.timezone
        person["topics"] = [*ids, *(_topic_yaml(t) for t in own)]
        people.append(person)
    out.write(
        "# Subscribers who receive digests (active or paused), exported by newsletter.\n"
        "# Library topics are referred to by id: keep the topics: section they come from.\n"
    )
    yaml.safe_dump({"subscribers": people}, out, sort_keys=False, allow_unicode=True, width=100)
    return []


# -- import ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportRow:
    line: int
    email: str
    choice: Choice


@dataclass
class Imported:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    in_yaml: list[str] = field(default_factory=list)
    """Addresses subscribers.yaml already has: YAML wins, the row is skipped."""
    suppressed: list[str] = field(default_factory=list)
    """Imported, but they unsubscribed, bounced or complained: they stay suppressed."""
    pending: list[str] = field(default_factory=list)
    """With ``--confirm``: waiting for their confirmation."""
    mailed: int = 0
    """Confirmations queued (at most one per address an hour)."""


def read_rows(config: Config, path: Path) -> list[ImportRow]:
    """Every row checked; raises :class:`UserError` listing all problems."""
    shown = str(path)
    try:
        if path.stat().st_size > MAX_IMPORT_BYTES:
            raise UserError([Problem(shown, None, "larger than 50 MB — split the file")])
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise UserError([Problem(shown, None, "no such file — check the path")]) from None
    except UnicodeDecodeError as exc:
        raise UserError(
            [Problem(shown, None, f"not UTF-8 ({exc.reason}) — save the file as UTF-8 CSV")]
        ) from None
    except OSError as exc:
        raise UserError([Problem(shown, None, f"cannot read: {exc.strerror or exc}")]) from None
    reader = csv.reader(io.StringIO(text, newline=""))
    problems: list[Problem] = []
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        raise UserError(
            [Problem(shown, 1, "the file is empty — start with the header " + ",".join(HEADER))]
        ) from None
    missing = [name for name in HEADER if name not in header]
    if missing:
        raise UserError(
            [
                Problem(
                    shown,
                    1,
                    f"the header lacks {', '.join(missing)} — the first line must be "
                    + ",".join(HEADER),
                )
            ]
        )
    where = {name: header.index(name) for name in HEADER}
    library = {*config.topics, TRENDING_ID}
    rows: list[ImportRow] = []
    seen: dict[str, int] = {}
    try:
        for record in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in record):
                continue
            cells = {
                name: (record[i].strip() if i < len(record) else "") for name, i in where.items()
            }

            def problem(message: str, line: int = line) -> None:
                problems.append(Problem(shown, line, message))

            try:
                email = validate_address(cells["email"]).lower()
            except ValueError as exc:
                problem(str(exc))
                continue
            if email in seen:
                problem(f"{email} is also on line {seen[email]} — keep one row per address")
                continue
            seen[email] = line
            topics = tuple(
                dict.fromkeys(t.strip() for t in cells["topics"].split(";") if t.strip())
            )
            unknown = [t for t in topics if t not in library]
            if unknown:
                problem(
                    f"unknown topic {', '.join(map(excerpt, unknown))} — use library topic ids "
                    f"separated by ';': {', '.join(sorted(library))}"
                )
            if not topics:
                problem("no topics — list library topic ids separated by ';'")
            schedule = cells["schedule"] or next(iter(config.schedules), "daily")
            if schedule not in config.schedules:
                problem(
                    f"unknown schedule {excerpt(schedule)} — use one of: "
                    + ", ".join(config.schedules)
                )
            timezone = cells["timezone"] or config.timezone
            try:
                check_timezone(timezone)
            except ValueError:
                problem(f"{excerpt(timezone)} is not a time zone — use a name like Europe/Berlin")
            name = " ".join(cells["name"].split())
            if len(name) > MAX_NAME or any(not c.isprintable() for c in name):
                problem(f"the name must be at most {MAX_NAME} printable characters — shorten it")
            rows.append(
                ImportRow(line, email, Choice(topics, None, schedule, timezone, name or None))
            )
    except csv.Error as exc:
        problems.append(
            Problem(shown, reader.line_num, f"not valid CSV: {exc} — check the quoting")
        )
    if problems:
        raise UserError(problems)
    return rows


def import_rows(
    config: Config,
    store: Storage,
    rows: Sequence[ImportRow],
    now: datetime,
    *,
    notify: Notify | None = None,
) -> Imported:
    """Write the checked rows. Without ``notify`` they are active at once (the admin vouches
    for their consent, as when editing YAML); with it (``--confirm``) new addresses become
    pending sign-ups and ``notify`` queues each one's confirmation mail."""
    result = Imported()
    in_yaml = {s.email.lower() for s in config.subscribers}
    suppressed = store.suppressions()
    for row in rows:
        if row.email in in_yaml:
            result.in_yaml.append(row.email)
            continue
        existing = store.stored_subscriber(row.email)
        if notify is not None and existing is None:
            answer = store.request_signup(
                SignUp(row.email, SubscriberOrigin.IMPORT, row.choice, now),
                mail_after=now - MAIL_EVERY,
                expired_before=now - timedelta(hours=config.subscribe.confirm_hours),
            )
            result.pending.append(row.email)
            if answer.mail:
                notify(row.email, row.choice)
                result.mailed += 1
            continue
        store.save_subscriber(
            StoredSubscriber(
                email=row.email,
                origin=existing.origin if existing is not None else SubscriberOrigin.IMPORT,
                choice=row.choice,
                created_at=existing.created_at if existing is not None else now,
                updated_at=now,
                confirmed_at=existing.confirmed_at if existing is not None else None,
                confirmed_from=existing.confirmed_from if existing is not None else None,
            )
        )
        (result.updated if existing is not None else result.added).append(row.email)
        if row.email in suppressed:
            result.suppressed.append(row.email)
    return result


# -- remove ----------------------------------------------------------------------------


def remove(config: Config, store: Storage, email: str, now: datetime) -> Listed:
    """Delete a web or imported subscriber (or a pending sign-up); YAML ones are refused."""
    found = roster(config, store, now).find(email)
    if found is None:
        raise UnknownSubscriber(email, REMOVE)
    if found.origin is SubscriberOrigin.CONFIG:
        raise UserError(
            [
                Problem(
                    str(config.subscribers_path),
                    None,
                    f"{found.email} is listed in this file — remove it there (the web and "
                    "this command only remove web and imported subscribers)",
                )
            ]
        )
    store.remove_subscriber(found.email)
    return found
