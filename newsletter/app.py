"""What every command works with: the validated config, the environment, the store, a clock.

Loaded once per command (or once per daemon reload); nothing downstream reads YAML or
environment variables again.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from newsletter import logs
from newsletter.clock import Clock
from newsletter.config import Config, Environment, load_config, read_environment
from newsletter.store import Store
from newsletter.store.protocols import Storage


@dataclass(frozen=True)
class App:
    config: Config
    env: Environment
    store: Storage
    clock: Clock

    def now(self) -> datetime:
        return self.clock()

    def with_config(self, config: Config) -> App:
        """The same store and clock under another config (a daemon reload, one feed group)."""
        return replace(self, config=config)


def load_checked_config(path: Path) -> Config:
    """The config with every topic query checked (and ``about:`` topics' extra present)."""
    from newsletter.checks import check_query, semantic_problem

    return load_config(path, query_checker=check_query, semantic_problem=semantic_problem)


@contextmanager
def open_app(env_file: Path | None, config_path: Path | None, clock: Clock) -> Iterator[App]:
    """Read ``.env``, load and check the config, open the store; close the store at the end."""
    env = read_environment(env_file)
    config = load_checked_config(config_path or env.config_path)
    logs.set_format(config.log_format)
    store = Store.open(env.database_url or config.database_url)
    try:
        yield App(config=config, env=env, store=store, clock=clock)
    finally:
        store.close()
