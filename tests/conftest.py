"""Shared fixtures: a real ``labelbay serve`` on a free loopback port, its database, users.

The server runs as a separate process exactly as a user starts it. With
``LABELBAY_TEST_DATABASE_URL`` set it runs on that PostgreSQL database (reset first);
otherwise on a SQLite file in a temporary data dir.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from labelbay.db import make_engine, make_sessionmaker, session_scope

ADMIN = ("admin", "admin-password-1")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def reset_postgres(url: str) -> None:
    """Creates the test database if needed and empties it."""
    head, _, dbname = url.rpartition("/")
    admin = create_engine(f"{head}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": dbname})
        if not exists:
            conn.execute(text(f'CREATE DATABASE "{dbname}"'))
    admin.dispose()
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@dataclass
class Server:
    url: str
    host: str
    port: int
    data_dir: Path
    database_url: str
    process: subprocess.Popen[bytes]

    def create_user(
        self, username: str | None = None, *, superuser: bool = False
    ) -> tuple[str, str]:
        from labelbay.users.service import create_user

        username = username or f"user{secrets.token_hex(4)}"
        password = f"pw-{secrets.token_hex(6)}"
        engine = make_engine(self.database_url)
        try:
            with session_scope(make_sessionmaker(engine)) as session:
                create_user(session, username=username, password=password, superuser=superuser)
        finally:
            engine.dispose()
        return username, password


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"labelbay serve exited early:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/api/server/about", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"labelbay serve did not start:\n{log.read_text()}")


@contextmanager
def launch_server(
    data_dir: Path, env_overrides: dict[str, str] | None = None, *, db_suffix: str = ""
) -> Iterator[Server]:
    """Starts ``labelbay serve`` on a free port with its own data dir; stops it afterwards.

    With LABELBAY_TEST_DATABASE_URL set, the database is that PostgreSQL database (plus
    ``db_suffix``, so that several servers can run at once), emptied first; otherwise a SQLite
    file in ``data_dir``.
    """
    database_url = os.environ.get("LABELBAY_TEST_DATABASE_URL", "")
    if database_url:
        database_url += db_suffix
        reset_postgres(database_url)
    else:
        database_url = f"sqlite:///{data_dir / 'labelbay.db'}"
    env = {**os.environ, "LABELBAY_DATABASE_URL": database_url,
           "LABELBAY_DATA_DIR": str(data_dir), "LABELBAY_PASSWORD": ADMIN[1],
           **(env_overrides or {})}  # fmt: skip
    cli = [sys.executable, "-m", "labelbay.cli"]
    subprocess.run([*cli, "user", "create", "--username", ADMIN[0], "--superuser"],
                   env=env, check=True, capture_output=True)  # fmt: skip
    port = free_port()
    log = data_dir / "server.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [*cli, "serve", "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
            env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, process, log)
        yield Server(url, "http://127.0.0.1", port, data_dir, database_url, process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        text_log = log.read_text(errors="replace")
        if "Traceback" in text_log:
            sys.stderr.write("server log had errors:\n" + text_log)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The server most tests share. Images over 50 megapixels are refused by it."""
    limits = {"LABELBAY_MAX_IMAGE_PIXELS": str(50_000_000)}
    with launch_server(tmp_path_factory.mktemp("labelbay-data"), limits) as running:
        yield running


@pytest.fixture
def http(server: Server) -> Iterator[httpx.Client]:
    """A plain HTTP client signed in as the administrator with a token."""
    with httpx.Client(base_url=server.url, timeout=60) as client:
        key = client.post("/api/auth/login", json={"username": ADMIN[0], "password": ADMIN[1]})
        key.raise_for_status()
        client.headers["Authorization"] = f"Token {key.json()['key']}"
        yield client
