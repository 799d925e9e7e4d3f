"""The embedded demo: an admin, two synthetic systems and a project, seeded once (idempotent)."""

from __future__ import annotations

import hashlib
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.models import Dataset, Project, System
from app.services.jobs import create_job
from app.services.projects import create_project
from app.services.systems import create_system
from app.services.users import create_user, get_user_by_email
from app.security import generate_password
from app.settings import Settings

ADMIN_EMAIL = "admin@demo.local"
PROJECT = "demo: synthetic-a → synthetic-b"
# (name, lines, window stride): the target is cut with overlap so its pool is large enough to label from.
SYSTEMS = (("synthetic-a", 20000, 20, "source"), ("synthetic-b", 30000, 10, "target"))


@dataclass
class DemoLogin:
    email: str
    password: str | None  # None when the admin existed before and no saved password was found


def seed_demo(session: Session, *, settings: Settings, scale: float = 1.0,
              train_options: dict | None = None) -> DemoLogin:
    """Seed what is missing; jobs (ingest, then training, then the queue) follow on their own.

    :param scale: multiplies the number of generated lines (tests use a small demo)
    :param train_options: TrainConfig overrides for the demo project
    """
    login = _admin(session, settings)
    if session.scalar(select(Project).where(Project.name == PROJECT)) is None:
        systems = {name: _system(session, settings, name, max(200, int(n * scale)), stride, role)
                   for name, n, stride, role in SYSTEMS}
        create_project(session, name=PROJECT, target_system_id=systems["synthetic-b"].id,
                       source_system_ids=[systems["synthetic-a"].id], train_options=train_options or {})
    return login


def _admin(session: Session, settings: Settings) -> DemoLogin:
    saved = settings.var_dir / "demo-login.txt"
    if get_user_by_email(session, email=ADMIN_EMAIL) is not None:
        password = saved.read_text().strip() if saved.exists() else None
        return DemoLogin(ADMIN_EMAIL, password)
    password = generate_password()
    create_user(session, email=ADMIN_EMAIL, role="admin", password=password)
    saved.parent.mkdir(parents=True, exist_ok=True)
    # Kept (owner-readable only) so a restarted demo can print the same login again.
    fd = os.open(saved, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(password + "\n")
    return DemoLogin(ADMIN_EMAIL, password)


def _system(session: Session, settings: Settings, name: str, n_lines: int, stride: int, role: str) -> System:
    from ml.synthetic import generate

    system = session.scalar(select(System).where(System.name == name))
    if system is None:
        # The target's lines carry no label token: its ground truth goes into a side file, kept in the
        # database for evaluation only; operators never see it.
        log = generate(name, n_lines=n_lines, seed=0, label_token=role == "source")
        system = create_system(session, name=name, log_format=log.format, label_rule=log.label_rule,
                               window_size=20, window_stride=stride)
        path, size, digest = _store(settings.uploads_path, "".join(f"{line}\n" for line in log.lines))
        truth = None
        if log.label_rule is None:
            rows = "".join(f"{i},{int(v)}\n" for i, v in enumerate(log.labels, start=1))
            truth = _store(settings.uploads_path, "line,label\n" + rows, suffix=".csv")[0].name
        dataset = Dataset(system_id=system.id, role=role, original_name=f"{name}.log", stored_name=path.name,
                          truth_name=truth, size_bytes=size, sha256=digest, line_count=len(log.lines))
        session.add(dataset)
        session.flush()
        create_job(session, kind="ingest", dataset_id=dataset.id, idempotency_key=f"ingest:{dataset.id}:{digest}:0")
    return system


def _store(directory: Path, text: str, suffix: str = "") -> tuple[Path, int, str]:
    directory.mkdir(parents=True, exist_ok=True)
    data = text.encode()
    path = directory / (uuid.uuid4().hex + suffix)
    path.write_bytes(data)
    return path, len(data), hashlib.sha256(data).hexdigest()
