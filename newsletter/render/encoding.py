"""Quoted-printable bodies, defined line by line so shared pieces are encoded once per run.

A part's body is each of its lines encoded on its own (``binascii.b2a_qp``) and ended with
CRLF; a last line without a line break ends in a soft line break, so the body decodes to
exactly the part. Because no encoded line depends on its neighbours, the body of a text is
the concatenation of the bodies of its lines — so a renderer that assembles a digest from
cached pieces can reuse each piece's encoding (:class:`Chunk`) and still produce
exactly :func:`encode_part` of the whole, which is what the naive renderer computes.
"""

from __future__ import annotations

import binascii
from collections.abc import Iterable
from dataclasses import dataclass

CRLF = b"\r\n"
SOFT_BREAK = b"=\r\n"
LINES_LIMIT = 20_000
"""Text lines whose encoding :class:`LineEncoder` keeps before it starts afresh."""


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
class Chunk:
    """A piece of text kept across digests (a static piece of a template's shape, a filled
    paper card) with its encoding prepared: the text up to and including its first line
    break, the encoding of the whole lines after that, and the text after its last one.
    ``first`` is None when the text holds no line break."""

    text: str
    first: str | None
    first_qp: bytes
    middle_qp: bytes
    last: str


def chunk(text: str) -> Chunk:
    start = text.find("\n") + 1
    if not start:
        return Chunk(text, None, b"", b"", text)
    end = text.rindex("\n") + 1
    first, middle = text[:start], text[start:end]
    return Chunk(
        text, first, encode_lines(first), encode_lines(middle) if middle else b"", text[end:]
    )


def join(chunks: Iterable[str | Chunk]) -> str:
    return "".join(c if type(c) is str else c.text for c in chunks)  # type: ignore[union-attr]


def encode_chunks(chunks: Iterable[str | Chunk]) -> bytes:
    """Exactly ``encode_part(join(chunks))``, reusing what each :class:`Chunk` prepared: a
    card that many digests share is encoded once. Only text between two line breaks that
    spans several chunks (a value filled in next to a kept piece) is encoded per call."""
    out: list[bytes] = []
    pending: list[str] = []
    for piece in chunks:
        if type(piece) is str:
            if "\n" in piece:
                piece = chunk(piece)
            else:
                pending.append(piece)
                continue
        assert isinstance(piece, Chunk)
        if piece.first is None:
            pending.append(piece.text)
            continue
        if pending:
            pending.append(piece.first)
            out.append(encode_lines("".join(pending)))
            pending.clear()
        else:
            out.append(piece.first_qp)
        out.append(piece.middle_qp)
        if piece.last:
            pending.append(piece.last)
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
        if len(memo) >= LINES_LIMIT:
            memo.clear()
        cut = text.rfind("\n") + 1
        out: list[bytes] = []
        if cut:
            lines = text[: cut - 1].split("\n")
            out = list(map(memo.get, lines))  # type: ignore[arg-type]
            for i, encoded in enumerate(out):
                if encoded is None:
                    out[i] = memo[lines[i]] = encode_line(lines[i]) + CRLF
        out.append(encode_tail(text[cut:]))
        return b"".join(out)
