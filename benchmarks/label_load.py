"""Claim + label under load: a queue of 10k windows (10 raw lines each), 8 labelers claiming and answering
over real HTTP as fast as they can for 60 s, against `logaction serve` on PostgreSQL. Prints latency
percentiles, throughput and errors, and checks that the labels in the database equal the 2xx answers.

    python benchmarks/label_load.py                           # 10k windows, 8 labelers, 60 s
    python benchmarks/label_load.py --seconds 10 --labelers 2
    python benchmarks/label_load.py --think 0 2              # saturation, then people reading for 2 s
    LOGACTION_TEST_POSTGRES_URL=postgresql+psycopg://... python benchmarks/label_load.py

It uses a fresh schema of that PostgreSQL (dropped at the end) and Redis database 13 as the broker.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
POSTGRES_URL = os.environ.get("LOGACTION_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("LOGACTION_TEST_RELIABILITY_REDIS_URL", "redis://127.0.0.1:6379/13")
LINES_PER_WINDOW = 10


@dataclass
class LoadResult:
    seconds: float
    claim_ms: list[float] = field(default_factory=list)
    label_ms: list[float] = field(default_factory=list)
    pair_ms: list[float] = field(default_factory=list)  # claim + label, one window answered
    # The server's own time (its Server-Timing header): the client's figures add the client's work and,
    # on a machine the client shares with the server, the wait for a CPU.
    server_claim_ms: list[float] = field(default_factory=list)
    server_label_ms: list[float] = field(default_factory=list)
    server_pair_ms: list[float] = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)  # (step, status code)
    errors: list[str] = field(default_factory=list)
    label_2xx: int = 0
    queue_empty: int = 0  # 204 answers: the labeler found nothing left
    server_cpu_s: float = float("nan")  # CPU the server process used during the run
    client_cpu_s: float = float("nan")  # CPU this (client) process used

    def percentile(self, values: list[float], q: float) -> float:
        if not values:
            return float("nan")
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def seed_queue(*, windows: int, labelers: int) -> tuple[int, list[dict]]:
    """A project whose round 1 queues ``windows`` windows with their raw lines; ``labelers`` users with
    tokens. Written with bulk inserts into the configured database."""
    from sqlalchemy import insert, select

    from app.db.models import Dataset, LogLine, ModelVersion, Project, QueueItem, Window
    from app.db.session import session_scope
    from app.services.systems import create_system
    from app.services.users import create_token, create_user

    tag = uuid.uuid4().hex[:8]
    with session_scope() as session:
        source = create_system(session, name=f"load-src-{tag}", log_format="synthetic-a", label_rule="first_token")
        target = create_system(session, name=f"load-tgt-{tag}", log_format="synthetic-a")
        dataset = Dataset(system_id=target.id, role="target", original_name="load.log", status="ready")
        session.add(dataset)
        session.flush()
        n_lines = windows * LINES_PER_WINDOW
        for start in range(0, n_lines, 20_000):
            session.execute(insert(LogLine), [
                {"dataset_id": dataset.id, "system_id": target.id, "line_no": n + 1,
                 "raw": f"2026-03-01 12:00:{n % 60:02d} INFO [w-{n % 7}] svc - request {n} served",
                 "content": f"request {n} served"} for n in range(start, min(n_lines, start + 20_000))])
        session.execute(insert(Window), [
            {"system_id": target.id, "dataset_id": dataset.id, "seq": i, "first_line_no": LINES_PER_WINDOW * i + 1,
             "last_line_no": LINES_PER_WINDOW * (i + 1), "events": [1] * LINES_PER_WINDOW, "split": "pool"}
            for i in range(windows)])
        window_ids = session.scalars(select(Window.id).where(Window.dataset_id == dataset.id)
                                     .order_by(Window.seq)).all()
        project = Project(name=f"load-{tag}", target_system_id=target.id, sources=[source])
        session.add(project)
        session.flush()
        model = ModelVersion(project_id=project.id, version=0, status="ready", is_serving=True)
        session.add(model)
        session.flush()
        session.execute(insert(QueueItem), [
            {"project_id": project.id, "window_id": w, "round": 1, "model_version_id": model.id, "position": i,
             "free_energy": 0.0, "uncertainty": 0.5, "p_anomaly": 0.5, "free_energy_rank": i + 1,
             "uncertainty_rank": i + 1, "pool_size": windows, "state": "open"} for i, w in enumerate(window_ids)])
        headers = []
        for i in range(labelers):
            user = create_user(session, email=f"load{i}-{tag}@example.com", role="labeler", password=None)
            _, secret = create_token(session, user=user, name="load")
            headers.append({"Authorization": f"Bearer {secret}"})
        return project.id, headers


def server_ms(response) -> float:
    """The ``app;dur=`` of a Server-Timing header, in ms (nan when the server sent none)."""
    for part in response.headers.get("server-timing", "").split(","):
        name, _, params = part.strip().partition(";")
        if name == "app" and params.startswith("dur="):
            return float(params[4:])
    return float("nan")


def labeler(base_url: str, project_id: int, headers: dict, deadline: float, result: LoadResult,
            lock: threading.Lock, think: float = 0.0) -> None:
    import httpx

    with httpx.Client(base_url=base_url, headers=headers, timeout=30) as client:
        while time.monotonic() < deadline:
            try:
                t0 = time.perf_counter()
                claimed = client.post(f"/api/v1/projects/{project_id}/queue/claim")
                t1 = time.perf_counter()
                if claimed.status_code == 204:
                    with lock:
                        result.queue_empty += 1
                    return
                if claimed.status_code != 200:
                    with lock:
                        result.statuses[("claim", claimed.status_code)] += 1
                        result.errors.append(f"claim {claimed.status_code}: {claimed.text[:200]}")
                    continue
                window_id = claimed.json()["window_id"]
                answer = client.post(f"/api/v1/projects/{project_id}/labels",
                                     headers={"Idempotency-Key": uuid.uuid4().hex},
                                     json={"window_id": window_id, "value": "normal" if window_id % 5 else "anomaly"})
                t2 = time.perf_counter()
            except httpx.HTTPError as exc:
                with lock:
                    result.errors.append(f"{type(exc).__name__}: {exc}")
                continue
            with lock:
                result.statuses[("claim", claimed.status_code)] += 1
                result.statuses[("label", answer.status_code)] += 1
                result.claim_ms.append((t1 - t0) * 1000)
                result.label_ms.append((t2 - t1) * 1000)
                result.pair_ms.append((t2 - t0) * 1000)
                claim_s, label_s = server_ms(claimed), server_ms(answer)
                result.server_claim_ms.append(claim_s)
                result.server_label_ms.append(label_s)
                result.server_pair_ms.append(claim_s + label_s)
                if 200 <= answer.status_code < 300:
                    result.label_2xx += 1
                else:
                    result.errors.append(f"label {answer.status_code}: {answer.text[:200]}")
            if think:
                time.sleep(think)  # a person reading the window's lines


def run_load(base_url: str, project_id: int, headers: list[dict], seconds: float,
             think: float = 0.0) -> LoadResult:
    """Every labeler claims and answers in a loop until ``seconds`` are up, pausing ``think`` s after each
    answer (0: as fast as the server allows, which measures the server at saturation)."""
    result, lock = LoadResult(seconds), threading.Lock()
    deadline = time.monotonic() + seconds
    threads = [threading.Thread(target=labeler, args=(base_url, project_id, h, deadline, result, lock, think))
               for h in headers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 60)
    return result


def labels_in_db(project_id: int) -> int:
    from sqlalchemy import func, select

    from app.db.models import Label
    from app.db.session import session_scope

    with session_scope() as session:
        return session.scalar(select(func.count()).where(Label.project_id == project_id))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """`logaction serve` in a subprocess, so the labelers and the server do not share one interpreter."""

    def __init__(self, env: dict, log: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env, self.log, self.proc = env, log, None

    def __enter__(self) -> "Server":
        import httpx

        self.proc = subprocess.Popen([sys.executable, "-m", "app.cli", "serve", "--host", "127.0.0.1",
                                      "--port", str(self.port)], cwd=ROOT, env=self.env,
                                     stdout=open(self.log, "w"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.2)

    def __exit__(self, *exc) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux): unlike latency, it does not depend on what else
    the machine runs."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def report(result: LoadResult, in_db: int) -> str:
    rows = [("claim", result.claim_ms), ("label", result.label_ms), ("claim+label", result.pair_ms),
            ("server claim", result.server_claim_ms), ("server label", result.server_label_ms),
            ("server c+l", result.server_pair_ms)]
    out = [f"{'step':<12} {'count':>7} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8}"]
    for name, values in rows:
        values = [v for v in values if v == v]  # no nan: a server without Server-Timing
        if not values:
            continue
        out.append(f"{name:<12} {len(values):>7} {result.percentile(values, 50):>8.1f} "
                   f"{result.percentile(values, 95):>8.1f} {result.percentile(values, 99):>8.1f} "
                   f"{max(values, default=float('nan')):>8.1f}")
    out.append(f"windows answered: {len(result.pair_ms)} in {result.seconds:.0f} s "
               f"({len(result.pair_ms) / result.seconds:.0f}/s); errors: {len(result.errors)}; "
               f"label 2xx: {result.label_2xx}; labels in the database: {in_db}")
    out.append(f"status codes: {dict(sorted(result.statuses.items()))}")
    if result.pair_ms and result.server_cpu_s == result.server_cpu_s:
        out.append(f"CPU per window answered: server {result.server_cpu_s * 1000 / len(result.pair_ms):.1f} ms, "
                   f"load client {result.client_cpu_s * 1000 / len(result.pair_ms):.1f} ms")
    return "\n".join(out)


def main() -> int:
    import tempfile

    from sqlalchemy import create_engine, text

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, default=10_000)
    parser.add_argument("--labelers", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--think", type=float, nargs="*", default=[0.0],
                        help="pause after each answer, s; several values = several runs on one server")
    args = parser.parse_args()

    schema = f"load_{uuid.uuid4().hex[:8]}"
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    url = f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    var_dir = tempfile.mkdtemp(prefix="label-load-")
    os.environ.update(LOGACTION_DATABASE_URL=url, LOGACTION_BROKER_URL=REDIS_URL, LOGACTION_VAR_DIR=var_dir,
                      LOGACTION_ENVIRONMENT="test", LOGACTION_SECRET_KEY=os.environ.get("LOGACTION_SECRET_KEY",
                                                                                        "label-load-benchmark"))
    try:
        from app.db import migrate

        migrate.upgrade("head")
        started = time.perf_counter()
        project_id, headers = seed_queue(windows=args.windows, labelers=args.labelers)
        print(f"seeded {args.windows} windows ({args.windows * LINES_PER_WINDOW} lines) and {args.labelers} "
              f"labelers in {time.perf_counter() - started:.1f} s", flush=True)
        ok = True
        with Server(dict(os.environ), Path(var_dir) / "server.log") as server:
            for think in args.think:
                before = labels_in_db(project_id)
                server_cpu, client_cpu = cpu_seconds(server.proc.pid), time.process_time()
                result = run_load(server.url, project_id, headers, args.seconds, think)
                result.server_cpu_s = cpu_seconds(server.proc.pid) - server_cpu
                result.client_cpu_s = time.process_time() - client_cpu
                in_db = labels_in_db(project_id) - before
                print(f"\n{args.labelers} labelers, {args.seconds:.0f} s, think time {think:g} s")
                print(report(result, in_db), flush=True)
                ok = ok and not result.errors and in_db == result.label_2xx
        return 0 if ok else 1
    finally:
        from app.db.session import engine_for

        engine_for(url).dispose()
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        admin.dispose()


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
