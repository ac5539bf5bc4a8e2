"""Canonical keys: one paper or post is stored once, whichever feed brought it.

The key is ``arxiv:<id>`` (version stripped), else ``doi:<doi>``, else
``url:<normalised link>``, else ``guid:<feed guid>``.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from newsletter.records import Entry

# New-style ids (2007+: 0704.0001, 2403.04790v2) and old-style ones (hep-th/9901001v1).
_ARXIV_NEW = r"\d{4}\.\d{4,5}"
_ARXIV_OLD = r"[a-z][a-z\-]*(?:\.[A-Z]{2})?/\d{7}"
# re.ASCII throughout: \d would also match other scripts' digits (٢٤٠٣.٠٤٧٩٠) and, with
# IGNORECASE, [a-z] the Kelvin sign.
ARXIV_ID = re.compile(rf"(?P<id>{_ARXIV_NEW}|{_ARXIV_OLD})(?:v(?P<version>\d+))?", re.ASCII)
_ARXIV_IN_URL = re.compile(
    rf"^https?://(?:www\.|export\.)?arxiv\.org/(?:abs|pdf|html)/"
    rf"(?P<id>{_ARXIV_NEW}|{_ARXIV_OLD})(?:v(?P<version>\d+))?(?:\.pdf)?/?$",
    re.IGNORECASE | re.ASCII,
)
_ARXIV_GUID = re.compile(
    rf"^(?:oai:arXiv\.org:|arxiv:|https?://arxiv\.org/abs/)"
    rf"(?P<id>{_ARXIV_NEW}|{_ARXIV_OLD})(?:v(?P<version>\d+))?$",
    re.IGNORECASE | re.ASCII,
)
_DOI = re.compile(r"\b(10\.\d{4,9}/[^\s\"<>]+)")
_DOI_URL = re.compile(r"^https?://(?:dx\.)?doi\.org/(10\.\d{4,9}/\S+)$", re.IGNORECASE)
_TRACKING_PARAMS = re.compile(r"^(?:utm_[a-z]+|fbclid|gclid|mc_cid|mc_eid|ref_src)$", re.I)


def parse_arxiv_id(text: str) -> tuple[str, int | None] | None:
    """(id, version) from a bare id, ``oai:arXiv.org:`` guid or arxiv.org abs/pdf URL."""
    text = text.strip()
    for pattern in (_ARXIV_GUID, _ARXIV_IN_URL):
        match = pattern.match(text)
        if match:
            return _id_version(match)
    match = ARXIV_ID.fullmatch(text)
    return _id_version(match) if match else None


def _id_version(match: re.Match[str]) -> tuple[str, int | None]:
    version = match.group("version")
    return match.group("id"), int(version) if version else None


def find_doi(*candidates: str | None) -> str | None:
    """The first DOI among identifiers like ``doi:10.1/x``, ``https://doi.org/10.1/x``."""
    for value in candidates:
        if not value:
            continue
        value = value.strip()
        match = _DOI_URL.match(value)
        if match:
            return match.group(1).rstrip(".,;").lower()
        if value.lower().startswith(("doi:", "info:doi/", "10.")):
            found = _DOI.search(value)
            if found:
                return found.group(1).rstrip(".,;").lower()
    return None


def normalise_url(url: str, *, keep_fragment: bool = False) -> str | None:
    """A link reduced so that trivially different spellings compare equal.

    Scheme and ``www.`` are dropped, the host lower-cased, default ports, fragments,
    trailing slashes and tracking parameters removed, the query sorted. With
    ``keep_fragment`` the fragment stays (but a text fragment, ``#:~:text=``): see
    :func:`distinct_permalinks`.
    """
    try:
        parts = urlsplit(url.strip())
        host = (parts.hostname or "").lower()
        port = parts.port
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not host:
        return None
    host = host.removeprefix("www.")
    if port and port not in (80, 443):
        host = f"{host}:{port}"
    query = sorted(
        (k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if not _TRACKING_PARAMS.match(k)
    )  # fmt: skip
    path = parts.path.rstrip("/") or ""
    fragment = parts.fragment.split(":~:", 1)[0] if keep_fragment else ""
    return urlunsplit(("", host, path, urlencode(query), fragment)).removeprefix("//")


def distinct_permalinks(entries: Sequence[Entry]) -> list[Entry]:
    """Items of one document whose links differ only after ``#`` are different posts.

    Scripting News gives each post a permalink that differs only in its fragment; keyed
    without it, 48 posts would merge into 7. A fragment on a link no other item shares
    (``…/post#top``) still goes, so the same page linked two ways stays one entry.
    """
    counts = Counter(entry.key for entry in entries)
    out = []
    for entry in entries:
        if counts[entry.key] > 1 and entry.key.startswith("url:"):
            precise = normalise_url(entry.link, keep_fragment=True)
            if precise:
                entry = replace(entry, key=f"url:{precise}")
        out.append(entry)
    return out


def canonical_key(
    *,
    arxiv_id: str | None = None,
    doi: str | None = None,
    link: str | None = None,
    guid: str | None = None,
    fallback: str = "",
) -> str:
    """The storage key for an entry, from the strongest identifier it has."""
    if arxiv_id:
        return f"arxiv:{arxiv_id}"
    if doi:
        return f"doi:{doi}"
    if link:
        normal = normalise_url(link)
        if normal:
            return f"url:{normal}"
    if guid and guid.strip():
        return f"guid:{guid.strip()}"
    digest = hashlib.sha256(fallback.encode("utf-8", "replace")).hexdigest()[:24]
    return f"guid:sha256:{digest}"


def arxiv_pdf_link(arxiv_id: str) -> str:
    return f"https://arxiv.org/pdf/{arxiv_id}"


def arxiv_abs_link(arxiv_id: str) -> str:
    return f"https://arxiv.org/abs/{arxiv_id}"
