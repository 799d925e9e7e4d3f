"""Liveness, readiness and metrics."""

from __future__ import annotations

from fastapi import APIRouter, Response, status
from fastapi.responses import JSONResponse
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool

from app.api.deps import SessionDep, SettingsDep
from app.observability import render_metrics

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness")
def healthz() -> dict:
    """The process is up (no dependency is checked)."""
    return {"status": "ok"}


@router.get("/readyz", summary="Readiness")
async def readyz(session: SessionDep, settings: SettingsDep) -> JSONResponse:
    """The database answers a query and the job broker accepts a connection; 503 names what failed."""
    checks = {"database": await run_in_threadpool(_check_db, session),
              "broker": await run_in_threadpool(_check_broker, settings.broker_url)}
    ok = all(v == "ok" for v in checks.values())
    return JSONResponse({"status": "ok" if ok else "unavailable", "checks": checks},
                        status_code=status.HTTP_200_OK if ok else status.HTTP_503_SERVICE_UNAVAILABLE)


def _check_db(session) -> str:
    try:
        session.execute(text("SELECT 1"))
        return "ok"
    except Exception as exc:
        return f"error: {type(exc).__name__}"


def _check_broker(url: str) -> str:
    from kombu import Connection

    try:
        with Connection(url, connect_timeout=2, transport_options={"socket_connect_timeout": 2}) as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return "ok"
    except Exception as exc:
        return f"error: {type(exc).__name__}"


@router.get("/metrics", include_in_schema=False)
def metrics(session: SessionDep) -> Response:
    return render_metrics(session)
