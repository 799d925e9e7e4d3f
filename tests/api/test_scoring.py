"""POST /api/v1/projects/{id}/score on the really trained demo project: body formats, limits, errors,
read-only matching, the per-process model cache, and detection (injected anomalies score higher)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sqlalchemy import func, select

from app.db.models import ModelVersion, System, Template
from app.services import scoring
from tests.app.factories import fake_project


def lines_of(n: int = 200, seed: int = 5):
    from ml.synthetic import generate

    return generate("synthetic-b", n_lines=n, seed=seed, label_token=False)


def url(project_id: int) -> str:
    return f"/api/v1/projects/{project_id}/score"


def test_scores_json_text_and_ndjson_alike(client, demo, roles):
    lines = lines_of(60).lines
    as_json = client.post(url(demo.project_id), json={"lines": lines}, headers=roles["service"])
    assert as_json.status_code == 200, as_json.text
    body = as_json.json()
    version = client.get(f"/api/v1/projects/{demo.project_id}/models", headers=roles["admin"]).json()
    serving = next(v for v in version if v["is_serving"])
    assert body["model_version"] == serving["version"] and body["model_version_id"] == serving["id"]
    assert body["lines_scored"] == 60
    # the target's windows: 20 lines every 10 (the demo's settings), the last one aligned to the end
    assert [(w["first_line"], w["last_line"]) for w in body["windows"]] == [(i, i + 19) for i in range(0, 41, 10)]
    for w in body["windows"]:
        assert 0.0 <= w["p_anomaly"] <= 1.0 and w["anomalous"] == (w["p_anomaly"] >= body["threshold"])
        assert all(w["first_line"] <= i <= w["last_line"] for i in w["top_lines"])
    as_text = client.post(url(demo.project_id), content="\n".join(lines) + "\n",
                          headers={**roles["service"], "content-type": "text/plain"})
    ndjson = "\n".join(json.dumps(x) if i % 2 else json.dumps({"line": x}) for i, x in enumerate(lines))
    as_ndjson = client.post(url(demo.project_id), content=ndjson,
                            headers={**roles["admin"], "content-type": "application/x-ndjson"})
    assert as_text.status_code == as_ndjson.status_code == 200
    assert as_text.json()["windows"] == body["windows"] == as_ndjson.json()["windows"]


def test_blank_lines_keep_their_indexes_and_short_requests_make_one_window(client, demo, roles):
    lines = lines_of(5).lines
    response = client.post(url(demo.project_id), json={"lines": [lines[0], "", lines[1], "  ", *lines[2:]]},
                           headers=roles["service"])
    assert response.status_code == 200
    (window,) = response.json()["windows"]
    assert (window["first_line"], window["last_line"]) == (0, 6) and response.json()["lines_scored"] == 5


def test_explain_choices(client, demo, roles):
    lines = lines_of(200).lines
    every = client.post(url(demo.project_id), params={"explain": "all"}, json={"lines": lines},
                        headers=roles["service"]).json()["windows"]
    none = client.post(url(demo.project_id), params={"explain": "none"}, json={"lines": lines},
                       headers=roles["service"]).json()["windows"]
    default = client.post(url(demo.project_id), json={"lines": lines}, headers=roles["service"]).json()["windows"]
    assert all(w["top_lines"] == [] for w in none)
    assert sum(bool(w["top_lines"]) for w in every) >= sum(bool(w["top_lines"]) for w in default)
    assert all(w["top_lines"] == [] for w in default if not w["anomalous"])
    assert [w["p_anomaly"] for w in every] == [w["p_anomaly"] for w in none] == [w["p_anomaly"] for w in default]
    bad = client.post(url(demo.project_id), params={"explain": "why"}, json={"lines": lines}, headers=roles["service"])
    assert bad.status_code == 422


def test_explained_windows_are_capped(client, demo, roles, monkeypatch):
    lines = lines_of(200).lines
    monkeypatch.setenv("LOGACTION_SCORE_MAX_EXPLAINED", "2")
    capped = client.post(url(demo.project_id), params={"explain": "all"}, json={"lines": lines},
                         headers=roles["service"]).json()
    assert capped["windows_explained"] == 2 and sum(bool(w["top_lines"]) for w in capped["windows"]) <= 2
    top = sorted(capped["windows"], key=lambda w: -w["p_anomaly"])[:2]
    assert all(w["top_lines"] for w in top if w["p_anomaly"] > 0.01)  # the highest scores are the explained ones


def test_unknown_templates_are_counted_and_never_added(client, demo, roles, session):
    before = session.get(System, demo.target_system_id).parser_state
    templates = session.scalar(select(func.count()).select_from(Template))
    lines = lines_of(20).lines
    odd = "2026-03-01 12:00:00 INFO [main] app.Core - quantum flux capacitor misaligned on deck 7"
    odder = "2026-03-01 12:00:00 INFO [main] app.Core - teleporter buffer overflow pattern enhancer offline"
    response = client.post(url(demo.project_id), json={"lines": lines[:10] + [odd, odd, odder] + lines[10:]},
                           headers=roles["service"])
    assert response.status_code == 200
    windows = response.json()["windows"]
    assert windows[0]["unknown_templates"] == 2  # two distinct unknown messages (one of them twice)
    session.expire_all()
    assert session.get(System, demo.target_system_id).parser_state == before
    assert session.scalar(select(func.count()).select_from(Template)) == templates


def test_a_line_in_another_format_is_named(client, demo, roles):
    lines = lines_of(10).lines
    response = client.post(url(demo.project_id), json={"lines": lines[:3] + ["not a log line"] + lines[3:]},
                           headers=roles["service"])
    assert response.status_code == 422 and response.json()["detail"].startswith("lines[3] does not match format")


@pytest.mark.parametrize("body, field", [
    (b"{not json", "not valid JSON"),
    (b"[1, 2]", "expected a JSON object"),
    (b'{"line": ["x"]}', "field 'lines' is required"),
    (b'{"lines": "x"}', "field 'lines' must be a list"),
    (b'{"lines": ["ok", 3]}', "field 'lines[1]' must be a string"),
    (b'{"lines": ["a\\nb"]}', "field 'lines[0]' contains a line break"),
    (b'{"lines": []}', "lines: there is no non-blank line"),
])
def test_malformed_json_names_the_field(client, demo, roles, body, field):
    response = client.post(url(demo.project_id), content=body,
                           headers={**roles["service"], "content-type": "application/json"})
    assert response.status_code == 422 and field in response.json()["detail"], response.text


def test_malformed_ndjson_and_other_media_types(client, demo, roles):
    bad = client.post(url(demo.project_id), content=b'"ok"\n{"msg": 1}\n',
                      headers={**roles["service"], "content-type": "application/x-ndjson"})
    assert bad.status_code == 422 and "ndjson line 2" in bad.json()["detail"]
    xml = client.post(url(demo.project_id), content=b"<lines/>",
                      headers={**roles["service"], "content-type": "application/xml"})
    assert xml.status_code == 415 and "text/plain" in xml.json()["detail"]


def test_limits_answer_413_naming_the_limit(client, demo, roles, monkeypatch):
    monkeypatch.setenv("LOGACTION_SCORE_LIMIT_LINES", "30")
    lines = lines_of(31).lines
    too_many = client.post(url(demo.project_id), json={"lines": lines}, headers=roles["service"])
    assert too_many.status_code == 413 and "score_limit_lines" in too_many.json()["detail"]
    assert "30" in too_many.json()["detail"]
    assert client.post(url(demo.project_id), json={"lines": lines[:30]}, headers=roles["service"]).status_code == 200
    monkeypatch.setenv("LOGACTION_SCORE_LIMIT_BYTES", "1000")
    too_big = client.post(url(demo.project_id), content="\n".join(lines[:20]),
                          headers={**roles["service"], "content-type": "text/plain"})
    assert too_big.status_code == 413 and "score_limit_bytes" in too_big.json()["detail"]

    def chunks():  # no Content-Length: the limit is enforced while the body streams in
        for line in lines[:20]:
            yield (line + "\n").encode()

    streamed = client.post(url(demo.project_id), content=chunks(),
                           headers={**roles["service"], "content-type": "text/plain"})
    assert streamed.status_code == 413


def test_unknown_project_and_project_without_a_serving_model(client, session, roles):
    assert client.post(url(987654), json={"lines": ["x"]}, headers=roles["service"]).status_code == 404
    project, model, _ = fake_project(session, queued=0)
    model.is_serving = False
    session.commit()
    response = client.post(url(project.id), json={"lines": ["x"]}, headers=roles["service"])
    assert response.status_code == 409 and "no serving model" in response.json()["detail"]
    model.is_serving = True
    session.commit()
    stored = client.post(url(project.id), json={"lines": ["x"]}, headers=roles["service"])
    assert stored.status_code == 409 and "no stored model" in stored.json()["detail"]


def test_model_loaded_once_and_reloaded_after_promotion(client, demo, roles, session):
    versions = session.scalars(select(ModelVersion).order_by(ModelVersion.version)).all()
    assert len(versions) == 2 and versions[1].is_serving
    lines = lines_of(100).lines
    first = client.post(url(demo.project_id), json={"lines": lines}, headers=roles["service"]).json()
    loads = scoring.stats["loads"]
    for _ in range(3):
        again = client.post(url(demo.project_id), json={"lines": lines}, headers=roles["service"]).json()
        assert again == first
    assert scoring.stats["loads"] == loads  # warm: no reload per request
    rolled = client.post(f"/api/v1/projects/{demo.project_id}/models/{versions[0].id}/promote", headers=roles["admin"])
    assert rolled.status_code == 200
    older = client.post(url(demo.project_id), json={"lines": lines}, headers=roles["service"]).json()
    assert older["model_version"] == 0 and scoring.stats["loads"] == loads + 1
    assert [w["p_anomaly"] for w in older["windows"]] != [w["p_anomaly"] for w in first["windows"]]


def test_scores_match_the_model_scoring_the_same_windows(client, demo, roles, session):
    """The fast path gives the serving model's own numbers (ml.training.score over the same windows)."""
    from ml.scoring import fixed_windows_of, read_contents, TemplateMatcher
    from ml.training import score

    from app.services.models import load_bundle
    from app.services.systems import load_parser
    from app.services.training import to_rows

    lines = lines_of(120).lines
    answer = client.post(url(demo.project_id), json={"lines": lines}, headers=roles["service"]).json()
    system = session.get(System, demo.target_system_id)
    version = session.get(ModelVersion, demo.version_id)
    bundle = load_bundle(session, version)
    read = read_contents(lines, scoring.loaded_model(session, demo.project_id).fmt)
    cids, unknown = TemplateMatcher(load_parser(system)).match(read.contents)
    assert not unknown
    by_cluster = dict(session.execute(select(Template.cluster_id, Template.id)
                                      .where(Template.system_id == system.id)).all())
    template_ids = np.array([by_cluster[c] for c in cids.tolist()])
    batch = fixed_windows_of(template_ids, system.window_size, system.window_stride)
    expected = score(bundle, to_rows(batch.events, bundle.meta["template_ids"]), device="cpu")
    got = np.array([w["p_anomaly"] for w in answer["windows"]])
    assert np.allclose(got, expected.p_anomaly, atol=1e-5)


def _auc(positive: list[float], negative: list[float]) -> float:
    pos, neg = np.asarray(positive)[:, None], np.asarray(negative)[None, :]
    return float((pos > neg).mean() + 0.5 * (pos == neg).mean())


def test_windows_with_injected_anomalies_score_higher(client, demo, roles, monkeypatch):
    """Fresh synthetic-b lines (a seed the demo never saw) with their ground truth: windows holding an
    injected anomaly must score above the normal ones, and their top line must often be an anomalous one."""
    monkeypatch.setenv("LOGACTION_SCORE_MAX_EXPLAINED", "1000")
    log = lines_of(3000, seed=11)
    answer = client.post(url(demo.project_id), json={"lines": log.lines}, headers=roles["service"],
                         params={"explain": "all"}).json()
    anomalous, normal, top_hits = [], [], []
    for w in answer["windows"]:
        truth = bool(log.labels[w["first_line"]:w["last_line"] + 1].any())
        (anomalous if truth else normal).append(w["p_anomaly"])
        if truth and w["top_lines"]:
            top_hits.append(bool(log.labels[w["top_lines"][0]]))
    assert len(anomalous) > 20 and len(normal) > 100
    assert np.mean(anomalous) > np.mean(normal) + 0.01
    assert _auc(anomalous, normal) > 0.7
    # within an anomalous window about 3 of 20 lines are anomalous: a top line that is one far more often
    # than that share shows the attribution points at the injected lines
    assert np.mean(top_hits) > 0.3


def test_session_windows_follow_the_systems_session_regex(client, demo, roles, session):
    """A target read by session id: one window per session, and the change of the system reloads the model."""
    lines = lines_of(200).lines
    loads = scoring.stats["loads"]
    client.post(url(demo.project_id), json={"lines": lines}, headers=roles["service"])
    system = session.get(System, demo.target_system_id)
    system.session_regex = r"request_id=(\w+)"
    session.commit()
    answer = client.post(url(demo.project_id), json={"lines": lines}, headers=roles["service"]).json()
    assert scoring.stats["loads"] == loads + 1
    import re

    sessions: dict[str, list[int]] = {}
    for i, line in enumerate(lines):
        found = re.search(r"request_id=(\w+)", line)
        if found:
            sessions.setdefault(found.group(1), []).append(i)
    assert [(w["first_line"], w["last_line"]) for w in answer["windows"]] == [(s[0], s[-1]) for s in sessions.values()]
