from __future__ import annotations


def test_healthz(client):
    assert client.get("/healthz").json() == {"status": "ok"}


def test_readyz_ok(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "broker": "ok"}


def test_readyz_names_the_broken_broker(client, monkeypatch):
    from app.settings import get_settings

    monkeypatch.setattr(get_settings(), "broker_url", "redis://127.0.0.1:1/0")
    response = client.get("/readyz")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["database"] == "ok" and checks["broker"].startswith("error")


def test_metrics_count_requests_and_jobs(client):
    client.get("/healthz")
    body = client.get("/metrics").text
    assert 'logaction_http_requests_total{method="GET",route="/healthz",status="200"}' in body
    assert "logaction_http_request_seconds_bucket" in body
