"""Rendering settings: the few values from config that shape every digest of a run."""

from __future__ import annotations

from dataclasses import dataclass
from email.utils import parseaddr
from pathlib import Path

from newsletter.render import textutil


class RenderConfigError(ValueError):
    """A rendering setting a person wrote is unusable; the message says what to fix."""


@dataclass(frozen=True)
class RenderSettings:
    """What the renderer needs from ``newsletter.yaml``.

    ``sender`` is an RFC 5322 address (``"Name <addr@example.org>"``); ``template_dir``
    holds templates that replace the built-in ones file by file; ``footer`` is a line or a
    few printed at the bottom of every digest (the sender's postal address, which anti-spam
    laws such as CAN-SPAM ask for); ``max_html_bytes`` bounds the *encoded* HTML part.
    """

    title: str
    base_url: str
    sender: str
    template_dir: Path | None = None
    max_html_bytes: int = 100_000
    lang: str = "en"
    footer: str | None = None

    def __post_init__(self) -> None:
        for name in ("title", "base_url", "sender", "lang"):
            value = getattr(self, name)
            if textutil.header_safe(value) != value.strip() or not value.strip():
                raise RenderConfigError(
                    f"render setting {name!r} must be one non-empty line without control "
                    f"characters, got {value!r}"
                )
        if textutil.safe_url(self.base_url) is None:
            raise RenderConfigError(
                f"base_url must be an absolute http(s) URL, got {self.base_url!r}"
            )
        _, addr = parseaddr(self.sender)
        if "@" not in addr:
            raise RenderConfigError(
                f"sender must be an address like 'Digest <digest@example.org>', got {self.sender!r}"
            )
        if len(self.footer or "") > 2_000:
            raise RenderConfigError("footer must be at most 2,000 characters")
        if self.max_html_bytes < 10_000:
            raise RenderConfigError("max_html_bytes must be at least 10000")
        if self.template_dir is not None and not Path(self.template_dir).is_dir():
            raise RenderConfigError(f"templates folder {self.template_dir} does not exist")

    @property
    def footer_lines(self) -> tuple[str, ...]:
        """The footer's non-blank lines, without control characters or runs of spaces."""
        lines = (textutil.clean(line) for line in (self.footer or "").splitlines())
        return tuple(line for line in lines if line)

    @property
    def direction(self) -> str:
        """``ltr`` or ``rtl`` from ``lang``."""
        return textutil.text_direction(self.lang)
