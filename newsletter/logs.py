"""Logging for every command: structured lines on stderr, ``key=value`` or one JSON object.

Set up once by the CLI (:func:`setup`), retuned to the config's ``log_format`` when the
config is loaded. Library code logs and never prints: operational events go through
:func:`event` (a name and fields); anything else logged (a library's warning, a traceback)
becomes ``event=log`` with its message, so every line has the same shape. Only the CLI's
output module (:mod:`newsletter.report`) prints to standard output.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Protocol, TextIO

LOGGER = "newsletter"
FORMATS = ("key=value", "json")
_BARE = re.compile(r"^[A-Za-z0-9_.:@/+\-]+$")

log = logging.getLogger(LOGGER)


def _plain(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, float):
        return round(value, 3)
    if value is None or isinstance(value, bool | int | str):
        return value
    return str(value)


def format_line(fields: Mapping[str, object], fmt: str) -> str:
    values = {key: _plain(value) for key, value in fields.items()}
    if fmt == "json":
        return json.dumps(values, ensure_ascii=False, separators=(",", ":"))
    parts = []
    for key, value in values.items():
        text = "null" if value is None else str(value).lower() if isinstance(value, bool) else value
        text = str(text)
        parts.append(f"{key}={text if _BARE.match(text) else json.dumps(text, ensure_ascii=False)}")
    return " ".join(parts)


class StructuredFormatter(logging.Formatter):
    def __init__(self, fmt: str = "key=value") -> None:
        super().__init__()
        self.style_name = fmt

    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="seconds"),
            "level": record.levelname.lower(),
        }
        extra = getattr(record, "fields", None)
        if isinstance(extra, Mapping):
            fields["event"] = record.getMessage()
            fields.update(extra)
        else:
            fields["event"] = "log"
            fields["logger"] = record.name
            fields["msg"] = record.getMessage()
        if record.exc_info:
            fields["error"] = self.formatException(record.exc_info)
        return format_line(fields, self.style_name)


_HANDLER_NAME = "newsletter-structured"


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the time (tests and tools swap it)."""

    @property  # type: ignore[override]
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        pass


def setup(
    fmt: str = "key=value", *, level: int = logging.INFO, stream: TextIO | None = None
) -> logging.Handler:
    """Send every log record to ``stream`` (stderr) in ``fmt``; returns the handler to retune.

    Idempotent: a second call retunes the handler it installed instead of adding one."""
    root = logging.getLogger()
    handler = next((h for h in root.handlers if h.get_name() == _HANDLER_NAME), None)
    if handler is None or stream is not None:
        if handler is not None:
            root.removeHandler(handler)
        handler = logging.StreamHandler(stream) if stream is not None else _StderrHandler()
        handler.set_name(_HANDLER_NAME)
        root.addHandler(handler)
    handler.setFormatter(StructuredFormatter(fmt))
    root.setLevel(level)
    # APScheduler logs every job start and end at INFO; our own run line says more.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    # flufl.bounce logs each of its 17 detectors per mail at INFO, and a detector that
    # chokes on a hostile mail with a traceback; the bounces pass reports that mail itself.
    logging.getLogger("flufl.bounce").setLevel(logging.CRITICAL)
    return handler


def set_format(fmt: str) -> None:
    """Apply the config's ``log_format`` to the handler :func:`setup` installed."""
    for handler in logging.getLogger().handlers:
        if handler.get_name() == _HANDLER_NAME:
            handler.setFormatter(StructuredFormatter(fmt))


class Events(Protocol):
    def __call__(
        self, name: str, level: int = logging.INFO, *, exc_info: bool = False, **fields: Any
    ) -> None: ...


def events(logger_name: str) -> Events:
    """:func:`event` bound to one logger, e.g. ``event = logs.events(__name__)`` per module,
    so an operator can tune or filter a part of the program by its logger name."""
    logger = logging.getLogger(logger_name)

    def bound(
        name: str, level: int = logging.INFO, *, exc_info: bool = False, **fields: Any
    ) -> None:
        event(name, level, exc_info=exc_info, logger=logger, **fields)

    return bound


def event(
    name: str,
    level: int = logging.INFO,
    *,
    exc_info: bool = False,
    logger: logging.Logger | None = None,
    **fields: object,
) -> None:
    """Log one operational event: a name and its fields (``exc_info`` adds the traceback)."""
    (logger or log).log(level, name, extra={"fields": fields}, exc_info=exc_info)
