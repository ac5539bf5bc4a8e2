"""The delivery edge: hand rendered messages to an SMTP relay, politely and verifiably.

``settings`` says how to reach the relay, ``smtp`` holds the pooled sender and its result
classification, ``retry`` the backoff schedule, ``throttle`` the rate limiter and ``dkim``
the signer. None of it knows about the store: the run's deliver phase drives these
through :func:`send_many`.
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
