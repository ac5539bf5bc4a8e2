"""SMTP AUTH with UTF-8 credentials (RFC 4954; SASL PLAIN is UTF-8 by RFC 4616).

``smtplib.SMTP.login`` encodes the username and password as ASCII, so a non-ASCII
password raised ``UnicodeEncodeError`` in the middle of a session. This speaks the
three mechanisms relays offer, PLAIN first, with the credentials encoded as UTF-8.
"""

from __future__ import annotations

import base64
import hmac
import smtplib

PREFERENCE = ("PLAIN", "LOGIN", "CRAM-MD5")
AUTHENTICATED = (235, 503)
"""235: accepted; 503: this session is authenticated already."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def login(smtp: smtplib.SMTP, username: str, password: str) -> None:
    """Authenticate the session or raise an ``smtplib`` error that says why.

    Raises :class:`smtplib.SMTPAuthenticationError` when the relay refuses the
    credentials and :class:`smtplib.SMTPNotSupportedError` when it offers no mechanism
    we speak.
    """
    if not smtp.has_extn("auth"):
        raise smtplib.SMTPNotSupportedError("the server does not offer AUTH")
    offered = smtp.esmtp_features["auth"].upper().split()
    mechanism = next((m for m in PREFERENCE if m in offered), None)
    if mechanism is None:
        raise smtplib.SMTPNotSupportedError(
            f"the server offers AUTH {' '.join(offered) or '(nothing)'}; "
            f"newsletter speaks {', '.join(PREFERENCE)}"
        )
    user, secret = username.encode("utf-8"), password.encode("utf-8")
    if mechanism == "PLAIN":
        code, reply = smtp.docmd("AUTH", "PLAIN " + _b64(b"\0" + user + b"\0" + secret))
    elif mechanism == "LOGIN":
        code, reply = smtp.docmd("AUTH", "LOGIN " + _b64(user))
        if code == 334:
            code, reply = smtp.docmd(_b64(secret))
    else:
        code, reply = smtp.docmd("AUTH", "CRAM-MD5")
        if code == 334:
            digest = hmac.new(secret, base64.b64decode(reply), "md5").hexdigest()
            code, reply = smtp.docmd(_b64(user + b" " + digest.encode("ascii")))
    if code == 334:  # another challenge we have no answer for: cancel the exchange
        code, reply = smtp.docmd("*")
        raise smtplib.SMTPAuthenticationError(code, reply)
    if code not in AUTHENTICATED:
        raise smtplib.SMTPAuthenticationError(code, reply)
