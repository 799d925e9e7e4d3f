"""Item 17, through the ``alembic`` command line exactly as an operator runs it (alembic.ini, env.py reading
the URL from LOGACTION_DATABASE_URL), on a fresh PostgreSQL schema: upgrade to head, downgrade to base,
upgrade again, ``alembic check`` clean. tests/app/test_migrations.py runs the same cycle through
app.db.migrate on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text

from app.db.models import Base

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.services


def alembic(url: str, *args: str) -> str:
    env = {**os.environ, "LOGACTION_DATABASE_URL": url}
    out = subprocess.run([sys.executable, "-m", "alembic", "-c", str(ROOT / "alembic.ini"), *args], cwd=ROOT,
                         env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, f"alembic {' '.join(args)}:\n{out.stdout[-2000:]}{out.stderr[-3000:]}"
    return out.stdout + out.stderr


def tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_alembic_cli_up_down_up_and_check_on_postgres(postgres_url):
    schema = f"mig_cli_{uuid.uuid4().hex[:8]}"
    admin = create_engine(postgres_url)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    url = f"{postgres_url}?options=-csearch_path%3D{schema}"
    try:
        alembic(url, "upgrade", "head")
        assert set(Base.metadata.tables) <= tables(url)
        alembic(url, "downgrade", "base")
        assert tables(url) <= {"alembic_version"}
        alembic(url, "upgrade", "head")
        assert set(Base.metadata.tables) <= tables(url)
        assert "No new upgrade operations detected" in alembic(url, "check")
        heads = alembic(url, "heads")
        assert heads.count("(head)") == 1  # one line of history, no forgotten branch
        with admin.connect() as conn:
            others = conn.execute(text("SELECT count(*) FROM information_schema.tables WHERE table_schema = :s"),
                                  {"s": schema}).scalar()
        assert others == len(tables(url))  # everything went into the run's own schema
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        admin.dispose()
