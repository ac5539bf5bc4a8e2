"""What a bounce, a complaint or a mailed unsubscribe does to an address.

One place for the rules, whether the news came during the SMTP session (a refusal) or
later as mail (a DSN, an ARF report, a mail to the unsubscribe address):

- a hard bounce (the mailbox or domain does not exist) suppresses at once: ``bounce-hard``;
- a complaint suppresses at once: ``complaint``; a mailed unsubscribe: ``unsubscribe``;
- a soft bounce is counted: an address whose last :data:`SOFT_BOUNCE_STREAK` digests all
  bounced (refused, given up on, or returned later) is suppressed with ``bounce-soft``.
  Failures of ours (``outbox.failure = 'internal'``) never count.
"""

from __future__ import annotations

from dataclasses import dataclass

from newsletter import logs
from newsletter.clock import Clock
from newsletter.records import SuppressionReason
from newsletter.store.protocols import OutboxStore, SuppressionStore

event = logs.events(__name__)

SOFT_BOUNCE_STREAK = 3


@dataclass(frozen=True)
class Bounces:
    """Applies bounces and complaints to the suppression list (and the outbox rows)."""

    outbox: OutboxStore
    suppressions: SuppressionStore
    clock: Clock

    def suppress(self, email: str, reason: SuppressionReason, detail: str) -> bool:
        """Suppress now; True (and one log line) when this added or strengthened it."""
        changed = self.suppressions.suppress(email, reason, self.clock())
        if changed:
            event("suppressed", email=email.lower(), reason=reason, detail=detail)
        return changed

    def soft_bounced(self, email: str, detail: str) -> bool:
        """Count a soft bounce: suppress once the last digests all bounced."""
        recent = self.outbox.recent_outcomes(email, SOFT_BOUNCE_STREAK)
        if len(recent) < SOFT_BOUNCE_STREAK or not all(o.bounced for o in recent):
            return False
        return self.suppress(
            email,
            SuppressionReason.BOUNCE_SOFT,
            f"its last {SOFT_BOUNCE_STREAK} digests bounced; the last: {detail}",
        )

    def reported(self, outbox_id: int, email: str, verdict: SuppressionReason, detail: str) -> bool:
        """A report that came by mail about one message; True when it suppressed the address."""
        self.outbox.record_report(outbox_id, verdict, self.clock())
        if verdict is SuppressionReason.BOUNCE_SOFT:
            return self.soft_bounced(email, detail)
        return self.suppress(email, verdict, detail)
