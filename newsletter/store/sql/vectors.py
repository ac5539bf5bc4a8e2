"""Entry embeddings persisted between runs: computed once per entry text, then reused."""

from __future__ import annotations

import hashlib

from sqlalchemy import Engine, insert, select
from sqlalchemy.exc import IntegrityError

from newsletter.store.schema import topic_vectors


class SqlVectors:
    MODEL = "entry-vectors"

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @staticmethod
    def _hash(key: str) -> str:
        return hashlib.sha256(key.encode()).hexdigest()

    def get(self, key: str) -> bytes | None:
        query = select(topic_vectors.c.vector).where(
            topic_vectors.c.text_hash == self._hash(key), topic_vectors.c.model == self.MODEL
        )
        with self.engine.connect() as conn:
            value = conn.execute(query).scalar_one_or_none()
        return None if value is None else bytes(value)

    def put(self, key: str, value: bytes) -> None:
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    insert(topic_vectors).values(
                        text_hash=self._hash(key), model=self.MODEL, vector=value
                    )
                )
        except IntegrityError:
            pass  # another process stored the same vector first
