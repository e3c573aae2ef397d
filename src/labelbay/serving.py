"""``labelbay serve --workers N``: N server processes, each with its own listening socket.

uvicorn's own ``--workers`` shares one listening socket between its processes. A keep-alive
connection stays with the process that accepted it, and when many clients connect at once
(annotators opening a fresh task) one process usually accepts nearly all of them, so the
other cores sit idle. Here every process binds its own socket to the same address with
``SO_REUSEPORT`` and the kernel spreads new connections over them evenly.

The supervisor (this process) starts the workers, restarts one that dies (at most
``MAX_RESTARTS`` times a minute), and on SIGTERM/SIGINT stops them all and waits for them.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import logging
import multiprocessing
import os
import signal
import socket
import time
from multiprocessing.process import BaseProcess
from types import FrameType

log = logging.getLogger(__name__)

MAX_RESTARTS = 5
_PR_SET_PDEATHSIG = 1
STOP_TIMEOUT = 30.0


def reuse_port_socket(host: str, port: int) -> socket.socket:
    """A socket bound to (host, port) that other processes may bind too (``SO_REUSEPORT``)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def _die_with(parent: int) -> None:
    """Linux: this process gets SIGTERM when the supervisor dies, even by SIGKILL."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # it died before the line above
        os.kill(os.getpid(), signal.SIGTERM)


def _worker(host: str, port: int, log_level: str, parent: int) -> None:
    import uvicorn

    _die_with(parent)
    sock = reuse_port_socket(host, port)
    config = uvicorn.Config(
        "labelbay.app:create_app", factory=True, log_level=log_level, proxy_headers=True
    )
    uvicorn.Server(config).run(sockets=[sock])


def serve_workers(host: str, port: int, workers: int, log_level: str) -> int:
    """Runs ``workers`` server processes until SIGTERM/SIGINT; the exit status."""
    if not hasattr(socket, "SO_REUSEPORT"):
        raise SystemExit("--workers above 1 needs SO_REUSEPORT (Linux, macOS, BSD)")
    # Fail here, clearly, if the address is taken by something that does not share it.
    reuse_port_socket(host, port).close()
    context = multiprocessing.get_context("spawn")
    stopping = False

    def start(slot: int) -> BaseProcess:
        process = context.Process(
            target=_worker,
            args=(host, port, log_level, os.getpid()),
            name=f"labelbay-serve-{slot}",
        )
        process.start()
        return process

    def stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    processes = [start(slot) for slot in range(workers)]
    restarts: list[float] = []
    status = 0
    try:
        while not stopping:
            time.sleep(0.2)
            for slot, process in enumerate(processes):
                if process.is_alive() or stopping:
                    continue
                now = time.monotonic()
                restarts = [t for t in restarts if now - t < 60] + [now]
                if len(restarts) > MAX_RESTARTS:
                    log.error("server processes keep dying; stopping")
                    stopping, status = True, 1
                    break
                log.warning("server process %s exited (%s); restarting", slot, process.exitcode)
                processes[slot] = start(slot)
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()
        deadline = time.monotonic() + STOP_TIMEOUT
        for process in processes:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return status
