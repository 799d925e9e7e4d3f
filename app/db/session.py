"""Engines and sessions. One engine per database URL per process; one session per request or task."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from app.settings import get_settings


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    # pysqlite's legacy transactions are kept on purpose: it BEGINs at the first write, so reads hold no
    # snapshot and a read-then-write request waits for the lock (busy_timeout) instead of failing with
    # SQLITE_BUSY_SNAPSHOT. The price: SAVEPOINT is unreliable, so code must not depend on it on SQLite.
    cur = dbapi_conn.cursor()
    # WAL lets pages read while a worker writes; busy_timeout makes writers queue instead of failing.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


@lru_cache(maxsize=8)
def engine_for(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # pre_ping: a PostgreSQL restart must cost one reconnect, not one failed request.
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def get_engine() -> Engine:
    return engine_for(get_settings().sqlalchemy_url)


@lru_cache(maxsize=8)
def _factory(url: str) -> sessionmaker[Session]:
    return sessionmaker(engine_for(url), expire_on_commit=False)


def session_factory() -> sessionmaker[Session]:
    return _factory(get_settings().sqlalchemy_url)


@contextmanager
def session_scope() -> Iterator[Session]:
    """A session committed on success and rolled back on error (tasks and CLI commands)."""
    with session_factory()() as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"
