"""Shared test set-up: test environment defaults and the ``services`` marker.

Tests marked ``services`` talk to the real PostgreSQL and Redis on 127.0.0.1. Without them they are
skipped, unless LOGACTION_REQUIRE_SERVICES=1 (CI), where a missing server is a failure.
"""

from __future__ import annotations

import os
import socket
import tempfile

import pytest

# The app fixtures (database, app, client, users) are shared by every test folder that needs a server.
pytest_plugins = ["tests.app_fixtures"]

# Before any app module reads its settings: a throwaway var dir and a non-default secret.
os.environ.setdefault("LOGACTION_ENVIRONMENT", "test")
os.environ.setdefault("LOGACTION_SECRET_KEY", "test-secret-key")
os.environ.setdefault("LOGACTION_VAR_DIR", tempfile.mkdtemp(prefix="logaction-test-"))

POSTGRES = ("127.0.0.1", 5432)
REDIS = ("127.0.0.1", 6379)
POSTGRES_URL = os.environ.get("LOGACTION_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("LOGACTION_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def require_services() -> bool:
    return os.environ.get("LOGACTION_REQUIRE_SERVICES", "") not in ("", "0", "false")


def reachable(address: tuple[str, int]) -> bool:
    try:
        with socket.create_connection(address, timeout=1):
            return True
    except OSError:
        return False


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("services") is None:
        return
    missing = [name for name, addr in (("PostgreSQL", POSTGRES), ("Redis", REDIS)) if not reachable(addr)]
    if not missing:
        return
    message = f"{' and '.join(missing)} not reachable on 127.0.0.1"
    if require_services():
        pytest.fail(f"{message} (LOGACTION_REQUIRE_SERVICES=1)", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def postgres_url() -> str:
    return POSTGRES_URL


@pytest.fixture(scope="session")
def redis_url() -> str:
    return REDIS_URL
