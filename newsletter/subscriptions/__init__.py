"""Subscribers from every origin as one roster, and the web's sign-up, confirm and manage.

YAML subscribers (origin ``config``) stay in YAML; web and imported ones live in the
store (:class:`~newsletter.store.protocols.SubscriberStore`). An address in both follows
YAML. Runs, the daemon and ``subscribers`` read the same :func:`roster`.
"""

from newsletter.subscriptions.roster import (
    Listed,
    Roster,
    own_topic,
    roster,
    stored_as_subscriber,
)

__all__ = ["Listed", "Roster", "own_topic", "roster", "stored_as_subscriber"]
