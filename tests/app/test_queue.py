"""Claiming from the labeling queue: one window per operator, claims expire, own claims come back."""

from __future__ import annotations

import pytest

from tests.app.factories import fake_project, settle_jobs


@pytest.fixture
def queue(session):
    from app.services.users import create_user

    project, _, items = fake_project(session, queued=3)
    users = [create_user(session, email=f"q{i}-{project.id}@example.com", role="labeler", password="pw-123456")
             for i in range(3)]
    session.commit()
    yield project, items, users
    settle_jobs(session)


def test_operators_get_different_windows_and_keep_their_own(session, queue):
    from app.services.queue import claim_next

    project, items, (a, b, c) = queue
    got_a = claim_next(session, project_id=project.id, user_id=a.id)
    got_b = claim_next(session, project_id=project.id, user_id=b.id)
    session.commit()
    assert got_a.id == items[0].id and got_b.id == items[1].id
    assert claim_next(session, project_id=project.id, user_id=a.id).id == got_a.id  # a reload, not a new claim
    assert claim_next(session, project_id=project.id, user_id=c.id).id == items[2].id
    session.commit()
    assert claim_next(session, project_id=project.id, user_id=session.get(type(a), a.id).id + 1000) is None


def test_an_expired_claim_returns_to_the_queue(session, queue):
    from app.services.queue import claim_next, release_claim

    project, items, (a, b, _) = queue
    claim_next(session, project_id=project.id, user_id=a.id, lease_seconds=-1)
    session.commit()
    assert claim_next(session, project_id=project.id, user_id=b.id).id == items[0].id
    session.commit()
    assert release_claim(session, item_id=items[0].id, user_id=b.id)
    assert not release_claim(session, item_id=items[0].id, user_id=b.id)
    session.commit()
