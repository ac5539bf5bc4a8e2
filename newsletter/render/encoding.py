"""Quoted-printable bodies, defined line by line so shared pieces are encoded once per run.

A part's body is each of its lines encoded on its own (``binascii.b2a_qp``) and ended with
CRLF; a last line without a line break ends in a soft line break, so the body decodes to
exactly the part. Because no encoded line depends on its neighbours, the body of a text is
the concatenation of the bodies of its lines — so a renderer that assembles a digest from
cached pieces can reuse each piece's encoding (:class:`ChunkEncoder`) and still produce
exactly :func:`encode_part` of the whole, which is what the naive renderer computes.
"""

from __future__ import annotations

import binascii
from collections.abc import Iterable
from dataclasses import dataclass

CRLF = b"\r\n"
SOFT_BREAK = b"=\r\n"
MEMO_LIMIT = 20_000
"""Chunks whose encoding is remembered before the memo is emptied."""


def encode_line(line: str) -> bytes:
    """One line (no ``\\n`` in it) as quoted-printable, soft-broken at 76 columns.

    Binary mode, so a stray carriage return is escaped instead of reaching SMTP bare.
    """
    if not line:
        return b""
    encoded = binascii.b2a_qp(line.encode("utf-8"), quotetabs=False, istext=False)
    return encoded.replace(b"\n", CRLF)


def encode_lines(text: str) -> bytes:
    """Whole lines (``text`` ends with ``\\n``) as quoted-printable, each ended by CRLF."""
    return b"".join(encode_line(line) + CRLF for line in text[:-1].split("\n"))


def encode_tail(text: str) -> bytes:
    """A last line with no line break: encoded and ended with a soft line break."""
    return encode_line(text) + SOFT_BREAK if text else b""


def encode_part(text: str) -> bytes:
    """The quoted-printable body of a MIME part holding ``text``."""
    cut = text.rfind("\n") + 1
    return (encode_lines(text[:cut]) if cut else b"") + encode_tail(text[cut:])


@dataclass(frozen=True, slots=True)
class _Lines:
    """A chunk that holds a line break: the text up to and including the first one, the
    encoding of the whole lines after it, and the text after the last one."""

    first: str
    first_qp: bytes
    middle_qp: bytes
    last: str


def _split(chunk: str) -> _Lines:
    start = chunk.index("\n") + 1
    end = chunk.rindex("\n") + 1
    first = chunk[:start]
    middle = chunk[start:end]
    return _Lines(first, encode_lines(first), encode_lines(middle) if middle else b"", chunk[end:])


class ChunkEncoder:
    """Encodes a text given as chunks; the encoding of a chunk with line breaks is kept, so
    a card that many digests share is encoded once. Only text between two line breaks that
    spans several chunks (a value filled in next to a cached piece) is encoded per call."""

    def __init__(self) -> None:
        self._memo: dict[str, _Lines] = {}

    def encode(self, chunks: Iterable[str]) -> bytes:
        """Exactly ``encode_part("".join(chunks))``."""
        out: list[bytes] = []
        pending: list[str] = []
        memo = self._memo
        for chunk in chunks:
            if "\n" not in chunk:
                pending.append(chunk)
                continue
            lines = memo.get(chunk)
            if lines is None:
                if len(memo) >= MEMO_LIMIT:
                    memo.clear()
                lines = memo[chunk] = _split(chunk)
            if pending:
                pending.append(lines.first)
                out.append(encode_lines("".join(pending)))
                pending.clear()
            else:
                out.append(lines.first_qp)
            out.append(lines.middle_qp)
            if lines.last:
                pending.append(lines.last)
        if pending:
            out.append(encode_tail("".join(pending)))
        return b"".join(out)


class LineEncoder:
    """Encodes texts line by line, keeping each line's encoding: the lines of a plain-text
    card come back in every digest that carries the card."""

    def __init__(self) -> None:
        self._memo: dict[str, bytes] = {}

    def encode(self, text: str) -> bytes:
        """Exactly ``encode_part(text)``."""
        memo = self._memo
        if len(memo) >= MEMO_LIMIT:
            memo.clear()
        cut = text.rfind("\n") + 1
        out: list[bytes] = []
        if cut:
            for line in text[: cut - 1].split("\n"):
                encoded = memo.get(line)
                if encoded is None:
                    encoded = memo[line] = encode_line(line) + CRLF
                out.append(encoded)
        out.append(encode_tail(text[cut:]))
        return b"".join(out)
