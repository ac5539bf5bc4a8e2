"""Quoted-printable bodies: decode to exactly the part, stay within 76 columns, and come out
the same whether a text is encoded whole or as cached chunks."""

from __future__ import annotations

import binascii

from hypothesis import given, settings
from hypothesis import strategies as st

from newsletter.render.encoding import LineEncoder, chunk, encode_chunks, encode_part, join

ALPHABET = 'ab =\t.\r\n\né▲<>&"x' + "y" * 10
texts = st.text(alphabet=ALPHABET, max_size=400)


def decode(body: bytes) -> str:
    return binascii.a2b_qp(body.replace(b"\r\n", b"\n")).decode("utf-8")


@settings(max_examples=300)
@given(texts)
def test_a_body_decodes_to_the_part_and_keeps_lines_short(text: str) -> None:
    body = encode_part(text)
    assert decode(body) == text
    assert body == b"" or body.endswith(b"\r\n"), "a boundary can follow directly"
    assert b"\r" not in body.replace(b"\r\n", b""), "no bare CR reaches SMTP"
    assert b"\n" not in body.replace(b"\r\n", b"")
    assert all(len(line) <= 76 for line in body.split(b"\r\n"))


@settings(max_examples=300)
@given(st.lists(st.tuples(texts, st.booleans()), max_size=12))
def test_chunks_encode_like_the_whole(pieces: list[tuple[str, bool]]) -> None:
    """Pieces kept as chunks (encoding prepared) or passed as plain strings, in any mix."""
    chunks = [chunk(text) if kept else text for text, kept in pieces]
    whole = "".join(text for text, _ in pieces)
    assert join(chunks) == whole
    assert encode_chunks(chunks) == encode_part(whole)


@settings(max_examples=200)
@given(st.lists(texts, max_size=5))
def test_lines_encode_like_the_whole(parts: list[str]) -> None:
    encoder = LineEncoder()
    for text in parts + parts:  # the second round comes from the memo
        assert encoder.encode(text) == encode_part(text)
