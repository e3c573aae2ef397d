"""The ``labelbay`` command: ``serve``, ``worker``, ``user create``, ``db upgrade``."""

from __future__ import annotations

import argparse
import getpass
import logging
import os
import sys
from pathlib import Path

from labelbay.config import Settings

log = logging.getLogger("labelbay")


def _settings(args: argparse.Namespace) -> Settings:
    if getattr(args, "data_dir", None):
        return Settings(data_dir=Path(args.data_dir))
    return Settings()


def _upgrade(settings: Settings) -> None:
    from labelbay.db import make_engine, upgrade_to_head

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.resolved_database_url)
    try:
        upgrade_to_head(engine)
    finally:
        engine.dispose()


def _hint_first_user(settings: Settings) -> None:
    from sqlalchemy import func, select

    from labelbay.db import make_engine
    from labelbay.users.models import User

    engine = make_engine(settings.resolved_database_url)
    try:
        with engine.connect() as conn:
            if not conn.scalar(select(func.count()).select_from(User)):
                log.warning(
                    "no users yet: create one with "
                    "`labelbay user create --username admin --superuser`"
                )
    finally:
        engine.dispose()


def cmd_serve(args: argparse.Namespace) -> int:
    import gc

    import uvicorn

    # Large JSON payloads (100k annotations) create millions of short-lived objects; the
    # default collector thresholds roughly double the time spent on them.
    gc.set_threshold(100_000, 50, 100)
    settings = _settings(args)
    _upgrade(settings)
    if args.data_dir:
        # Worker processes (--workers) read settings from the environment.
        os.environ["LABELBAY_DATA_DIR"] = str(Path(args.data_dir).resolve())
    _hint_first_user(settings)
    log.info("serving on http://%s:%s (data in %s)", args.host, args.port, settings.data_dir)
    if args.workers > 1:
        from labelbay.serving import serve_workers

        return serve_workers(args.host, args.port, args.workers, args.log_level)
    else:
        from labelbay.app import create_app

        app = create_app(settings)
        # Everything loaded so far lives for the whole process: keep it out of collections,
        # whose full passes would otherwise walk it inside requests.
        gc.collect()
        gc.freeze()
        uvicorn.run(
            app, host=args.host, port=args.port, log_level=args.log_level,
            proxy_headers=True,
        )  # fmt: skip
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from labelbay.memory import tune_malloc
    from labelbay.worker import run_worker

    tune_malloc()

    settings = _settings(args)
    return run_worker(settings, concurrency=args.concurrency or settings.queue_workers or 1)


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    _upgrade(_settings(args))
    print("database is up to date")
    return 0


def _read_password(args: argparse.Namespace) -> str:
    if args.password:
        return str(args.password)
    if os.environ.get("LABELBAY_PASSWORD"):
        return os.environ["LABELBAY_PASSWORD"]
    if sys.stdin.isatty():
        first = getpass.getpass("Password: ")
        if first != getpass.getpass("Password (again): "):
            raise SystemExit("the passwords differ")
        return first
    return sys.stdin.readline().rstrip("\n")


def cmd_user_create(args: argparse.Namespace) -> int:
    from labelbay.db import make_engine, make_sessionmaker, session_scope
    from labelbay.errors import AppError
    from labelbay.users.service import create_user

    settings = _settings(args)
    _upgrade(settings)
    password = _read_password(args)
    engine = make_engine(settings.resolved_database_url)
    try:
        with session_scope(make_sessionmaker(engine)) as session:
            user = create_user(
                session,
                username=args.username,
                password=password,
                email=args.email or "",
                superuser=args.superuser,
            )
            user_id = user.id
    except AppError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    print(f"created user {args.username} (id {user_id})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="labelbay", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="apply migrations and serve the API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--data-dir", help="where the database and media live (LABELBAY_DATA_DIR)")
    serve.add_argument("--workers", type=int, default=1, help="server processes")
    serve.add_argument("--log-level", default="info")
    serve.set_defaults(func=cmd_serve)

    worker = sub.add_parser("worker", help="run background actors (Redis when LABELBAY_REDIS_URL)")
    worker.add_argument("--concurrency", type=int, help="threads (default LABELBAY_QUEUE_WORKERS)")
    worker.add_argument("--data-dir", help="where the database and media live (LABELBAY_DATA_DIR)")
    worker.set_defaults(func=cmd_worker)

    user = sub.add_parser("user", help="manage users").add_subparsers(dest="action", required=True)
    create = user.add_parser("create", help="create a user")
    create.add_argument("--username", required=True)
    create.add_argument("--password", help="or LABELBAY_PASSWORD, or a line on stdin")
    create.add_argument("--email")
    create.add_argument("--superuser", action="store_true")
    create.add_argument("--data-dir")
    create.set_defaults(func=cmd_user_create)

    db = sub.add_parser("db", help="database").add_subparsers(dest="action", required=True)
    upgrade = db.add_parser("upgrade", help="apply migrations")
    upgrade.add_argument("--data-dir")
    upgrade.set_defaults(func=cmd_db_upgrade)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
