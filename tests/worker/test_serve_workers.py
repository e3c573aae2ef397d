"""``labelbay serve --workers N``: every process has its own socket and gets connections."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil

from conftest import ADMIN, free_port


def _connections_by_pid(pids: list[int], port: int) -> dict[int, int]:
    counts: dict[int, int] = {}
    for pid in pids:
        try:
            found = psutil.Process(pid).net_connections(kind="tcp")
        except psutil.Error:
            continue
        counts[pid] = sum(
            1 for c in found if c.laddr and c.laddr.port == port and c.status == "ESTABLISHED"
        )
    return counts


def _listening(parent: int, port: int) -> list[int]:
    found = []
    for child in psutil.Process(parent).children():
        try:
            sockets = child.net_connections(kind="tcp")
        except psutil.Error:
            continue
        if any(c.laddr and c.laddr.port == port and c.status == "LISTEN" for c in sockets):
            found.append(child.pid)
    return found


def test_connections_are_spread_over_the_server_processes(tmp_path: Path) -> None:
    env = {**os.environ, "LABELBAY_DATA_DIR": str(tmp_path), "LABELBAY_PASSWORD": ADMIN[1]}
    env.pop("LABELBAY_DATABASE_URL", None)
    env.pop("LABELBAY_TEST_DATABASE_URL", None)
    cli = [sys.executable, "-m", "labelbay.cli"]
    subprocess.run([*cli, "user", "create", "--username", ADMIN[0], "--superuser"],
                   env=env, check=True, capture_output=True)  # fmt: skip
    port = free_port()
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        supervisor = subprocess.Popen(
            [*cli, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "3",
             "--log-level", "warning"],
            env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    clients = [httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) for _ in range(48)]
    try:
        deadline = time.monotonic() + 60
        # Its children: the three servers (once each listens) and multiprocessing's
        # resource tracker.
        while len(_listening(supervisor.pid, port)) < 3:
            assert supervisor.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        assert all(c.get("/api/server/about").status_code == 200 for c in clients)
        workers = psutil.Process(supervisor.pid).children()
        counts = _connections_by_pid([w.pid for w in workers], port)
        assert sum(counts.values()) == len(clients), counts
        # The kernel hashes connections over the three sockets: none is left out.
        assert len([pid for pid, count in counts.items() if count > 0]) == 3, counts
        for client in clients:
            client.close()
        supervisor.terminate()
        assert supervisor.wait(timeout=40) == 0
        # Every child (servers and multiprocessing's resource tracker) is gone soon after.
        _, alive = psutil.wait_procs(workers, timeout=15)
        assert not alive, alive
    finally:
        for client in clients:
            client.close()
        if supervisor.poll() is None:
            supervisor.kill()
            supervisor.wait()


def test_workers_stop_when_the_supervisor_is_killed(tmp_path: Path) -> None:
    env = {**os.environ, "LABELBAY_DATA_DIR": str(tmp_path)}
    env.pop("LABELBAY_DATABASE_URL", None)
    port = free_port()
    supervisor = subprocess.Popen(
        [sys.executable, "-m", "labelbay.cli", "serve", "--host", "127.0.0.1",
         "--port", str(port), "--workers", "2", "--log-level", "warning"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while len(_listening(supervisor.pid, port)) < 2:
            assert supervisor.poll() is None
            assert time.monotonic() < deadline
            time.sleep(0.2)
        workers = [psutil.Process(pid) for pid in _listening(supervisor.pid, port)]
        supervisor.kill()  # no chance to stop its workers itself
        supervisor.wait()
        _, alive = psutil.wait_procs(workers, timeout=30)
        assert not alive, alive
    finally:
        if supervisor.poll() is None:
            supervisor.kill()
            supervisor.wait()
