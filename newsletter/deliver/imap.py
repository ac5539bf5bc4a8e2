"""The bounce mailbox over IMAP: verified TLS, timeouts, read without marking, move when done.

``BOUNCE_IMAP_URL`` names it: ``imaps://user:password@mail.example.org:993/INBOX`` is
implicit TLS; ``imap://`` upgrades with STARTTLS, and talks plain text only to a loopback
host (a local Dovecot). Certificates and host names are verified like the relay's.
Messages are fetched with ``BODY.PEEK[]`` so reading sets no flag, and only the ones the
caller processed are moved (``MOVE``, RFC 6851) to the ``Processed`` folder, created when
missing. Nothing is ever deleted.
"""

from __future__ import annotations

import contextlib
import imaplib
import ipaddress
import re
import socket
import ssl
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from types import TracebackType
from typing import Any
from urllib.parse import unquote, urlsplit

PROCESSED = "Processed"
DEFAULT_PORTS = {"imaps": 993, "imap": 143}
MAX_MESSAGE = 10 * 1024 * 1024
"""Larger mails are not bounces; they are left unread rather than downloaded."""
MAX_PER_PASS = 1000
"""Messages looked at per pass; the rest wait for the next one."""
_SIZE = re.compile(rb"UID (\d+) RFC822\.SIZE (\d+)|RFC822\.SIZE (\d+) UID (\d+)")
_ATOM_SPECIALS = re.compile(r'[\s(){%*"\\\]]')


class MailboxError(Exception):
    """The mailbox cannot be reached or used (network, TLS, login, refused command)."""


@dataclass(frozen=True)
class MailboxUrl:
    """A parsed ``BOUNCE_IMAP_URL``; the password stays out of ``repr``."""

    scheme: str
    host: str
    port: int
    username: str
    password: str = field(repr=False)
    mailbox: str = "INBOX"

    @property
    def loopback(self) -> bool:
        if self.host.lower() == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False

    @property
    def where(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}/{self.mailbox}"


def parse_mailbox_url(url: str) -> MailboxUrl:
    """Read ``imaps://user:password@host[:port][/mailbox]``; ValueError says what is wrong."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"it is not a URL ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise ValueError(
            f"it starts with {scheme + '://' if scheme else 'no scheme'}; use imaps:// "
            "(TLS, port 993) or imap:// (STARTTLS, port 143)"
        )
    if not parts.hostname:
        raise ValueError("it names no host: imaps://user:password@mail.example.org/INBOX")
    if not parts.username or parts.password is None:
        raise ValueError("it needs the user and password: imaps://user:password@host/INBOX")
    if parts.query or parts.fragment:
        raise ValueError("it has a ?query or #fragment; give only the mailbox after the host")
    mailbox = unquote(parts.path.lstrip("/")) or "INBOX"
    if not mailbox.isascii() or any(ord(c) < 32 for c in mailbox):
        raise ValueError(f"the mailbox name {mailbox!r} must be plain ASCII")
    return MailboxUrl(
        scheme=scheme,
        host=parts.hostname,
        port=port or DEFAULT_PORTS[scheme],
        username=unquote(parts.username),
        password=unquote(parts.password),
        mailbox=mailbox,
    )


def _quoted(name: str) -> str:
    """A mailbox name as an IMAP argument (imaplib sends arguments as they are)."""
    if name and not _ATOM_SPECIALS.search(name):
        return name
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass(frozen=True, slots=True)
class Fetched:
    """One mail of the mailbox: its UID and bytes (None when too large to read)."""

    uid: str
    size: int
    data: bytes | None


class Mailbox:
    """One IMAP session on the bounce mailbox; use as a context manager."""

    def __init__(
        self,
        url: MailboxUrl,
        *,
        timeout: float = 30.0,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.url = url
        self.timeout = timeout
        self._tls = tls or ssl.create_default_context()
        self._imap: imaplib.IMAP4 | None = None
        self._capabilities: frozenset[str] = frozenset()

    # -- session -------------------------------------------------------------------------

    def open(self) -> Mailbox:
        url = self.url
        step = "connect"
        try:
            if url.scheme == "imaps":
                imap: imaplib.IMAP4 = imaplib.IMAP4_SSL(
                    url.host, url.port, ssl_context=self._tls, timeout=self.timeout
                )
            else:
                imap = imaplib.IMAP4(url.host, url.port, timeout=self.timeout)
            self._imap = imap
            if url.scheme == "imap":
                if "STARTTLS" in imap.capabilities:
                    step = "STARTTLS"
                    imap.starttls(self._tls)
                elif not url.loopback:
                    raise MailboxError(
                        f"{url.host}:{url.port} does not offer STARTTLS; refusing to send the "
                        "password in plain text (use imaps://, or a loopback host)"
                    )
            step = "login"
            self._login(imap)
            step = "CAPABILITY"
            self._capabilities = self._refresh_capabilities(imap)
            step = f"SELECT {url.mailbox}"
            self._ok(imap.select(_quoted(url.mailbox)), step)
        except MailboxError:
            self.close()
            raise
        except ssl.SSLCertVerificationError as exc:
            self.close()
            raise MailboxError(
                f"TLS certificate of {url.host}:{url.port} could not be verified: "
                f"{exc.verify_message}"
            ) from exc
        except (imaplib.IMAP4.error, OSError) as exc:
            self.close()
            raise MailboxError(self._describe(exc, step)) from exc
        return self

    @staticmethod
    def _refresh_capabilities(imap: imaplib.IMAP4) -> frozenset[str]:
        """What the server offers once logged in (MOVE and UIDPLUS often show only then)."""
        typ, data = imap.capability()
        words = b" ".join(d for d in data if isinstance(d, bytes)).decode("ascii", "replace")
        return frozenset(words.upper().split()) if typ == "OK" else frozenset()

    def _login(self, imap: imaplib.IMAP4) -> None:
        user, password = self.url.username, self.url.password
        if "AUTH=PLAIN" in imap.capabilities:
            # SASL PLAIN carries UTF-8 (RFC 4616); LOGIN would be ASCII only in imaplib.
            secret = b"\0" + user.encode("utf-8") + b"\0" + password.encode("utf-8")
            imap.authenticate("PLAIN", lambda _challenge: secret)
        elif (user + password).isascii():
            imap.login(user, password)
        else:
            raise MailboxError(
                f"{self.url.host} offers no AUTH=PLAIN, and its LOGIN takes ASCII only: "
                "use an ASCII user name and password"
            )

    def close(self) -> None:
        imap, self._imap = self._imap, None
        if imap is None:
            return
        try:
            if imap.state == "SELECTED":
                imap.close()
            imap.logout()
        except (imaplib.IMAP4.error, OSError):
            with contextlib.suppress(OSError):
                imap.shutdown()

    def __enter__(self) -> Mailbox:
        return self.open()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- reading and moving --------------------------------------------------------------

    def messages(self, limit: int = MAX_PER_PASS) -> Iterator[Fetched]:
        """Every mail in the mailbox (oldest first, at most ``limit``), read without a flag."""
        imap = self._session()
        sizes = self._sizes(imap, limit)
        for uid, size in sizes:
            if size > MAX_MESSAGE:
                yield Fetched(uid, size, None)
                continue
            response = self._call(partial(imap.uid, "FETCH", uid, "(BODY.PEEK[])"), "FETCH")
            data = next(
                (part[1] for part in response if isinstance(part, tuple) and len(part) == 2),
                None,
            )
            yield Fetched(uid, size, data if isinstance(data, bytes) else None)

    def move(self, uids: Sequence[str], folder: str = PROCESSED) -> None:
        """Move these mails to ``folder``, creating it when missing."""
        if not uids:
            return
        imap = self._session()
        self._ensure_folder(imap, folder)
        numbers = ",".join(uids)
        if "MOVE" in self._capabilities:
            self._call(lambda: imap.uid("MOVE", numbers, _quoted(folder)), "MOVE")
            return
        # Without MOVE: copy, then flag the originals; expunge only them (UIDPLUS), never
        # anything else someone flagged in this mailbox.
        self._call(lambda: imap.uid("COPY", numbers, _quoted(folder)), "COPY")
        self._call(lambda: imap.uid("STORE", numbers, "+FLAGS.SILENT", r"(\Deleted)"), "STORE")
        if "UIDPLUS" in self._capabilities:
            self._call(lambda: imap.uid("EXPUNGE", numbers), "UID EXPUNGE")

    def _ensure_folder(self, imap: imaplib.IMAP4, folder: str) -> None:
        typ, listed = imap.list('""', _quoted(folder))
        if typ == "OK" and any(item for item in listed if item):
            return
        typ, reply = imap.create(_quoted(folder))
        if typ != "OK" and b"ALREADYEXISTS" not in b" ".join(r for r in reply if r):
            raise MailboxError(f"cannot create the folder {folder!r}: {_said(reply)}")

    def _sizes(self, imap: imaplib.IMAP4, limit: int) -> list[tuple[str, int]]:
        found = self._call(lambda: imap.uid("SEARCH", "UNDELETED"), "SEARCH")
        uids = b" ".join(r for r in found if isinstance(r, bytes)).split()[:limit]
        if not uids:
            return []
        response = self._call(
            lambda: imap.uid("FETCH", b",".join(uids).decode(), "(RFC822.SIZE)"), "FETCH"
        )
        sizes: dict[str, int] = {}
        for line in response:
            text = line[0] if isinstance(line, tuple) else line
            match = _SIZE.search(text) if isinstance(text, bytes) else None
            if match:
                uid = match.group(1) or match.group(4)
                size = match.group(2) or match.group(3)
                sizes[uid.decode()] = int(size)
        return sorted(sizes.items(), key=lambda item: int(item[0]))

    # -- plumbing ------------------------------------------------------------------------

    def _session(self) -> imaplib.IMAP4:
        if self._imap is None:
            raise MailboxError("the mailbox is not open")
        return self._imap

    def _call(self, command: Callable[[], tuple[str, Sequence[Any]]], name: str) -> list[Any]:
        try:
            typ, data = command()
        except (imaplib.IMAP4.error, OSError) as exc:
            raise MailboxError(self._describe(exc, name)) from exc
        if typ != "OK":
            raise MailboxError(f"{self.url.host} refused {name}: {_said(data)}")
        return list(data)

    @staticmethod
    def _ok(result: tuple[str, Sequence[Any]], step: str) -> None:
        typ, data = result
        if typ != "OK":
            raise imaplib.IMAP4.error(f"{step} refused: {_said(data)}")

    def _describe(self, exc: BaseException, step: str) -> str:
        where = f"{self.url.host}:{self.url.port}"
        if isinstance(exc, socket.timeout | TimeoutError):
            what = f"no answer within {self.timeout:g} s"
        elif isinstance(exc, imaplib.IMAP4.error) and step == "login":
            what = f"the login for user {self.url.username!r} was refused ({_said([str(exc)])})"
        else:
            what = str(exc) or type(exc).__name__
        text = f"{where} during {step}: {what}"
        return text.replace(self.url.password, "***") if self.url.password else text


def _said(data: Sequence[object]) -> str:
    words = []
    for item in data:
        if isinstance(item, bytes):
            words.append(item.decode("utf-8", "replace"))
        elif item is not None:
            words.append(str(item))
    return " ".join(" ".join(words).split()) or "no reason given"
