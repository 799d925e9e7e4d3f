"""Server time of "submit a label + get the next window" on the labeling page, with 10k windows in the pool.

Builds a project straight in the database (10k pool windows of 20 parsed log lines each, the serving version's
scores of every pool window, one queued round), signs an operator in, then answers a few hundred windows through
the real FastAPI app in-process (no network): each answer is the page's one HTMX request that stores the label,
claims the next window and renders it. Prints p50 / p95 / max of the server's time per request (measured around
the ASGI app: session cookie, CSRF check, form parsing, the handler with its commits, rendering) and of the
app inside its middleware (the Server-Timing header), and the server time of "z" (back to the previous answer).

    python benchmarks/label_latency.py                                   # SQLite (a temporary file)
    python benchmarks/label_latency.py --postgres postgresql+psycopg://postgres@127.0.0.1:5432/test
    python benchmarks/label_latency.py --windows 10000 --labels 300      # the defaults

The PostgreSQL run works in a schema of its own, dropped at the end. Target: p95 < 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

WINDOW = 20
TEMPLATES = 60
PASSWORD = "bench-pw-123"


def configure(database_url: str | None) -> tuple[str, str | None]:
    """Point the app at a fresh database; returns (url, PostgreSQL schema to drop or None)."""
    os.environ.setdefault("LOGACTION_ENVIRONMENT", "test")
    os.environ.setdefault("LOGACTION_SECRET_KEY", "label-latency-benchmark")
    os.environ["LOGACTION_VAR_DIR"] = tempfile.mkdtemp(prefix="label-latency-")
    os.environ["LOGACTION_BROKER_URL"] = "memory://"
    schema = None
    if database_url:
        from sqlalchemy import create_engine, text

        schema = f"bench_{uuid.uuid4().hex[:8]}"
        engine = create_engine(database_url)
        with engine.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
        engine.dispose()
        url = f"{database_url}{'&' if '?' in database_url else '?'}options=-csearch_path%3D{schema}"
    else:
        url = f"sqlite:///{os.environ['LOGACTION_VAR_DIR']}/bench.db"
    os.environ["LOGACTION_DATABASE_URL"] = url
    from app.db import migrate
    from app.settings import get_settings

    get_settings.cache_clear()
    migrate.upgrade("head")
    return url, schema


def build(n_windows: int, queued: int) -> int:
    """The project: systems, templates, log lines, windows, a serving version, its scores and a queued round."""
    import numpy as np
    from sqlalchemy import insert

    from app.db.models import (Dataset, LogLine, ModelVersion, Project, QueueItem, System, Template, Window,
                               WindowScore)
    from app.db.session import session_scope
    from app.services.users import create_user

    rng = np.random.default_rng(0)
    with session_scope() as session:
        create_user(session, email="op@bench.local", role="labeler", password=PASSWORD)
        source = System(name="bench-source", log_format="synthetic-a")
        target = System(name="bench-target", log_format="synthetic-b")
        session.add_all([source, target])
        session.flush()
        dataset = Dataset(system_id=target.id, role="target", original_name="target.log", status="ready")
        session.add(dataset)
        session.flush()
        templates = [Template(system_id=target.id, cluster_id=i + 1, text=f"event {i} took <NUM> ms on <*>",
                              text_hash=f"bench-{i}") for i in range(TEMPLATES)]
        session.add_all(templates)
        session.flush()
        tids = np.array([t.id for t in templates])
        n_lines = n_windows * WINDOW + 10
        line_t = tids[rng.integers(0, TEMPLATES, n_lines)]
        for start in range(0, n_lines, 20000):
            session.execute(insert(LogLine), [
                {"dataset_id": dataset.id, "system_id": target.id, "line_no": n + 1,
                 "raw": f"2026-03-01 12:00:00,000 INFO [worker-{n % 7}] c.e.Service - event {int(line_t[n]) % 60} "
                        f"took {n % 997} ms on node-{n % 31}",
                 "content": f"event {int(line_t[n]) % 60} took {n % 997} ms on node-{n % 31}",
                 "template_id": int(line_t[n])} for n in range(start, min(start + 20000, n_lines))])
        session.execute(insert(Window), [
            {"system_id": target.id, "dataset_id": dataset.id, "seq": i, "first_line_no": i * WINDOW + 1,
             "last_line_no": (i + 1) * WINDOW, "split": "pool",
             "events": [int(t) for t in line_t[i * WINDOW:(i + 1) * WINDOW]]} for i in range(n_windows)])
        project = Project(name="bench", target_system_id=target.id, sources=[source])
        session.add(project)
        session.flush()
        model = ModelVersion(project_id=project.id, version=0, status="ready", is_serving=True)
        session.add(model)
        session.flush()
        window_ids = [w for (w,) in session.query(Window.id).filter(Window.system_id == target.id)
                      .order_by(Window.seq)]
        p = rng.random(n_windows)
        session.execute(insert(WindowScore), [
            {"model_version_id": model.id, "window_id": w, "free_energy": float(-p[i] * 5),
             "uncertainty": float(abs(1 - 2 * p[i])), "p_anomaly": float(p[i])} for i, w in enumerate(window_ids)])
        picked = rng.choice(n_windows, queued, replace=False)
        session.execute(insert(QueueItem), [
            {"project_id": project.id, "window_id": window_ids[i], "round": 1, "model_version_id": model.id,
             "position": pos, "free_energy": float(-p[i] * 5), "uncertainty": float(abs(1 - 2 * p[i])),
             "p_anomaly": float(p[i]), "free_energy_rank": pos + 1, "uncertainty_rank": pos + 1,
             "pool_size": n_windows, "state": "open"} for pos, i in enumerate(picked.tolist())])
        return project.id


class Timed:
    """ASGI wrapper: the server's whole share of each request (middleware, routing, form parsing, handler,
    rendering), from the call until the last body byte is handed back."""

    def __init__(self, app):
        self.app, self.last_ms = app, 0.0

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start = time.perf_counter()

        async def timed_send(message):
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                self.last_ms = (time.perf_counter() - start) * 1000

        await self.app(scope, receive, timed_send)


async def signed_in_client(app):
    import httpx

    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench")
    page = await client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    response = await client.post("/login", data={"email": "op@bench.local", "password": PASSWORD,
                                                 "csrf_token": token})
    assert response.status_code == 303, response.text
    return client


def fields(html: str) -> dict:
    found = dict(re.findall(r'<input type="hidden" name="(window_id|key|mode)" value="([^"]*)"', html))
    found["line_ids"] = re.findall(r'data-line-id="(\d+)"', html)[:2]
    return found


def server_timing_ms(response) -> float:
    return float(re.search(r"dur=([\d.]+)", response.headers["server-timing"]).group(1))


async def run(project_id: int, n_labels: int, warmup: int = 5) -> dict[str, list[float]]:
    from app.main import create_app
    from app.settings import get_settings

    app = Timed(create_app(get_settings()))  # no lifespan: no worker thread, nothing else competing
    client = await signed_in_client(app)
    page = await client.get(f"/projects/{project_id}/label")
    assert page.status_code == 200, page.text[:500]
    csrf = re.search(r'<meta name="csrf-token" content="([^"]+)"', page.text).group(1)
    headers = {"X-CSRF-Token": csrf, "HX-Request": "true"}
    values = ("normal", "anomaly", "normal", "normal", "skip", "anomaly", "unsure")
    times: dict[str, list[float]] = {"submit + next (server)": [], "submit + next (Server-Timing)": [],
                                     "back, z (server)": []}
    html = page.text
    for i in range(warmup + n_labels):
        data = {**fields(html), "value": values[i % len(values)], "reason": "benchmark"}
        if data["value"] != "anomaly":
            data.pop("line_ids")
        response = await client.post(f"/projects/{project_id}/label/submit", headers=headers, data=data)
        assert response.status_code == 200, response.text[:500]
        html = response.text
        if i < warmup:  # first renders compile the templates: once per process, not per answer
            continue
        times["submit + next (server)"].append(app.last_ms)
        times["submit + next (Server-Timing)"].append(server_timing_ms(response))
        if i % 10 == 9:
            back = await client.get(f"/projects/{project_id}/label/back", headers={"HX-Request": "true"})
            assert back.status_code == 200
            times["back, z (server)"].append(app.last_ms)
    await client.aclose()
    return times


def report(backend: str, n_windows: int, times: dict[str, list[float]]) -> None:
    print(f"\n{backend}, {n_windows:,} pool windows ({WINDOW} lines each)")
    print(f"{'operation':<32} {'n':>5} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    for name, values in times.items():
        ordered = sorted(values)
        p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
        print(f"{name:<32} {len(values):>5} {statistics.median(values):>8.1f} {p95:>8.1f} {ordered[-1]:>8.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, default=10000, help="pool windows")
    parser.add_argument("--labels", type=int, default=300, help="answers to time")
    parser.add_argument("--postgres", default=None, help="a PostgreSQL URL (default: SQLite)")
    args = parser.parse_args()
    url, schema = configure(args.postgres)
    try:
        started = time.perf_counter()
        project_id = build(args.windows, queued=args.labels + 50)  # the round never completes: no retrain mid-run
        print(f"built the project in {time.perf_counter() - started:.1f} s")
        times = asyncio.run(run(project_id, args.labels))
        report("PostgreSQL" if args.postgres else "SQLite", args.windows, times)
    finally:
        if schema is not None:
            from sqlalchemy import create_engine, text

            from app.db.session import engine_for

            engine_for(url).dispose()
            engine = create_engine(args.postgres)
            with engine.begin() as conn:
                conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
            engine.dispose()


if __name__ == "__main__":
    main()
