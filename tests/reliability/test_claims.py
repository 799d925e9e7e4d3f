"""Item 1: operators claiming at the same moment, each on their own PostgreSQL connection, never get the same
window (``FOR UPDATE SKIP LOCKED`` + a conditional claim); every window is answered exactly once.

Item 2 (service level): an abandoned claim lapses and the window goes to the next operator; the one who
walked away can no longer label it."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter

import pytest
from sqlalchemy import func, insert, select

from app.db.models import Label, Project, QueueItem, Window

pytestmark = pytest.mark.services
ROUNDS = 50


def labelers(n: int) -> list[int]:
    from app.db.session import session_scope
    from app.services.users import create_user

    with session_scope() as session:
        return [create_user(session, email=f"c{i}-{uuid.uuid4().hex[:6]}@example.com", role="labeler",
                            password=None).id for i in range(n)]


def open_round(project_id: int, model_id: int, round_no: int, n_items: int) -> list[int]:
    """Queue ``n_items`` windows nobody has seen as round ``round_no``."""
    from app.db.session import session_scope

    with session_scope() as session:
        project_system = session.get(Project, project_id).target_system_id
        taken = select(QueueItem.window_id).where(QueueItem.project_id == project_id)
        fresh = session.scalars(select(Window.id).where(Window.system_id == project_system, Window.split == "pool",
                                                        Window.id.not_in(taken)).order_by(Window.seq)
                                .limit(n_items)).all()
        assert len(fresh) == n_items
        session.execute(insert(QueueItem), [
            {"project_id": project_id, "window_id": w, "round": round_no, "model_version_id": model_id,
             "position": i, "free_energy": 0.0, "uncertainty": 0.0, "p_anomaly": 0.5, "free_energy_rank": i + 1,
             "uncertainty_rank": i + 1, "pool_size": 0, "state": "open"} for i, w in enumerate(fresh)])
        return list(fresh)


def operator(project_id: int, user_id: int, start: threading.Barrier, got: list, errors: list) -> None:
    """Claim and answer until the queue is empty, each step its own transaction on its own connection."""
    from app.db.session import session_factory
    from app.services.labels import record_label
    from app.services.queue import claim_next

    try:
        start.wait(30)
        with session_factory()() as session:
            while True:
                item = claim_next(session, project_id=project_id, user_id=user_id)
                if item is None:
                    session.commit()
                    return
                window_id = item.window_id
                session.commit()
                got.append((window_id, user_id))
                record_label(session, project_id=project_id, window_id=window_id, user_id=user_id,
                             value="normal", idempotency_key=f"{user_id}:{window_id}")
                session.commit()
    except Exception as exc:  # reported by the test, with the operator that hit it
        errors.append((user_id, repr(exc)))


@pytest.mark.parametrize("n_operators", [2, 8])
def test_concurrent_operators_never_share_a_window(services, queue_project, n_operators):
    from app.db.session import engine_for, session_scope

    assert engine_for(services.url).pool.size() >= n_operators  # one connection each, no queueing in the pool
    project_id, model_id, _ = queue_project(n_pool=ROUNDS * (2 * n_operators - 1), queued=0)
    users = labelers(n_operators)
    handed_out: Counter = Counter()
    for round_no in range(1, ROUNDS + 1):
        # More windows than operators but not a multiple: the last ones are fought over.
        windows = open_round(project_id, model_id, round_no, 2 * n_operators - 1)
        start, got, errors = threading.Barrier(n_operators), [], []
        threads = [threading.Thread(target=operator, args=(project_id, u, start, got, errors)) for u in users]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not errors, errors
        per_window = Counter(w for w, _ in got)
        assert [w for w, n in per_window.items() if n > 1] == [], f"round {round_no}: a window went to two operators"
        assert set(per_window) == set(windows), f"round {round_no}: not every window was handed out"
        handed_out.update(per_window)
        with session_scope() as session:
            labels = dict(session.execute(select(Label.window_id, Label.user_id)
                                          .where(Label.window_id.in_(windows))).all())
            assert labels == {w: u for w, u in got}  # each answer is from the operator who held the claim
            states = set(session.scalars(select(QueueItem.state).where(QueueItem.project_id == project_id,
                                                                       QueueItem.round == round_no)))
            assert states == {"done"}
    assert len(handed_out) == ROUNDS * (2 * n_operators - 1) and set(handed_out.values()) == {1}
    with session_scope() as session:
        assert session.scalar(select(func.count()).where(Label.project_id == project_id)) == len(handed_out)


def test_an_abandoned_claim_lapses_and_the_window_goes_to_the_next_operator(services, queue_project):
    from app.db.session import session_scope
    from app.services.labels import LabelConflict, record_label
    from app.services.queue import claim_next

    project_id, _, items = queue_project(queued=1)
    alice, bob = labelers(2)
    with session_scope() as session:
        first = claim_next(session, project_id=project_id, user_id=alice, lease_seconds=1)
        window_id = first.window_id
    with session_scope() as session:
        assert claim_next(session, project_id=project_id, user_id=bob) is None  # alice's claim is live
    time.sleep(1.5)  # alice walked away; her lease runs out
    with session_scope() as session:
        second = claim_next(session, project_id=project_id, user_id=bob)
        assert second is not None and second.id == items[0] and second.claimed_by == bob
    with session_scope() as session, pytest.raises(LabelConflict):
        record_label(session, project_id=project_id, window_id=window_id, user_id=alice, value="anomaly")
    with session_scope() as session:
        record_label(session, project_id=project_id, window_id=window_id, user_id=bob, value="normal")
    with session_scope() as session:
        assert session.execute(select(Label.user_id, Label.value).where(Label.project_id == project_id)).all() \
            == [(bob, "normal")]
