"""Migrations: upgrade to head, downgrade to base, upgrade again, and no drift between models and migrations."""

from __future__ import annotations

import os
import uuid

import pytest
from sqlalchemy import create_engine, inspect, text

from app.db import migrate
from app.db.models import Base


def _cycle(url: str) -> None:
    migrate.upgrade("head", url=url)
    migrate.check(url=url)
    migrate.downgrade("base", url=url)
    engine = create_engine(url)
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    engine.dispose()
    migrate.upgrade("head", url=url)
    migrate.check(url=url)
    engine = create_engine(url)
    assert set(Base.metadata.tables) <= set(inspect(engine).get_table_names())
    engine.dispose()


def test_sqlite_up_down_up_without_drift(tmp_path):
    _cycle(f"sqlite:///{tmp_path / 'm.db'}")


@pytest.mark.services
def test_postgres_up_down_up_without_drift(postgres_url):
    schema = f"mig_{uuid.uuid4().hex[:8]}"
    admin = create_engine(postgres_url)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        _cycle(f"{postgres_url}?options=-csearch_path%3D{schema}")
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def test_cli_db_commands(tmp_path, monkeypatch, capsys):
    from app.cli import main
    from app.settings import get_settings

    monkeypatch.setenv("LOGACTION_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    get_settings.cache_clear()
    try:
        assert main(["db", "upgrade"]) == 0
        assert main(["db", "check"]) == 0
        assert main(["db", "downgrade", "base"]) == 0
        assert main(["db", "downgrade"]) == 2
    finally:
        monkeypatch.setenv("LOGACTION_DATABASE_URL", os.environ.get("LOGACTION_DATABASE_URL", ""))
        monkeypatch.undo()
        get_settings.cache_clear()
