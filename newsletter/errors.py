"""The errors a person can act on, and the exit status each one means.

Two families, told apart by the exit status the CLI returns:

- :class:`UserError` (exit 2): something a person must fix before the command can do
  anything — the configuration, the command line, the database URL, a template. Always a
  message in the ``file:line: what is wrong — how to fix it`` form, never a traceback.
- :class:`OperationalError` (exit 1): the command ran but some work did not succeed — a
  feed failing, messages deferred or refused, a relay that stopped accepting mail.

Both carry their cause (``raise … from exc``) so the log keeps the whole story. Anything
else that escapes is a bug and is shown as one (a traceback).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

EXIT_OK = 0
EXIT_INCOMPLETE = 1
EXIT_USER = 2


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing to fix, where it is, and (in ``detail``) extra lines such as a caret."""

    file: str
    line: int | None
    message: str
    detail: str = ""

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        text = f"{where}: {self.message}"
        if self.detail:
            text += "\n" + "\n".join("    " + line for line in self.detail.splitlines())
        return text


class NewsletterError(Exception):
    """Base of every error that is a message for a person rather than a bug."""

    exit_status: ClassVar[int] = EXIT_INCOMPLETE

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class UserError(NewsletterError):
    """Something a person must fix first (exit status 2)."""

    exit_status = EXIT_USER


class UsageError(UserError):
    """The command line asks for something impossible."""

    def __init__(self, message: str, where: str = "usage") -> None:
        super().__init__([Problem(where, None, message)])


class DatabaseUnavailable(UserError):
    """The database cannot be opened (URL, driver, server)."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__([Problem("database", None, message, hint)])


class UnknownSubscriber(UserError):
    def __init__(self, email: str, where: str) -> None:
        message = f"no subscriber {email} — check the address or add them"
        super().__init__([Problem(where, None, message)])


class OperationalError(NewsletterError):
    """The command ran, but work it was asked to do did not succeed (exit status 1)."""

    exit_status = EXIT_INCOMPLETE
