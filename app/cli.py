"""``logaction``: serve, worker, db, users, tokens, and the ML commands of ``ml.cli``.

Heavy modules (torch, FastAPI, Celery) are imported inside the commands, so ``--help`` is instant.
"""

from __future__ import annotations

import argparse
import os
import sys


def _serve(args) -> int:
    import uvicorn

    from app.db import migrate
    from app.main import create_app
    from app.settings import get_settings

    settings = get_settings()
    if args.migrate or settings.sqlalchemy_url.startswith("sqlite"):
        migrate.upgrade("head")  # the embedded database migrates itself; production runs `db upgrade`
    app = create_app(settings)
    if args.demo:
        app.state.on_ready.append(lambda: _seed_demo(settings, args.host, args.port))
    uvicorn.run(app, host=args.host, port=args.port, log_level="info", proxy_headers=True)
    return 0


def _seed_demo(settings, host: str, port: int) -> None:
    from app.db.session import session_scope
    from app.services.demo import seed_demo
    from app.services.jobs import flush_outbox

    with session_scope() as session:
        login = seed_demo(session, settings=settings)
    flush_outbox()
    password = login.password or "(unknown: set one with `logaction users set-password`)"
    print(f"\n  LogAction Studio demo: http://{host}:{port}\n  sign in as {login.email} / {password}\n"
          "  (ingest, base training and the first labeling queue run as jobs; watch them on the page)\n",
          flush=True)


def _worker(args) -> int:
    os.environ["LOGACTION_DEVICE"] = args.device
    from app.settings import get_settings

    get_settings.cache_clear()
    from app.tasks.celery_app import celery_app

    worker = celery_app.Worker(concurrency=args.concurrency, pool=args.pool, loglevel=args.loglevel,
                               hostname=args.hostname, queues=args.queues.split(","))
    worker.start()
    return worker.exitcode or 0


def _db(args) -> int:
    from app.db import migrate

    if args.action == "upgrade":
        migrate.upgrade(args.revision or "head")
    elif args.action == "downgrade":
        if not args.revision:
            print("error: downgrade needs a revision (e.g. base or -1)", file=sys.stderr)
            return 2
        migrate.downgrade(args.revision)
    elif args.action == "current":
        migrate.current()
    else:
        migrate.check()
        print("the database models match the migrations")
    return 0


def _users_create(args) -> int:
    from app.db.session import session_scope
    from app.security import generate_password
    from app.services.users import UserError, create_user

    password = args.password or (None if args.role == "service" else generate_password())
    try:
        with session_scope() as session:
            user = create_user(session, email=args.email, role=args.role, password=password)
            email, role = user.email, user.role
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"created {role} {email}")
    if password and not args.password:
        print(f"password: {password}")
    return 0


def _users_set_password(args) -> int:
    from app.db.session import session_scope
    from app.security import generate_password, hash_password
    from app.services.users import get_user_by_email

    password = args.password or generate_password()
    with session_scope() as session:
        user = get_user_by_email(session, email=args.email)
        if user is None:
            print(f"error: no user {args.email}", file=sys.stderr)
            return 1
        user.password_hash = hash_password(password)
    if not args.password:
        print(f"password: {password}")
    return 0


def _tokens_create(args) -> int:
    from app.db.session import session_scope
    from app.services.users import create_token, get_user_by_email

    with session_scope() as session:
        user = get_user_by_email(session, email=args.user)
        if user is None:
            print(f"error: no user {args.user}", file=sys.stderr)
            return 1
        _, secret = create_token(session, user=user, name=args.name)
    print(secret)  # shown once; only its hash is stored
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="logaction", description="LogAction Studio")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the web server (and, in embedded mode, a worker thread)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--demo", action="store_true", help="seed the demo admin, systems and project")
    serve.add_argument("--migrate", action="store_true", help="run database migrations before serving")
    serve.set_defaults(func=_serve)

    worker = sub.add_parser("worker", help="run a Celery worker for the background jobs")
    worker.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    worker.add_argument("--concurrency", type=int, default=1)
    worker.add_argument("--pool", choices=("prefork", "solo", "threads"), default="prefork")
    worker.add_argument("--loglevel", default="INFO")
    worker.add_argument("--hostname", default=None, help="worker node name (default celery@host)")
    worker.add_argument("--queues", default="logaction,ingest",
                        help="queues to consume: 'ingest' needs the upload folder, 'logaction' only the DB")
    worker.set_defaults(func=_worker)

    db = sub.add_parser("db", help="database migrations")
    db.add_argument("action", choices=("upgrade", "downgrade", "current", "check"))
    db.add_argument("revision", nargs="?", default=None, help="target revision (upgrade: head)")
    db.set_defaults(func=_db)

    users = sub.add_parser("users", help="manage users").add_subparsers(dest="users_command", required=True)
    create = users.add_parser("create", help="create a user (prints a generated password)")
    create.add_argument("--email", required=True)
    create.add_argument("--role", choices=("admin", "labeler", "service"), required=True)
    create.add_argument("--password", default=None)
    create.set_defaults(func=_users_create)
    setpw = users.add_parser("set-password", help="set or reset a user's password")
    setpw.add_argument("--email", required=True)
    setpw.add_argument("--password", default=None)
    setpw.set_defaults(func=_users_set_password)

    tokens = sub.add_parser("tokens", help="manage API tokens").add_subparsers(dest="tokens_command", required=True)
    token = tokens.add_parser("create", help="create an API token (printed once)")
    token.add_argument("--user", required=True, help="the user's email")
    token.add_argument("--name", default="")
    token.set_defaults(func=_tokens_create)

    _register_ml(sub)
    return parser


def _register_ml(sub) -> None:
    try:
        from ml.cli import register
    except ImportError:  # the ML commands are optional for the server
        return
    register(sub)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
