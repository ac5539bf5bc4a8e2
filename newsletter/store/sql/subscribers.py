"""Web and imported subscribers, their pending sign-ups and everyone's pauses.

A sign-up is kept apart from the subscriber it may become: nothing a stranger submits
changes what an address receives until the address confirms.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from newsletter.records import SubscriberOrigin
from newsletter.store.records import (
    Choice,
    Pause,
    SignUp,
    SignUpAnswer,
    StoredSubscriber,
)
from newsletter.store.schema import pauses, signups, suppressions, web_subscribers
from newsletter.store.sql.base import SqlBase


def _choice(row: Any) -> Choice:
    return Choice(
        topics=tuple(row.topics or ()),
        own_topic=row.own_topic,
        schedule=row.schedule,
        timezone=row.timezone,
        name=row.name,
    )


def _choice_values(choice: Choice) -> dict[str, Any]:
    return {
        "name": choice.name,
        "topics": list(choice.topics),
        "own_topic": choice.own_topic,
        "schedule": choice.schedule,
        "timezone": choice.timezone,
    }


def _subscriber(row: Any) -> StoredSubscriber:
    return StoredSubscriber(
        email=row.email,
        origin=SubscriberOrigin(row.origin),
        choice=_choice(row),
        created_at=row.created_at,
        updated_at=row.updated_at,
        confirmed_at=row.confirmed_at,
        confirmed_from=row.confirmed_from,
    )


def _signup(row: Any) -> SignUp:
    return SignUp(
        email=row.email,
        origin=SubscriberOrigin(row.origin),
        choice=_choice(row),
        requested_at=row.requested_at,
        requested_from=row.requested_from,
        mailed_at=row.mailed_at,
    )


class SubscribersSql(SqlBase):
    def _upsert(self, table: Any, key: str, values: dict[str, Any]) -> Any:
        dialect_insert = pg_insert if self.dialect == "postgresql" else sqlite_insert
        statement = dialect_insert(table).values(**values)
        changed = {k: v for k, v in values.items() if k != key}
        return statement.on_conflict_do_update(index_elements=[key], set_=changed)

    # -- subscribers ---------------------------------------------------------------------

    def stored_subscribers(self) -> list[StoredSubscriber]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(web_subscribers).order_by(web_subscribers.c.email))
            return [_subscriber(row) for row in rows]

    def stored_subscriber(self, email: str) -> StoredSubscriber | None:
        query = select(web_subscribers).where(web_subscribers.c.email == email.lower())
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return _subscriber(row) if row is not None else None

    def save_subscriber(self, subscriber: StoredSubscriber) -> None:
        values = {
            "email": subscriber.email.lower(),
            "origin": subscriber.origin.value,
            **_choice_values(subscriber.choice),
            "created_at": subscriber.created_at,
            "updated_at": subscriber.updated_at,
            "confirmed_at": subscriber.confirmed_at,
            "confirmed_from": subscriber.confirmed_from,
        }
        with self.engine.begin() as conn:
            conn.execute(self._upsert(web_subscribers, "email", values))

    def change_subscriber(self, email: str, choice: Choice, now: datetime) -> bool:
        key = email.lower()
        with self.engine.begin() as conn:
            result = conn.execute(
                web_subscribers.update()
                .where(web_subscribers.c.email == key)
                .values(**_choice_values(choice), updated_at=now)
            )
            return int(result.rowcount) > 0

    def remove_subscriber(self, email: str) -> bool:
        key = email.lower()
        with self.engine.begin() as conn:
            removed = conn.execute(delete(web_subscribers).where(web_subscribers.c.email == key))
            pending = conn.execute(delete(signups).where(signups.c.email == key))
            conn.execute(delete(pauses).where(pauses.c.email == key))
            return int(removed.rowcount) + int(pending.rowcount) > 0

    # -- sign-ups ------------------------------------------------------------------------

    def signups(self) -> list[SignUp]:
        with self.engine.connect() as conn:
            return [_signup(r) for r in conn.execute(select(signups).order_by(signups.c.email))]

    def signup(self, email: str) -> SignUp | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(signups).where(signups.c.email == email.lower())).first()
        return _signup(row) if row is not None else None

    def request_signup(
        self,
        request: SignUp,
        *,
        mail_after: datetime,
        expired_before: datetime,
        cap: int = 0,
    ) -> SignUpAnswer:
        """Record (or refresh) a sign-up and say whether to mail a confirmation now.

        One transaction under the write lock: expired sign-ups are dropped, the cap counts
        pending and confirmed web subscribers, and of concurrent requests for one address
        only the first in an hour is told to mail."""
        key = request.email.lower()
        with self.engine.begin() as conn:
            self.write_lock(conn)
            conn.execute(delete(signups).where(signups.c.requested_at < expired_before))
            previous = conn.execute(
                select(signups).where(signups.c.email == key).with_for_update()
                if self.dialect == "postgresql"
                else select(signups).where(signups.c.email == key)
            ).first()
            if cap and previous is None and self._web_count(conn) >= cap:
                return SignUpAnswer(mail=False, full=True)
            last_mail = _aware(previous.mailed_at) if previous is not None else None
            mail = last_mail is None or last_mail <= mail_after
            values = {
                "email": key,
                "origin": request.origin.value,
                **_choice_values(request.choice),
                "requested_at": request.requested_at,
                "requested_from": request.requested_from,
                "mailed_at": request.requested_at if mail else last_mail,
            }
            conn.execute(self._upsert(signups, "email", values))
            return SignUpAnswer(mail=mail)

    def expire_signups(self, before: datetime) -> int:
        with self.engine.begin() as conn:
            result = conn.execute(delete(signups).where(signups.c.requested_at < before))
            return int(result.rowcount)

    def _web_count(self, conn: Connection) -> int:
        subs = conn.execute(
            select(func.count())
            .select_from(web_subscribers)
            .where(web_subscribers.c.origin == SubscriberOrigin.WEB.value)
        ).scalar()
        pending = conn.execute(select(func.count()).select_from(signups)).scalar()
        return int(subs or 0) + int(pending or 0)

    def confirm_signup(
        self, email: str, *, issued_before: datetime, now: datetime, client: str | None
    ) -> StoredSubscriber | None:
        """Turn the sign-up into a subscriber and lift any suppression of the address: the
        person has just asked for the mail again. None when there is no sign-up that a link
        issued at ``issued_before`` can confirm (already confirmed, expired, never made)."""
        key = email.lower()
        with self.engine.begin() as conn:
            self.write_lock(conn)
            row = conn.execute(select(signups).where(signups.c.email == key)).first()
            if row is None or _aware(row.requested_at) > issued_before:
                return None
            found = _signup(row)
            existing = conn.execute(
                select(web_subscribers).where(web_subscribers.c.email == key)
            ).first()
            subscriber = StoredSubscriber(
                email=key,
                origin=found.origin,
                choice=found.choice,
                created_at=existing.created_at if existing is not None else now,
                updated_at=now,
                confirmed_at=now,
                confirmed_from=client,
            )
            values = {
                "email": key,
                "origin": subscriber.origin.value,
                **_choice_values(subscriber.choice),
                "created_at": subscriber.created_at,
                "updated_at": now,
                "confirmed_at": now,
                "confirmed_from": client,
            }
            conn.execute(self._upsert(web_subscribers, "email", values))
            conn.execute(delete(signups).where(signups.c.email == key))
            conn.execute(delete(suppressions).where(suppressions.c.email == key))
            conn.execute(delete(pauses).where(pauses.c.email == key))
            return subscriber

    # -- pauses --------------------------------------------------------------------------

    def pause(self, email: str, since: datetime, until: datetime) -> None:
        values = {"email": email.lower(), "since": since, "until": until}
        with self.engine.begin() as conn:
            conn.execute(self._upsert(pauses, "email", values))

    def unpause(self, email: str) -> bool:
        with self.engine.begin() as conn:
            result = conn.execute(delete(pauses).where(pauses.c.email == email.lower()))
            return int(result.rowcount) > 0

    def pauses(self) -> Mapping[str, Pause]:
        with self.engine.connect() as conn:
            return {
                row.email: Pause(row.email, row.since, row.until)
                for row in conn.execute(select(pauses))
            }


def _aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
