"""How much a large upload raises the server's memory (target: < 100 MB for a 300 MB file).

Starts `logaction serve` on a throwaway SQLite database, warms it up with a small upload, then streams a
large synthetic log (multipart, as a browser sends it) and samples the server's RSS every 20 ms.
Usage: python benchmarks/upload_rss.py [--mb 300] [--ingest]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Sampler(threading.Thread):
    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid, self.peak, self.running = pid, 0.0, True

    def run(self) -> None:
        while self.running:
            self.peak = max(self.peak, rss_mb(self.pid))
            time.sleep(0.02)


def make_file(path: Path, megabytes: int) -> None:
    from ml.synthetic import generate

    block = "".join(f"{line}\n" for line in generate("synthetic-a", n_lines=20000, seed=1).lines).encode()
    with open(path, "wb") as handle:
        while handle.tell() < megabytes * 1024 * 1024:
            handle.write(block)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cli(env: dict, *args: str) -> str:
    return subprocess.run([sys.executable, "-m", "app.cli", *args], env=env, cwd=ROOT, check=True,
                          capture_output=True, text=True).stdout


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=300)
    parser.add_argument("--ingest", action="store_true", help="also ingest (parse, embed, insert) in the server")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="logaction-bench-"))
    env = {**os.environ, "LOGACTION_VAR_DIR": str(work / "var"), "LOGACTION_ENVIRONMENT": "development"}
    env.pop("LOGACTION_DATABASE_URL", None)
    cli(env, "db", "upgrade")
    cli(env, "users", "create", "--email", "bench@example.com", "--role", "admin", "--password", "bench-pass")
    token = cli(env, "tokens", "create", "--user", "bench@example.com").strip()
    big = work / "big.log"
    make_file(big, args.mb)
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "app.cli", "serve", "--port", str(port)], env=env, cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=base, headers=headers, timeout=600) as client:
            _wait_ready(client)
            system = client.post("/api/v1/systems", json={"name": "bench", "log_format": "synthetic-a",
                                                          "label_rule": "first_token"}).json()
            url = f"/api/v1/systems/{system['id']}/datasets"
            small = big.read_bytes()[:1_000_000].rsplit(b"\n", 1)[0] + b"\n"
            client.post(url, files={"file": ("warm.log", small)}, params={"ingest": "false"}).raise_for_status()
            time.sleep(0.5)
            before = rss_mb(server.pid)
            sampler = Sampler(server.pid)
            sampler.start()
            started = time.perf_counter()
            with open(big, "rb") as handle:
                response = client.post(url, files={"file": ("big.log", handle)},
                                       params={"ingest": "true" if args.ingest else "false"})
            upload_s = time.perf_counter() - started
            response.raise_for_status()
            if args.ingest:
                _wait_job(client, response.json()["job"]["id"])
            sampler.running = False
            sampler.join()
        size = big.stat().st_size / 1024 / 1024
        print(f"file: {size:.0f} MB, {response.json()['dataset']['line_count']:,} lines")
        print(f"upload + line check: {upload_s:.1f} s ({size / upload_s:.0f} MB/s)")
        print(f"server RSS before: {before:.0f} MB, peak: {sampler.peak:.0f} MB, "
              f"increase: {sampler.peak - before:.0f} MB {'(with ingest)' if args.ingest else ''}")
        return 0 if args.ingest or sampler.peak - before < 100 else 1
    finally:
        server.terminate()
        server.wait(timeout=30)


def _wait_ready(client: httpx.Client) -> None:
    for _ in range(300):
        try:
            if client.get("/healthz").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError("server did not start")


def _wait_job(client: httpx.Client, job_id: int) -> None:
    while client.get(f"/api/v1/jobs/{job_id}").json()["status"] not in ("succeeded", "failed"):
        time.sleep(0.5)


if __name__ == "__main__":
    sys.exit(main())
