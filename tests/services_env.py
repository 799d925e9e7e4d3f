"""One process pointed at its own slice of the real servers: a fresh PostgreSQL schema (migrated to head) and
a flushed Redis database, for the test folders that run real workers or servers against them."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text


@contextmanager
def isolated_services(postgres_url: str, redis_url: str, schema: str, *, extra_env: dict | None = None,
                      tag_connections: bool = False) -> Iterator[str]:
    """Yields the schema's database URL while the app's settings and Celery app point at it and ``redis_url``;
    afterwards the environment is restored, the schema dropped and the Redis database flushed.

    :param tag_connections: give the pool's connections ``application_name`` = ``schema``, so a test can find
        (and terminate) exactly this run's backends
    """
    import redis

    import app.tasks.celery_app as celery_module
    from app.db import migrate
    from app.settings import get_settings

    admin = create_engine(postgres_url)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    url = f"{postgres_url}?options=-csearch_path%3D{schema}" + (f"&application_name={schema}" if tag_connections else "")
    env = {"LOGACTION_DATABASE_URL": url, "LOGACTION_BROKER_URL": redis_url, **(extra_env or {})}
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    get_settings.cache_clear()
    migrate.upgrade("head")
    redis.Redis.from_url(redis_url).flushdb()
    original_app = celery_module.celery_app
    celery_module.celery_app = celery_module.create_celery(get_settings())  # flush_outbox sends to Redis
    try:
        yield url
    finally:
        celery_module.celery_app = original_app
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        get_settings.cache_clear()
        from app.db.session import engine_for

        engine_for(url).dispose()
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        admin.dispose()
        redis.Redis.from_url(redis_url).flushdb()
