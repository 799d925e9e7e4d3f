"""Items 7-9 on PostgreSQL: a malformed upload is refused naming its line and leaves nothing; an oversized
one gets 413 before any line is read, whatever the client says about its length; hostile names never reach
the file system. The SQLite versions of the basic cases live in tests/app/test_datasets.py."""

from __future__ import annotations

import gzip
import re
import socket

import httpx
import pytest
from sqlalchemy import func, select

from app.db.models import Dataset, LogLine
from app.settings import get_settings
from tests.app_fixtures import make_system, synthetic_text
from tests.reliability.conftest import new_user

pytestmark = pytest.mark.services
STORED = re.compile(r"[0-9a-f]{32}(\.gz)?")


@pytest.fixture
def admin(services):
    return new_user("admin")[1]


@pytest.fixture
def system(api, admin):
    return make_system(api, admin)


def files_under(folder) -> set[str]:
    """Every file below ``folder`` (temp parts included), as paths relative to it."""
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()} if folder.exists() else set()


def rows(db, model, system_id: int) -> int:
    db.rollback()
    return db.scalar(select(func.count()).select_from(model).where(model.system_id == system_id))


def broken(n_lines: int, bad_line: int) -> str:
    lines = synthetic_text(n_lines=n_lines).splitlines()
    lines[bad_line - 1] = "this line does not match the format"
    return "\n".join(lines) + "\n"


# --- item 7: malformed uploads --------------------------------------------------------------------------

def send(api, headers, system_id: int, how: str, text: str):
    if how == "multipart":
        return api.post(f"/api/v1/systems/{system_id}/datasets", headers=headers,
                        files={"file": ("app.log", text, "text/plain")})
    if how == "raw":
        return api.post(f"/api/v1/systems/{system_id}/datasets", content=text,
                        headers={**headers, "content-type": "application/octet-stream"})
    if how == "gzip":
        return api.post(f"/api/v1/systems/{system_id}/datasets", content=gzip.compress(text.encode()),
                        headers={**headers, "content-type": "application/octet-stream"})
    if how == "lines-json":
        return api.post(f"/api/v1/systems/{system_id}/lines", headers=headers, json={"lines": text.splitlines()})
    return api.post(f"/api/v1/systems/{system_id}/lines", content=text,
                    headers={**headers, "content-type": "text/plain"})


@pytest.mark.parametrize("how", ["multipart", "raw", "gzip", "lines-json", "lines-text"])
def test_a_malformed_line_is_named_and_nothing_remains(api, admin, system, db, how):
    folder = get_settings().uploads_path
    before = files_under(folder)
    response = send(api, admin, system["id"], how, broken(120, bad_line=83))
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert detail["line_no"] == 83 and "line 83" in detail["message"]
    assert rows(db, Dataset, system["id"]) == 0 and rows(db, LogLine, system["id"]) == 0
    assert files_under(folder) == before


@pytest.mark.parametrize("body", [b"\x1f\x8b" + b"not really gzip" * 50,
                                  gzip.compress(synthetic_text(n_lines=200).encode())[:700],
                                  b"\x00\xff" * 300])
def test_a_corrupt_or_binary_file_is_a_clear_4xx_and_nothing_remains(api, admin, system, db, body):
    folder = get_settings().uploads_path
    before = files_under(folder)
    response = api.post(f"/api/v1/systems/{system['id']}/datasets", content=body,
                        headers={**admin, "content-type": "application/octet-stream"})
    assert 400 <= response.status_code < 500, response.text
    assert "Traceback" not in response.text and response.json()["detail"]
    assert rows(db, Dataset, system["id"]) == 0 and files_under(folder) == before


def test_a_form_without_a_file_part_is_400_and_nothing_remains(api, admin, system):
    folder = get_settings().uploads_path
    before = files_under(folder)
    response = api.post(f"/api/v1/systems/{system['id']}/datasets", headers=admin, data={"note": "no file"},
                        files={"other": ("x.log", "abc", "text/plain")})
    assert response.status_code == 400 and "'file'" in response.json()["detail"]
    assert files_under(folder) == before


# --- item 8: oversized uploads --------------------------------------------------------------------------

@pytest.fixture
def limit(monkeypatch):
    """A small upload limit; the oversized bodies below are all malformed too, so a 413 (not a 422) shows
    the size was refused before any line was parsed."""
    monkeypatch.setattr(get_settings(), "upload_limit_bytes", 4096)
    monkeypatch.setattr(get_settings(), "append_limit_bytes", 4096)
    return 4096


def garbage(n: int) -> bytes:
    return (b"not a log line\n" * (n // 15 + 1))[:n]


def test_limit_plus_one_byte_is_413_and_the_limit_itself_is_accepted(api, admin, system, monkeypatch):
    data = synthetic_text(n_lines=30).encode()
    monkeypatch.setattr(get_settings(), "upload_limit_bytes", len(data))
    ok = api.post(f"/api/v1/systems/{system['id']}/datasets", content=data, params={"ingest": "false"},
                  headers={**admin, "content-type": "application/octet-stream"})
    assert ok.status_code == 201, ok.text
    for body in (data + b"x", garbage(len(data) + 1)):
        over = api.post(f"/api/v1/systems/{system['id']}/datasets", content=body,
                        headers={**admin, "content-type": "application/octet-stream"})
        assert over.status_code == 413 and f"{len(data)} bytes" in over.json()["detail"]


@pytest.mark.parametrize("how", ["multipart", "lying-length", "chunked", "lines-json", "lines-text"])
def test_oversized_bodies_get_413_before_parsing_and_leave_no_file(api, admin, system, db, limit, how):
    folder = get_settings().uploads_path
    before = files_under(folder)
    body = garbage(limit + 1)
    url = f"/api/v1/systems/{system['id']}/datasets"
    if how == "multipart":
        response = api.post(url, headers=admin, files={"file": ("big.log", body, "text/plain")})
    elif how == "lying-length":  # the header says 100 bytes; the app must count what actually arrives
        response = api.post(url, content=body, headers={**admin, "content-type": "application/octet-stream",
                                                        "content-length": "100"})
    elif how == "chunked":
        response = api.post(url, content=iter([body[i:i + 1000] for i in range(0, len(body), 1000)]),
                            headers={**admin, "content-type": "application/octet-stream"})
    elif how == "lines-json":
        lines = ["x" * 100] * (limit // 100 + 1)
        response = api.post(f"/api/v1/systems/{system['id']}/lines", headers=admin, json={"lines": lines})
    else:
        response = api.post(f"/api/v1/systems/{system['id']}/lines", content=body,
                            headers={**admin, "content-type": "text/plain"})
    assert response.status_code == 413, response.text
    assert rows(db, Dataset, system["id"]) == 0 and files_under(folder) == before


def test_over_real_http_a_too_long_declared_body_is_refused_before_it_is_sent(live_server, admin, system, limit):
    """Only the headers go out; the server answers 413 at once instead of waiting for 100 MB."""
    token = admin["Authorization"]
    request = (f"POST /api/v1/systems/{system['id']}/datasets HTTP/1.1\r\nHost: 127.0.0.1\r\n"
               f"Authorization: {token}\r\nContent-Type: application/octet-stream\r\n"
               f"Content-Length: {100 * 1024 * 1024}\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", live_server.port), timeout=5) as sock:
        sock.sendall(request)
        answer = sock.recv(4096).decode("latin-1")
    assert answer.startswith("HTTP/1.1 413"), answer


def test_over_real_http_a_chunked_stream_is_cut_at_the_limit(live_server, admin, system, limit):
    folder = get_settings().uploads_path
    before = files_under(folder)
    sent = []

    def stream():
        for _ in range(10_000):  # 10 MB unless the server stops reading
            sent.append(1024)
            yield garbage(1024)

    with httpx.Client(base_url=live_server.url, timeout=10) as client:
        try:
            response = client.post(f"/api/v1/systems/{system['id']}/datasets", content=stream(),
                                   headers={**admin, "content-type": "application/octet-stream"})
            status = response.status_code
        except httpx.HTTPError:  # the server may close the connection while we are still sending
            status = 413
    assert status == 413
    assert files_under(folder) == before


# --- item 9: hostile names ------------------------------------------------------------------------------

HOSTILE = ["../x.log", "..%2fx.log", "%2e%2e%2fx.log", "/etc/passwd", "..\\..\\x.log", "C:\\Windows\\x.log",
           "../uploads-evil/x.log", "uploads-evil/../../x.log", "x\x00.log", ".htaccess", "..", ""]


@pytest.mark.parametrize("how", ["multipart", "raw"])
def test_hostile_file_names_are_display_names_only(api, admin, system, db, how):
    folder = get_settings().uploads_path
    outside = files_under(folder.parent) - {f"uploads/{f}" for f in files_under(folder)}
    data = synthetic_text(n_lines=20)
    for name in HOSTILE if how == "raw" else HOSTILE[:-1]:  # a part with an empty filename is no file part
        if how == "multipart":
            response = api.post(f"/api/v1/systems/{system['id']}/datasets", headers=admin,
                                params={"ingest": "false"}, files={"file": (name, data, "text/plain")})
        else:
            response = api.post(f"/api/v1/systems/{system['id']}/datasets", content=data,
                                params={"ingest": "false", "filename": name},
                                headers={**admin, "content-type": "application/octet-stream"})
        assert response.status_code == 201, (name, response.text)
        db.rollback()
        dataset = db.get(Dataset, response.json()["dataset"]["id"])
        assert STORED.fullmatch(dataset.stored_name), dataset.stored_name
        shown = dataset.original_name
        assert "/" not in shown and "\\" not in shown and "\x00" not in shown and not shown.startswith("."), shown
        assert (folder / dataset.stored_name).resolve().parent == folder.resolve()
    # Nothing was written anywhere but the upload folder.
    assert files_under(folder.parent) - {f"uploads/{f}" for f in files_under(folder)} == outside


def test_stored_names_that_leave_the_folder_are_refused(services):
    from app.services.uploads import UploadInvalid, resolve_stored

    folder = get_settings().uploads_path
    folder.mkdir(parents=True, exist_ok=True)
    sibling = folder.parent / f"{folder.name}-evil"  # same prefix: passes a naive startswith check
    sibling.mkdir(exist_ok=True)
    (sibling / ("a" * 32)).write_text("secret")
    for bad in (f"../{sibling.name}/{'a' * 32}", str(sibling / ("a" * 32)), "../" + "a" * 32, "a" * 32 + "/..",
                "%2e%2e%2f" + "a" * 32, "A" * 32, "a" * 31):
        with pytest.raises(UploadInvalid):
            resolve_stored(folder, bad)
    assert resolve_stored(folder, "a" * 32) == folder.resolve() / ("a" * 32)


def test_hostile_system_and_project_names_touch_no_path(api, admin):
    """Names of systems are labels in the database only; nothing is created on disk for them."""
    folder = get_settings().uploads_path
    before = files_under(folder.parent)
    for name in ("../x", "..%2fx", "/etc/passwd", "uploads-evil"):
        response = api.post("/api/v1/systems", headers=admin, json={"name": name, "log_format": "synthetic-a"})
        assert response.status_code in (201, 409, 422), response.text
    assert files_under(folder.parent) == before
