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


# Under load the cost of a request is mostly its round trips to the database (each one a wait for the CPU on
# a busy machine), so their number is what keeps claim+label fast; before the item-16 work a claim took 11
# statements (+ BEGIN, COMMIT and a second transaction) and a label 16 plus 3 for the outbox.
CLAIM_STATEMENTS = 4  # token, the claim itself (one UPDATE), the window, its lines
LABEL_STATEMENTS = 9  # token, project, labels, item+window, INSERT label, INSERT audit, UPDATE item, retrain check


def test_a_claim_and_a_label_take_a_handful_of_statements_and_report_their_server_time(api, services,
                                                                                    queue_project):
    from sqlalchemy import event

    from app.db.session import get_engine
    from tests.reliability.conftest import new_user

    project_id, _, _ = queue_project(queued=6)
    _, labeler = new_user("labeler")
    # The token's first use records last_used_at (an UPDATE at most every few minutes): not counted here.
    assert api.get(f"/api/v1/projects/{project_id}/queue", headers=labeler).status_code == 200
    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(get_engine(), "before_cursor_execute", count)
    try:
        claimed = api.post(f"/api/v1/projects/{project_id}/queue/claim", headers=labeler)
        claim_statements, statements[:] = list(statements), []
        answer = api.post(f"/api/v1/projects/{project_id}/labels", headers={**labeler, "Idempotency-Key": "k-1"},
                          json={"window_id": claimed.json()["window_id"], "value": "normal"})
        label_statements = list(statements)
    finally:
        event.remove(get_engine(), "before_cursor_execute", count)
    assert claimed.status_code == 200 and answer.status_code == 201, answer.text
    assert len(claim_statements) <= CLAIM_STATEMENTS, claim_statements
    assert len(label_statements) <= LABEL_STATEMENTS, label_statements
    assert not any("project_sources" in s for s in claim_statements + label_statements)  # sources never loaded
    for response in (claimed, answer):
        name, _, duration = response.headers["server-timing"].partition(";dur=")
        assert name == "app" and float(duration) > 0
