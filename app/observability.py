"""Prometheus metrics: request count and latency by route, job counts by kind and status."""

from __future__ import annotations

import time

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from sqlalchemy import func, select
from starlette.requests import Request
from starlette.responses import Response

REGISTRY = CollectorRegistry()
REQUESTS = Counter("logaction_http_requests_total", "HTTP requests", ["method", "route", "status"],
                   registry=REGISTRY)
LATENCY = Histogram("logaction_http_request_seconds", "HTTP request latency", ["method", "route"],
                    registry=REGISTRY, buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
JOBS = Gauge("logaction_jobs", "Jobs by kind and status", ["kind", "status"], registry=REGISTRY)


async def metrics_middleware(request: Request, call_next):
    start = time.perf_counter()
    status = 500
    try:
        response = await call_next(request)
        status = response.status_code
        # The server's own share of a request, for clients and load tests that share its CPU: what they
        # measure includes their own time and the wait for the CPU (W3C Server-Timing).
        response.headers["Server-Timing"] = f"app;dur={(time.perf_counter() - start) * 1000:.2f}"
        return response
    finally:
        # The route template, not the raw path, keeps label cardinality bounded.
        route = getattr(request.scope.get("route"), "path", "unmatched")
        REQUESTS.labels(request.method, route, str(status)).inc()
        LATENCY.labels(request.method, route).observe(time.perf_counter() - start)


def render_metrics(session) -> Response:
    from app.db.models import Job

    JOBS.clear()
    for kind, status, count in session.execute(select(Job.kind, Job.status, func.count()).group_by(Job.kind, Job.status)):
        JOBS.labels(kind, status).set(count)
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
