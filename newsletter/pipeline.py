"""The pipeline, stage by stage: fetch → store → match → compose → render → deliver.

Each command in :mod:`newsletter.cli` calls one function here. This module owns
the order of the stages and the I/O between them; the stages themselves are in
their own modules.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from email.utils import parseaddr
from pathlib import Path

from newsletter.clock import Clock
from newsletter.compose import compose
from newsletter.config import Config, ConfigError, Environment, Problem
from newsletter.match import Matcher
from newsletter.records import Digest, DigestLinks, Entry, Message, Subscriber, Topic
from newsletter.render import Renderer, RenderSettings
from newsletter.sources import FeedSpec, FeedState, FetchOutcome, fetch_feeds, merge_entries
from newsletter.store import Store
from newsletter.tokens import make_token

DRY_RUN_SECRET = "dry-run-secret-not-for-real-mail"
"""Signs unsubscribe links in dry-run previews when NEWSLETTER_SECRET is not set."""

BATCH = 200
"""Digests rendered and written to the outbox per transaction; bounds memory per run."""


@dataclass
class App:
    config: Config
    env: Environment
    store: Store
    clock: Clock

    def now(self) -> datetime:
        return self.clock()


# -- fetch -------------------------------------------------------------------------------


def feed_specs(config: Config) -> list[FeedSpec]:
    specs = []
    for feed in config.feeds:
        url = feed.url
        if "://" not in url:
            url = str(config.resolve(url))
        kinds = feed.announce_types
        if feed.type == "arxiv":  # revisions are read too: they update papers we already have
            kinds = tuple(dict.fromkeys(kinds + REVISION_TYPES))
        specs.append(FeedSpec(name=feed.name, url=url, type=feed.type, announce_types=kinds))
    return specs


REVISION_TYPES = ("replace", "replace-cross")


def split_revisions(
    entries: Sequence[Entry], wanted: Sequence[str]
) -> tuple[list[Entry], list[Entry]]:
    """(entries to store as news, revisions that only update papers already stored)."""
    news: list[Entry] = []
    revisions: list[Entry] = []
    for entry in entries:
        kind = entry.announce_type
        (news if kind is None or kind in wanted else revisions).append(entry)
    return news, revisions


def _state(spec: FeedSpec, row: dict[str, object] | None) -> FeedState | None:
    # A feed whose configured URL changed starts afresh; a 301 only moves the stored URL.
    if row is None or row.get("config_url") != spec.url:
        return None
    names = FeedState.__dataclass_fields__
    return FeedState(**{k: v for k, v in row.items() if k in names})  # type: ignore[arg-type]


def fetch(
    app: App,
    *,
    force: bool = False,
    progress: Callable[[FetchOutcome], None] | None = None,
) -> list[FetchOutcome]:
    """Fetch every due feed and store what is new. One broken feed never stops the others."""
    rows = app.store.feed_rows()
    specs = feed_specs(app.config)
    outcomes = fetch_feeds(
        [(spec, _state(spec, rows.get(spec.name))) for spec in specs],
        now=app.clock,
        force=force,
        progress=progress,
    )
    now = app.now()
    by_name = {spec.name: spec for spec in specs}
    wanted = {feed.name: feed.announce_types for feed in app.config.feeds}
    for outcome in outcomes:
        # Entries first, caching headers after: a crash in between costs a re-fetch (merged
        # harmlessly), never entries lost behind a 304 for a body that was not stored.
        news, revisions = split_revisions(outcome.entries, wanted[outcome.feed])
        if news:
            app.store.upsert_entries(news, now=now, merge=merge_entries)
        if revisions:
            app.store.upsert_entries(revisions, now=now, merge=merge_entries, insert_missing=False)
        values = asdict(outcome.state)
        values["config_url"] = by_name[outcome.feed].url
        values["last_fetch"] = now
        app.store.save_feed_row(outcome.feed, values)
    return outcomes


# -- match and compose -------------------------------------------------------------------


def active_subscribers(app: App, only: str | None = None) -> list[Subscriber]:
    """Subscribers from the config, minus suppressed addresses (they win over the YAML)."""
    suppressed = app.store.suppressed()
    chosen = [s for s in app.config.subscribers if s.email.lower() not in suppressed]
    if only:
        chosen = [s for s in chosen if s.email.lower() == only.lower()]
    return chosen


def distinct_topics(subscribers: Iterable[Subscriber]) -> list[Topic]:
    return list({topic.id: topic for s in subscribers for topic in s.topics}.values())


def make_matcher(app: App, topics: Sequence[Topic]) -> Matcher:
    """Keyword topics need nothing more; ``about:`` topics get the embedding model, with
    entry vectors cached in the database so each entry is embedded once."""
    if not any(topic.about for topic in topics):
        return Matcher(topics)
    from newsletter.match.semantic import SemanticScorer, SemanticUnavailableError

    try:
        scorer = SemanticScorer(cache=app.store.vector_cache())
    except SemanticUnavailableError as exc:
        raise ConfigError([Problem(str(app.config.subscribers_path), None, str(exc))]) from None
    return Matcher(topics, semantic=scorer)


def iter_digests(app: App, subscribers: Sequence[Subscriber]) -> Iterator[Digest]:
    """The digest each subscriber would get now, one at a time; nothing new → none.

    Matching runs once for everyone (each distinct topic once per entry); after that the
    work per subscriber is assembly over the entries their topics matched, and digests are
    yielded as they are made, so memory does not grow with the number of subscribers.
    """
    if not subscribers:
        return
    now = app.now()
    lookback = now - timedelta(days=app.config.digest.lookback_days)
    last = app.store.last_digests_of([s.email for s in subscribers])
    oldest = min((t or lookback) for t in last.values())
    entries = app.store.entries_since(min(oldest, lookback))
    topics = distinct_topics(subscribers)
    matches = make_matcher(app, topics).match(entries)
    by_key = {entry.key: entry for entry in entries}
    by_topic: dict[str, list[str]] = {}
    for key, found in matches.items():
        for topic_id in found:
            by_topic.setdefault(topic_id, []).append(key)
    versioned = [e for e in entries if e.version is not None]
    list_updates = app.config.digest.updates == "list"
    # What each subscriber already has is read 500 subscribers at a time: a query per
    # subscriber is a round trip each on PostgreSQL, all at once would grow with the list.
    for start in range(0, len(subscribers), 500):
        chunk = subscribers[start : start + 500]
        taken_of = app.store.taken_entries_of([s.email for s in chunk])
        for subscriber in chunk:
            previous = last[subscriber.email.lower()]
            taken = taken_of[subscriber.email.lower()]
            keys = dict.fromkeys(k for t in subscriber.topics for k in by_topic.get(t.id, ()))
            updated = [e for e in versioned if is_unseen_version(e, taken)] if list_updates else []
            digest = compose(
                subscriber,
                [by_key[k] for k in keys],
                matches,
                taken=taken,
                since=previous or lookback,
                first_digest=previous is None,
                max_items=app.config.digest.max_items,
                now=now,
                updated=updated,
            )
            if digest is not None:
                yield digest


def plan_digests(app: App, subscribers: Sequence[Subscriber]) -> list[Digest]:
    """All digests at once: for previews and explanations of a few subscribers."""
    return list(iter_digests(app, subscribers))


def version_key(entry: Entry) -> str | None:
    return None if entry.version is None else f"{entry.key}#v{entry.version}"


def is_unseen_version(entry: Entry, taken: set[str]) -> bool:
    """A paper this subscriber already has, in a version they have not seen (arXiv replace)."""
    marker = version_key(entry)
    return entry.key in taken and marker is not None and marker not in taken


def carried_keys(digest: Digest) -> tuple[str, ...]:
    """What the outbox records as carried: each entry's key, and its version when known,
    so a later version can be told apart and listed once under "Updated"."""
    keys: list[str] = []
    for entry in [item.entry for item in digest.items]:
        keys.append(entry.key)
        marker = version_key(entry)
        if marker:
            keys.append(marker)
    # An update's key is already carried by the digest that delivered the paper; only the
    # new version's marker is new (and the outbox refuses a key that is already taken).
    keys += [m for m in map(version_key, digest.updated) if m]
    return tuple(dict.fromkeys(keys))


# -- render ------------------------------------------------------------------------------


def sender_domain(sender: str) -> str:
    return parseaddr(sender)[1].rpartition("@")[2] or "localhost"


def message_id_for(config: Config, digest: Digest, run_key: str) -> str:
    """Stable for the same run, subscriber and entries, so a dry run twice gives the same bytes."""
    material = "\n".join([run_key, digest.subscriber.email.lower(), *digest.entry_keys])
    token = hashlib.sha256(material.encode()).hexdigest()[:32]
    return f"<{token}@{sender_domain(config.sender)}>"


def make_renderer(config: Config) -> Renderer:
    return Renderer(
        RenderSettings(
            title=config.title,
            base_url=config.base_url,
            sender=config.sender,
            template_dir=config.templates_dir,
        )
    )


def dkim_signer(env: Environment) -> Callable[[bytes], bytes] | None:
    """Sign with DKIM when configured; the signed bytes are the bytes stored and sent."""
    if not env.dkim_enabled:
        return None
    from newsletter.deliver.dkim import DkimError, dkim_sign

    assert env.dkim_private_key_file and env.dkim_selector and env.dkim_domain
    try:
        key = Path(env.dkim_private_key_file).expanduser().read_bytes()
    except OSError as exc:
        raise ConfigError(
            [
                Problem(
                    env.source,
                    None,
                    f"DKIM_PRIVATE_KEY_FILE cannot be read ({exc.strerror}) "
                    "— point it at the PEM private key",
                )
            ]
        ) from None
    selector, domain = env.dkim_selector, env.dkim_domain

    def sign(data: bytes) -> bytes:
        try:
            return dkim_sign(data, selector=selector, domain=domain, private_key=key)
        except DkimError as exc:
            raise ConfigError([Problem(env.source, None, f"DKIM signing failed: {exc}")]) from None

    return sign


def render_messages(
    app: App,
    digests: Iterable[Digest],
    *,
    run_key: str,
    secret: str,
    sign: Callable[[bytes], bytes] | None = None,
) -> Iterable[Message]:
    renderer = make_renderer(app.config)
    now = app.now()
    for digest in digests:
        token = make_token(digest.subscriber.email, secret, now=now)
        unsubscribe = f"{app.config.base_url}unsubscribe?token={token}"
        rendered = renderer.render(digest, DigestLinks(unsubscribe_url=unsubscribe))
        message = renderer.message(
            digest, rendered, message_id=message_id_for(app.config, digest, run_key), date=now
        )
        message = replace(message, entry_keys=carried_keys(digest))
        yield message if sign is None else replace(message, data=sign(message.data))


# -- dry run -----------------------------------------------------------------------------


@dataclass(frozen=True)
class PreviewRow:
    subscriber: str
    topics: int
    items: int
    size: int
    path: Path | None = None


@dataclass
class DryRunReport:
    out_dir: Path
    rows: list[PreviewRow] = field(default_factory=list)
    fetched: list[FetchOutcome] = field(default_factory=list)


_PREVIEW_FILE = re.compile(r"^\d+-.+\.(eml|html|txt)$")


def safe_filename(address: str) -> str:
    return re.sub(r"[^A-Za-z0-9@._+-]", "_", address)


def write_previews(out_dir: Path, messages: Iterable[tuple[Message, Digest]]) -> list[PreviewRow]:
    """Write ``<n>-<address>.eml`` (the exact bytes) with ``.html`` and ``.txt`` beside it."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.iterdir():  # stale previews from a previous run would mislead
        if old.is_file() and _PREVIEW_FILE.match(old.name):
            old.unlink()
    rows = []
    for n, (message, digest) in enumerate(messages, 1):
        stem = f"{n}-{safe_filename(message.recipient)}"
        eml = out_dir / f"{stem}.eml"
        eml.write_bytes(message.data)
        (out_dir / f"{stem}.html").write_text(message.html, encoding="utf-8")
        (out_dir / f"{stem}.txt").write_text(message.text, encoding="utf-8")
        rows.append(
            PreviewRow(
                subscriber=message.recipient,
                topics=len(digest.sections),
                items=len(digest.items),
                size=len(message.data),
                path=eml,
            )
        )
    return rows


def dry_run(
    app: App,
    *,
    out_dir: Path,
    only: str | None = None,
    fetch_first: bool = True,
    progress: Callable[[FetchOutcome], None] | None = None,
) -> DryRunReport:
    """Everything a send does except SMTP and recording: nothing is marked seen or sent."""
    report = DryRunReport(out_dir=out_dir)
    if fetch_first:
        report.fetched = fetch(app, progress=progress)
    secret = app.env.secret or DRY_RUN_SECRET
    sign = dkim_signer(app.env)
    # tee: the renderer and the report walk the same digests in step, one at a time.
    for_render, for_report = itertools.tee(iter_digests(app, active_subscribers(app, only)))
    messages = render_messages(app, for_render, run_key="dry-run", secret=secret, sign=sign)
    report.rows = write_previews(out_dir, zip(messages, for_report, strict=True))
    return report
