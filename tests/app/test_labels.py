"""Recording labels: idempotent retries, one label per window, queue items closed, claims respected."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.db.models import Label, LabelAudit, LogLine, QueueItem, Window
from tests.app.factories import fake_project, settle_jobs


@pytest.fixture
def loop(session):
    from app.services.users import create_user

    project, model, items = fake_project(session)
    users = [create_user(session, email=f"op{i}-{project.id}@example.com", role="labeler", password="pw-123456")
             for i in range(2)]
    session.commit()
    yield project, model, items, users
    settle_jobs(session)


def count(session, model, *where) -> int:
    return session.scalar(select(func.count()).select_from(model).where(*where))


def test_a_retry_with_the_same_key_creates_one_label(session, loop):
    from app.services.labels import record_label

    project, _, items, (op, _) = loop
    args = dict(project_id=project.id, window_id=items[0].window_id, user_id=op.id, value="anomaly",
                idempotency_key="req-1")
    first = record_label(session, **args)
    session.commit()
    again = record_label(session, **{**args, "value": "normal"})  # a retry never changes what was stored
    session.commit()
    assert first.created and not again.created and again.label.id == first.label.id
    assert count(session, Label) == 1 and count(session, LabelAudit) == 1
    assert session.get(Label, first.label.id).value == "anomaly"
    assert session.get(QueueItem, items[0].id).state == "done"


def test_a_second_answer_updates_the_label_and_keeps_the_old_one_in_the_audit(session, loop):
    from app.services.labels import record_label

    project, _, items, (op, _) = loop
    record_label(session, project_id=project.id, window_id=items[0].window_id, user_id=op.id, value="normal")
    result = record_label(session, project_id=project.id, window_id=items[0].window_id, user_id=op.id,
                          value="anomaly", reason="disk errors")
    session.commit()
    assert not result.created and count(session, Label) == 1
    audit = session.scalars(select(LabelAudit).order_by(LabelAudit.id)).all()
    assert [(a.action, a.old_value, a.new_value) for a in audit] == [("create", None, "normal"),
                                                                      ("update", "normal", "anomaly")]


def test_a_window_claimed_by_another_operator_is_refused(session, loop):
    from app.services.labels import LabelConflict, record_label
    from app.services.queue import claim_next

    project, _, items, (alice, bob) = loop
    item = claim_next(session, project_id=project.id, user_id=alice.id)
    session.commit()
    with pytest.raises(LabelConflict):
        record_label(session, project_id=project.id, window_id=item.window_id, user_id=bob.id, value="normal")
    session.rollback()
    record_label(session, project_id=project.id, window_id=item.window_id, user_id=alice.id, value="normal")
    session.commit()
    assert count(session, Label) == 1


def test_bad_values_foreign_windows_and_foreign_lines_store_nothing(session, loop):
    from app.services.labels import LabelError, record_label

    project, _, items, (op, _) = loop
    _, _, other_items = fake_project(session, queued=1)
    foreign = session.get(Window, other_items[0].window_id)
    line = LogLine(dataset_id=foreign.dataset_id, system_id=foreign.system_id, line_no=1, raw="x", content="x")
    session.add(line)
    session.commit()
    cases = [dict(window_id=items[0].window_id, value="maybe"),
             dict(window_id=other_items[0].window_id, value="normal"),
             dict(window_id=items[0].window_id, value="anomaly", line_ids=[line.id])]
    for case in cases:
        with pytest.raises(LabelError):
            record_label(session, project_id=project.id, user_id=op.id, **case)
        session.rollback()
    assert count(session, Label) == 0 and count(session, LabelAudit) == 0


def test_marked_lines_are_stored_as_line_numbers_of_the_window(session, loop):
    from app.services.labels import record_label

    project, _, items, (op, _) = loop
    window = session.get(Window, items[0].window_id)
    lines = [LogLine(dataset_id=window.dataset_id, system_id=window.system_id, line_no=n, raw="x", content="x")
             for n in (window.first_line_no, window.last_line_no)]
    session.add_all(lines)
    session.commit()
    result = record_label(session, project_id=project.id, window_id=window.id, user_id=op.id, value="anomaly",
                          line_ids=[line.id for line in lines])
    session.commit()
    assert result.label.line_nos == [window.first_line_no, window.last_line_no]
