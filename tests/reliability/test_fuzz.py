"""Fuzzing the two endpoints that take arbitrary bytes from outside: scoring (a service's lines, against a
real trained model) and dataset upload. Whatever the body, content type or parameters: never a 5xx, never
a traceback, and a refused upload leaves no file behind."""

from __future__ import annotations

import gzip
import json
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from sqlalchemy import select

from app.settings import get_settings
from tests.app_fixtures import make_system, synthetic_text
from tests.reliability.conftest import new_user

pytestmark = [pytest.mark.services, pytest.mark.slow]
FUZZ = settings(max_examples=150, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

HEADER_TEXT = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40)
# Text that stays on one line: what a log message may carry after the fields a format reads.
INLINE = st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), max_size=40)
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=50),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                    max_leaves=12)


@pytest.fixture(scope="module")
def target_lines(trained_project) -> list[str]:
    from app.db.models import LogLine, Project
    from app.db.session import session_scope

    with session_scope() as session:
        system_id = session.get(Project, trained_project).target_system_id
        return list(session.scalars(select(LogLine.raw).where(LogLine.system_id == system_id)
                                    .order_by(LogLine.id).limit(200)))


@st.composite
def near_lines(draw, real: list[str]) -> list[str]:
    """Real target lines, some with text appended to the message, and in half of the bodies one line cut,
    spliced or replaced by junk: the edge between what the target's format reads and what it refuses."""
    start = draw(st.integers(0, len(real) - 1))
    lines = [line + draw(INLINE) if draw(st.booleans()) else line
             for line in real[start:start + draw(st.integers(1, 40))]]
    if draw(st.booleans()):
        at = draw(st.integers(0, len(lines) - 1))
        line = lines[at]
        how = draw(st.sampled_from(["cut", "insert", "replace"]))
        if how == "cut":
            line = line[:draw(st.integers(0, len(line)))]
        elif how == "insert":
            cut = draw(st.integers(0, len(line)))
            line = line[:cut] + draw(st.text(max_size=20)) + line[cut:]
        else:
            line = draw(st.text(max_size=300))
        lines[at] = line
    return lines


def score_bodies(real: list[str]):
    as_json = lambda lines: ("application/json", json.dumps({"lines": lines}).encode())  # noqa: E731
    return st.one_of(
        near_lines(real).map(as_json),
        near_lines(real).map(lambda lines: ("text/plain", "\n".join(lines).encode("utf-8", "surrogatepass"))),
        near_lines(real).map(lambda ls: ("application/x-ndjson", "\n".join(json.dumps(x) for x in ls).encode())),
        st.lists(st.text(max_size=200), max_size=20).map(as_json),
        JSON.map(lambda v: ("application/json", json.dumps(v).encode())),
        st.lists(JSON, max_size=8).map(lambda vs: ("application/x-ndjson",
                                                   "\n".join(json.dumps(v) for v in vs).encode())),
        st.tuples(st.sampled_from(["application/json", "text/plain", "application/x-ndjson", ""]),
                  st.binary(max_size=400)),
        st.tuples(HEADER_TEXT, st.binary(max_size=100)),
    )


@pytest.fixture(scope="module")
def service(services):
    return new_user("service")[1]


def test_scoring_never_answers_5xx(api, trained_project, target_lines, service):
    path = f"/api/v1/projects/{trained_project}/score"
    seen = Counter()

    @FUZZ
    @given(body=score_bodies(target_lines),
           explain=st.sampled_from(["anomalous", "all", "none"]) | HEADER_TEXT)
    def check(body, explain):
        content_type, content = body
        answer = api.post(path, content=content, params={"explain": explain},
                          headers={**service, "content-type": content_type})
        seen[answer.status_code] += 1
        assert answer.status_code < 500, (content_type, content[:300], answer.text[:500])
        assert "Traceback" not in answer.text
        if answer.status_code == 200:
            assert isinstance(answer.json(), dict)
        else:
            assert answer.json()["detail"]

    check()
    print("scoring answers:", dict(seen))
    assert seen[200] > 0 and seen[422] > 0  # the bodies reached the model, and the checks before it
    # And the real thing still scores after all that.
    ok = api.post(path, headers=service, json={"lines": target_lines[:60]})
    assert ok.status_code == 200, ok.text


def upload_bodies():
    good = synthetic_text(n_lines=40)
    lines = good.splitlines()
    return st.one_of(
        st.binary(max_size=600).map(lambda b: ("raw", b, "application/octet-stream")),
        st.text(max_size=600).map(lambda t: ("raw", t.encode("utf-8", "surrogatepass"), "text/plain")),
        st.lists(st.sampled_from(lines) | st.text(max_size=80), min_size=1, max_size=30)
        .map(lambda ls: ("raw", ("\n".join(ls) + "\n").encode("utf-8", "surrogatepass"), "text/plain")),
        st.lists(st.tuples(st.sampled_from(lines), INLINE), min_size=1, max_size=30)
        .map(lambda ls: ("raw", "".join(f"{a}{b}\n" for a, b in ls).encode("utf-8", "surrogatepass"), "text/plain")),
        st.binary(max_size=300).map(lambda b: ("raw", gzip.compress(b)[:len(b) // 2 + 20], "application/gzip")),
        st.tuples(st.text(max_size=40), st.binary(max_size=400)).map(lambda p: ("multipart", p[1], p[0])),
        st.tuples(HEADER_TEXT, st.binary(max_size=300)).map(lambda p: ("raw", p[1], p[0])),
    )


def test_uploads_never_answer_5xx_nor_leave_files(api, services):
    _, admin = new_user("admin")
    system = make_system(api, admin)
    folder = get_settings().uploads_path
    url = f"/api/v1/systems/{system['id']}/datasets"
    seen = Counter()

    @FUZZ
    @given(body=upload_bodies(), filename=HEADER_TEXT | st.none(),
           role=st.sampled_from(["source", "target"]) | HEADER_TEXT)
    def check(body, filename, role):
        how, content, extra = body
        params = {"ingest": "false", "role": role, **({"filename": filename} if filename is not None else {})}
        if how == "multipart":
            answer = api.post(url, headers=admin, params=params,
                              files={"file": (extra or "x.log", content, "application/octet-stream")})
        else:
            answer = api.post(url, headers={**admin, "content-type": extra}, params=params, content=content)
        seen[answer.status_code] += 1
        assert answer.status_code < 500, (how, extra, content[:200], answer.text[:500])
        assert "Traceback" not in answer.text
        assert not list(folder.glob(".*.part")), "a temporary upload file was left behind"

    check()
    print("upload answers:", dict(seen))
    assert seen[201] > 0 and seen[422] > 0
