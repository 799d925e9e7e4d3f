"""Scoring throughput and latency on the demo project, with the model warm.

    python benchmarks/score_throughput.py [--scale 1.0] [--requests 200] [--lines 1000]

Builds the demo (synthetic-a -> synthetic-b, trained by the embedded worker) in a throwaway folder, then
scores fresh synthetic-b lines (a seed the demo never saw) in requests of ``--lines`` lines:

- in process, one thread (``torch.set_num_threads(1)``): lines/s per core of ``score_lines``, for each
  ``explain`` setting, next to ``ml.training.score`` on the same windows (the plain network);
- over HTTP against a uvicorn server limited to one thread (client and server on one machine): latency
  p50/p95/p99 of whole requests.

Before measuring, ``--label-rounds`` rounds of the demo's queue are answered with the ground truth, so the
serving model is a fine-tuned one (the source-only base model flags most target windows, which makes every
window an explained one).

Prints a table. Targets (issue 7): >= 50k lines/s per core, p95 < 100 ms for 1,000-line requests.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0, help="demo size (1.0 = 20k source, 30k target lines)")
    parser.add_argument("--epochs", type=int, default=2, help="base training epochs (speed only, not measured)")
    parser.add_argument("--label-rounds", type=int, default=1,
                        help="rounds answered with the ground truth before measuring (0 = the source-only model, "
                             "which flags most target windows)")
    parser.add_argument("--requests", type=int, default=200, help="requests per measurement")
    parser.add_argument("--lines", type=int, default=1000, help="lines per request")
    parser.add_argument("--no-http", action="store_true", help="skip the HTTP latency measurement")
    parser.add_argument("--var-dir", type=Path, help="keep the demo here and reuse it on the next run")
    return parser.parse_args(argv)


def build_demo(var_dir: Path, scale: float, epochs: int, label_rounds: int) -> int:
    """Seed and train the demo with the embedded worker, answer ``label_rounds`` rounds of its queue with
    the ground truth (each answered round retrains); returns the project id."""
    from fastapi.testclient import TestClient
    from sqlalchemy import select

    from app.db import migrate
    from app.db.models import Project
    from app.db.session import session_factory
    from app.main import create_app
    from app.services.demo import seed_demo
    from app.services.jobs import flush_outbox
    from app.settings import get_settings

    migrate.upgrade("head")
    with TestClient(create_app(get_settings())):
        with session_factory()() as session:
            seed_demo(session, settings=get_settings(), scale=scale, train_options={"epochs": epochs})
            session.commit()
        flush_outbox()
        _settle()
        for _ in range(label_rounds):
            _answer_queue()
            flush_outbox()
            _settle()
        with session_factory()() as session:
            return session.scalar(select(Project.id))


def _settle() -> None:
    from sqlalchemy import select

    from app.db.models import Job
    from app.db.session import session_factory

    while True:
        with session_factory()() as session:
            jobs = list(session.scalars(select(Job)))
            if jobs and all(j.status in ("succeeded", "failed") for j in jobs):
                failed = [j.error for j in jobs if j.status == "failed"]
                if failed:
                    raise SystemExit(f"demo jobs failed: {failed}")
                return
        time.sleep(1)


def _answer_queue() -> None:
    from sqlalchemy import select

    from app.db.models import QueueItem, Window
    from app.db.session import session_factory
    from app.services.labels import record_label

    with session_factory()() as session:
        for item in session.scalars(select(QueueItem).where(QueueItem.state != "done")).all():
            truth = session.get(Window, item.window_id).label
            record_label(session, project_id=item.project_id, window_id=item.window_id, user_id=None,
                         value="anomaly" if truth == 1 else "normal")
        session.commit()


def existing_demo(var_dir: Path) -> int | None:
    """The project of a demo built earlier in ``var_dir`` (with its serving model), if any."""
    if not (var_dir / "logaction.db").exists():
        return None
    from sqlalchemy import select

    from app.db.models import ModelVersion
    from app.db.session import session_factory

    with session_factory()() as session:
        return session.scalar(select(ModelVersion.project_id).where(ModelVersion.is_serving.is_(True)))


def requests_of(n_requests: int, n_lines: int, seed: int) -> list[list[str]]:
    """Fresh lines for each measurement: contents a cache has seen before would flatter the parsing cost."""
    from ml.synthetic import generate

    lines = generate("synthetic-b", n_lines=n_requests * n_lines, seed=seed, label_token=False).lines
    return [lines[i * n_lines:(i + 1) * n_lines] for i in range(n_requests)]


def percentile(values: list[float], q: float) -> float:
    import numpy as np

    return float(np.percentile(values, q))


def in_process(project_id: int, n_requests: int, n_lines: int) -> tuple[list[tuple], str]:
    """Rows (what, lines/s per core, p50, p95, p99 ms) for score_lines and the plain network, and a note on
    how many windows were flagged and explained."""
    import torch

    from app.db.session import session_factory
    from app.services import scoring

    torch.set_num_threads(1)
    rows, note = [], ""
    with session_factory()() as session:
        for lines in requests_of(5, n_lines, seed=100):  # warm: the model loads once, caches fill
            scoring.score_lines(session, project_id=project_id, lines=lines)
        for seed, explain in ((101, "none"), (102, "anomalous"), (103, "all")):
            times, flagged, windows, explained = [], 0, 0, 0
            for lines in requests_of(n_requests, n_lines, seed):
                start = time.perf_counter()
                answer = scoring.score_lines(session, project_id=project_id, lines=lines, explain=explain)
                times.append(time.perf_counter() - start)
                windows += len(answer["windows"])
                flagged += sum(w["anomalous"] for w in answer["windows"])
                explained += answer["windows_explained"]
            rows.append((f"score_lines explain={explain}", n_lines * len(times) / sum(times), times))
            if explain == "anomalous":
                note = (f"{windows / n_requests:.0f} windows per request, {flagged / windows:.0%} flagged anomalous, "
                        f"{explained / n_requests:.1f} explained per request with explain=anomalous")
        batches = requests_of(n_requests, n_lines, seed=104)
        rows.append(("ml.training.score (plain network)", *_plain_network(session, project_id, batches)))
    return [(what, rate, *(percentile(t, q) * 1000 for q in (50, 95, 99))) for what, rate, t in rows], note


def _plain_network(session, project_id: int, batches: list[list[str]]):
    """The same windows through ml.training.score (nn.LSTM over the embedding table): the model alone."""
    import numpy as np

    from ml.scoring import fixed_windows_of, read_contents
    from ml.training import score

    from app.db.models import ModelVersion
    from app.services import scoring
    from app.services.models import load_bundle

    model = scoring.loaded_model(session, project_id)
    bundle = load_bundle(session, session.get(ModelVersion, model.version_id))
    prepared = []
    for lines in batches:
        read = read_contents(lines, model.fmt)
        rows, _ = scoring._rows(model, read.contents)
        prepared.append(fixed_windows_of(rows, model.window_size, model.window_stride).events)
    times = []
    for events in prepared:
        events = np.where(events < len(bundle.table), events, 0)  # rows past the model's table: padding
        start = time.perf_counter()
        score(bundle, events, device="cpu")
        times.append(time.perf_counter() - start)
    return len(batches[0]) * len(times) / sum(times), times


def over_http(var_dir: Path, project_id: int, n_requests: int, n_lines: int) -> list[tuple]:
    """Latency of whole requests against a uvicorn server with one thread, the model warm."""
    import httpx

    from app.db.session import session_factory
    from app.services.users import create_token, create_user

    with session_factory()() as session:
        user = create_user(session, email=f"bench-{time.time_ns()}@example.com", role="service", password=None)
        _, secret = create_token(session, user=user, name="bench")
        session.commit()
    port = _free_port()
    env = {**os.environ, "LOGACTION_EMBEDDED_WORKER": "false", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    server = subprocess.Popen([sys.executable, "-m", "uvicorn", "app.main:create_app", "--factory", "--port",
                               str(port), "--log-level", "warning"], cwd=ROOT, env=env)
    try:
        url = f"http://127.0.0.1:{port}/api/v1/projects/{project_id}/score"
        headers = {"Authorization": f"Bearer {secret}"}
        with httpx.Client(timeout=60) as client:
            _wait_up(client, port)
            for lines in requests_of(5, n_lines, seed=100):  # warm: the model loads on the first request
                client.post(url, json={"lines": lines}, headers=headers).raise_for_status()
            rows = []
            for seed, explain in ((105, "none"), (106, "anomalous")):
                times = []
                for lines in requests_of(n_requests, n_lines, seed):
                    start = time.perf_counter()
                    client.post(url, params={"explain": explain}, json={"lines": lines},
                                headers=headers).raise_for_status()
                    times.append(time.perf_counter() - start)
                rows.append((f"HTTP POST /score explain={explain}", n_lines * len(times) / sum(times),
                             *(percentile(times, q) * 1000 for q in (50, 95, 99))))
        return rows
    finally:
        server.terminate()
        server.wait(timeout=30)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_up(client, port: int) -> None:
    import httpx

    for _ in range(300):
        try:
            if client.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit("the server did not start")


def main(argv=None) -> int:
    args = parse_args(argv)
    var_dir = args.var_dir or Path(tempfile.mkdtemp(prefix="logaction-bench-"))
    var_dir.mkdir(parents=True, exist_ok=True)
    os.environ.update({"LOGACTION_VAR_DIR": str(var_dir), "LOGACTION_DATABASE_URL": "",
                       "LOGACTION_BROKER_URL": "memory://", "LOGACTION_DEVICE": "cpu"})
    started = time.perf_counter()
    project_id = existing_demo(var_dir)
    if project_id is None:
        project_id = build_demo(var_dir, args.scale, args.epochs, args.label_rounds)
        print(f"demo built in {time.perf_counter() - started:.0f} s (scale {args.scale}, "
              f"{args.label_rounds} rounds labeled); cpu: {_cpu()}")
    else:
        print(f"demo reused from {var_dir}; cpu: {_cpu()}")
    rows, note = in_process(project_id, args.requests, args.lines)
    if not args.no_http:
        rows.extend(over_http(var_dir, project_id, args.requests, args.lines))
    print(f"\n{args.requests} requests of {args.lines} fresh synthetic-b lines each, model warm; {note}\n")
    print(f"| {'measure':<42} | {'lines/s':>9} | {'p50 ms':>7} | {'p95 ms':>7} | {'p99 ms':>7} |")
    print(f"|{'-' * 44}|{'-' * 11}|{'-' * 9}|{'-' * 9}|{'-' * 9}|")
    for what, rate, p50, p95, p99 in rows:
        print(f"| {what:<42} | {rate:>9,.0f} | {p50:>7.1f} | {p95:>7.1f} | {p99:>7.1f} |")
    return 0


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"{line.split(':', 1)[1].strip()} x{os.cpu_count()}"
    except OSError:
        pass
    return f"{os.cpu_count()} cores"


if __name__ == "__main__":
    raise SystemExit(main())
