"""Structured log lines on stderr: ``key=value`` for people and grep, or one JSON object a line.

Events (a run, a fetch, a reload) carry their fields in ``extra={"fields": {...}}``; any other
log record (APScheduler, feed warnings) becomes ``event=log`` with its message, so every
line the daemon writes has the same shape.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, TextIO

LOGGER = "newsletter.schedule"
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


def setup(fmt: str, stream: TextIO | None = None) -> logging.Handler:
    """Send every log record to ``stream`` (stderr) in ``fmt``; returns the handler to retune."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(StructuredFormatter(fmt))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    # APScheduler logs every job start and end at INFO; our own run line says more.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    return handler


def event(name: str, level: int = logging.INFO, **fields: object) -> None:
    log.log(level, name, extra={"fields": fields})
