"""Item 18: ``ml`` is pure (no web, DB or broker module is ever loaded by any of its modules), and a seeded
run gives identical metrics twice, in two separate processes (so no hash seed or thread order hides in it).
tests/ml/test_purity_and_experiment.py checks the main modules; tests/ml/test_model_training.py checks that
one seeded base training scores identically twice."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SERVER_SIDE = ("fastapi", "starlette", "sqlalchemy", "alembic", "celery", "kombu", "redis", "psycopg", "uvicorn",
               "jinja2", "app")

PURITY = f"""
import importlib, pkgutil, sys
import ml
names = sorted(m.name for m in pkgutil.walk_packages(ml.__path__, "ml."))
for name in names:
    importlib.import_module(name)
loaded = {{m.split(".")[0] for m in sys.modules}}
print(len(names), sorted(loaded & set({SERVER_SIDE!r})))
"""

SEEDED_RUN = """
import json, sys
from ml.experiment import ExperimentConfig, run_experiment
config = ExperimentConfig("synthetic-a", "synthetic-b", budget=0.03, rounds=2, hidden=32, epochs=1,
                          finetune_steps=10, stride=20, synthetic_lines=8000, seed=3, device="cpu",
                          cache_dir=sys.argv[1])
result = run_experiment(config)
result.pop("seconds")
print(json.dumps(result, sort_keys=True))
"""


def test_no_module_of_ml_loads_a_server_side_package():
    out = subprocess.run([sys.executable, "-c", PURITY], cwd=ROOT, capture_output=True, text=True, check=True)
    count, bad = out.stdout.strip().split(" ", 1)
    assert int(count) >= 15  # every module was really imported
    assert bad == "[]", f"ml loads {bad}"


def test_a_seeded_run_gives_identical_metrics_in_two_processes(tmp_path):
    def run(i: int) -> dict:
        # One thread each: two runs side by side on two cores, not four threads fighting over them.
        env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        out = subprocess.run([sys.executable, "-c", SEEDED_RUN, str(tmp_path / f"cache{i}")], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr[-3000:]
        return json.loads(out.stdout.strip().splitlines()[-1])

    with ThreadPoolExecutor(2) as pool:
        first, second = pool.map(run, (1, 2))
    assert first["labels_used"] > 0 and len(first["rounds"]) == 2
    assert first == second  # every figure: per-round metrics, labels bought, anomalies found
