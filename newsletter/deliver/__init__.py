"""The delivery edge: hand rendered messages to an SMTP relay, politely and verifiably.

``smtp`` holds the pooled sender and its result classification, ``retry`` the
backoff schedule, ``throttle`` the rate limiter and ``dkim`` the signer. None of it
knows about the store: the outbox drives these through :func:`send_many`.
"""

from newsletter.deliver.retry import backoff
from newsletter.deliver.smtp import SendResult, SmtpError, SmtpSender, SmtpSettings, send_many

__all__ = ["SendResult", "SmtpError", "SmtpSender", "SmtpSettings", "backoff", "send_many"]
