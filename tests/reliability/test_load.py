"""Item 16, short: 10k queued windows, 8 labelers claiming and answering over real HTTP (`logaction serve`
in a subprocess, PostgreSQL) for about 10 s. Zero errors, and the labels in the database equal the 2xx
answers. `python benchmarks/label_load.py` runs the same for 60 s and prints the figures in
docs/RELIABILITY.md."""

from __future__ import annotations

import pytest

from benchmarks.label_load import Server, labels_in_db, report, run_load, seed_queue

pytestmark = [pytest.mark.services, pytest.mark.slow]
SECONDS = 10
# Eight labelers with no pause saturate a 2-core machine, so latency here is mostly queueing and depends on
# whatever else the machine runs; the percentiles are printed (and measured for 60 s by the benchmark).
# What must hold anywhere: no request waits on a lock or a pool for seconds.
HANG_MS = 5000


def test_eight_labelers_for_ten_seconds_make_no_errors_and_lose_no_label(services, tmp_path):
    project_id, headers = seed_queue(windows=10_000, labelers=8)
    with Server(services.env, tmp_path / "server.log") as server:
        result = run_load(server.url, project_id, headers, SECONDS)
    in_db = labels_in_db(project_id)
    print(report(result, in_db))
    assert result.errors == [], result.errors[:5]
    assert len(result.pair_ms) > 100  # it really ran
    assert in_db == result.label_2xx == len(result.pair_ms)
    assert max(result.pair_ms) < HANG_MS, report(result, in_db)
