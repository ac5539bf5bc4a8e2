"""The delivery edge: hand rendered messages to an SMTP relay, politely and verifiably.

``settings`` says how to reach the relay, ``smtp`` holds the pooled sender and its result
classification, ``auth`` the UTF-8 login, ``replies`` which status codes condemn an
address, ``retry`` the backoff schedule, ``throttle`` the rate limiter and ``dkim`` the
signer. What comes back: ``verp`` makes and reads the return addresses, ``imap`` reads
the bounce mailbox and ``reports`` tells what each mail in it says. None of it knows
about the store: the run's deliver phase drives these through :func:`send_many`, and
``run/mailbox.py`` reads the mailbox.
"""

from newsletter.deliver.retry import backoff
from newsletter.deliver.settings import SECURITY_MODES, SmtpError, SmtpSettings
from newsletter.deliver.smtp import SendResult, SmtpSender, send_many

__all__ = [
    "SECURITY_MODES",
    "SendResult",
    "SmtpError",
    "SmtpSender",
    "SmtpSettings",
    "backoff",
    "send_many",
]
