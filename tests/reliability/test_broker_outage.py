"""Item 14: Redis stopped. Labeling keeps working, a retrain that falls due (or is requested) is kept as
``pending_send`` and goes out by itself once Redis is back, and no request waits more than a few seconds.

The Redis here is this test's own redis-server on a free port, stopped and started again by the test."""

from __future__ import annotations

import json
import time

import pytest
import redis
from sqlalchemy import select

from app.db.models import Job
from tests.loop.builders import wait_for
from tests.reliability.conftest import broker, new_user

pytestmark = pytest.mark.services
FEW_SECONDS = 3.0  # claims, labels, a retrain request
PROBE_SECONDS = 5.0  # /readyz waits up to its broker probe's own timeout (2 s) before saying 503


def timed(call):
    start = time.perf_counter()
    answer = call()
    return answer, time.perf_counter() - start


def retrain_jobs(db, project_id: int) -> list[tuple[int, str]]:
    db.rollback()
    return db.execute(select(Job.id, Job.status).where(Job.project_id == project_id, Job.kind == "retrain")
                      .order_by(Job.id)).all()


def sent_task_ids(server) -> list[str]:
    client = redis.Redis(port=server.port)
    return [json.loads(raw)["headers"]["id"] for raw in client.lrange("logaction", 0, -1)]


def test_labeling_works_and_retrains_wait_for_redis(api, db, own_redis, queue_project):
    project_id, _, items = queue_project(queued=3)
    _, operator = new_user()
    _, admin = new_user("admin")
    with broker(own_redis.url) as celery:
        celery.send_task("logaction.warm_up", args=[], task_id="warm-up")  # a live pooled connection, as in a server
        own_redis.stop()

        took = []
        for _ in items:  # the whole round: its last answer makes a retrain due
            claimed, seconds = timed(lambda: api.post(f"/api/v1/projects/{project_id}/queue/claim", headers=operator))
            took.append(seconds)
            assert claimed.status_code == 200, claimed.text
            answered, seconds = timed(lambda: api.post(f"/api/v1/projects/{project_id}/labels", headers=operator,
                                                       json={"window_id": claimed.json()["window_id"],
                                                             "value": "normal"}))
            took.append(seconds)
            assert answered.status_code == 201, answered.text
        [(job_id, status)] = retrain_jobs(db, project_id)
        assert status == "pending_send"

        requested, seconds = timed(lambda: api.post(f"/api/v1/projects/{project_id}/retrain", headers=admin))
        took.append(seconds)
        assert requested.status_code == 202 and requested.json()["id"] == job_id  # the waiting one, not a new one
        print("request times during the outage, s:", [round(t, 3) for t in took])
        assert max(took) < FEW_SECONDS, took
        ready, seconds = timed(lambda: api.get("/readyz"))
        assert ready.status_code == 503 and ready.json()["checks"]["broker"].startswith("error")
        assert seconds < PROBE_SECONDS, seconds
        time.sleep(1)
        assert retrain_jobs(db, project_id) == [(job_id, "pending_send")]  # still kept, nothing lost

        own_redis.start()  # the outbox pump sends it within its interval
        wait_for(lambda: retrain_jobs(db, project_id) == [(job_id, "queued")], timeout=20,
                 what="the pending retrain to be sent", detail=lambda: retrain_jobs(db, project_id))
        assert sent_task_ids(own_redis).count(f"job-{job_id}") == 1
        ready = api.get("/readyz")
        assert ready.status_code == 200
