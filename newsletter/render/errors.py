"""The two ways rendering can fail, so the run layer knows whom a failure concerns.

A :class:`TemplateError` is a mistake in the templates themselves (syntax, an unknown
template, a sandbox violation, an error the sample digest already triggers): it is the same
for every subscriber, so a run stops before anything is sent. A :class:`DigestRenderError`
comes from one digest's data (a template dividing by a count that is zero only for them, an
address that cannot go in a header): that subscriber's message fails and the run goes on.
Anything else raised while rendering is a bug and stays a traceback.
"""

from __future__ import annotations

import traceback

TEMPLATE_SUFFIXES = (".j2", ".html", ".htm", ".txt", ".css")


class TemplateError(Exception):
    """The templates cannot render any digest; ``problems`` are ``path:line: message``."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class DigestRenderError(Exception):
    """This one digest cannot be rendered or sent; other digests are not affected."""

    def __init__(self, problem: str, subscriber: str | None = None) -> None:
        super().__init__(f"{subscriber}: {problem}" if subscriber else problem)
        self.problem = problem
        self.subscriber = subscriber


def parts(problem: str) -> tuple[str, int | None, str]:
    """A ``path:line: message`` problem as (path, line, message), for callers that report
    problems their own way (``check``, the run)."""
    path, _, rest = problem.partition(":")
    number, _, message = rest.partition(":")
    if not number.isdigit():
        return path, None, rest.strip() or problem
    return path, int(number), message.strip() or problem


def where(error: BaseException, fallback: str) -> str:
    """``path:line`` of the innermost template frame in ``error``'s traceback."""
    lineno = getattr(error, "lineno", None)
    filename = getattr(error, "filename", None)
    if filename and lineno:  # TemplateSyntaxError knows its place
        return f"{filename}:{lineno}"
    found = f"{fallback}:1"
    for frame in traceback.extract_tb(error.__traceback__):
        if frame.filename and frame.filename.endswith(TEMPLATE_SUFFIXES):
            found = f"{frame.filename}:{frame.lineno}"
    return found


def describe(error: BaseException, fallback: str) -> str:
    """``path:line: ErrorType: message`` for an error raised inside a template."""
    message = getattr(error, "message", None) or str(error)
    return f"{where(error, fallback)}: {type(error).__name__}: {message}"
