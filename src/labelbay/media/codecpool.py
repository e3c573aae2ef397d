"""Image encoding in worker processes, so that it uses every core.

Compressing a 1080p image costs about 20 ms of CPU. Pillow releases the GIL while it decodes
and encodes, but not in between, and two threads of one process reach only about 1.4 cores
on a 2-core machine where two processes reach 2. So the cache's build threads hand the
CPU-heavy part of an image build to a small pool of processes and wait for the bytes (the
waiting thread holds no GIL); single-flight, bounds and timeouts stay with the cache.

The workers come from a ``forkserver`` (never a fork of the threaded server) and import only
Pillow and :mod:`labelbay.media.frames`, about 20 MB each. The pool starts on first use.
``LABELBAY_CODEC_PROCESSES`` sets its size (default: one per CPU; 0 runs everything in the
calling thread, as tests of the codec itself do).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import ParamSpec, TypeVar

from labelbay.memory import tune_malloc

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

_PRELOAD = ["labelbay.media.frames", "labelbay.memory"]

_lock = threading.Lock()
_pool: ProcessPoolExecutor | None = None
_size = -1


def configure(processes: int) -> None:
    """Sets the pool size (-1: one per CPU, 0: no processes); takes effect on next use."""
    global _size
    close()
    with _lock:
        _size = processes


def _workers() -> int:
    if _size >= 0:
        return _size
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _get() -> ProcessPoolExecutor | None:
    global _pool
    with _lock:
        if _pool is None:
            workers = _workers()
            if workers == 0:
                return None
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(_PRELOAD)
            _pool = ProcessPoolExecutor(workers, mp_context=context, initializer=tune_malloc)
        return _pool


def run(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """``fn(*args, **kwargs)`` in a worker process (``fn`` and its arguments must pickle);
    in this thread when the pool is off. A pool whose worker died is replaced once."""
    for attempt in (1, 2):
        pool = _get()
        if pool is None:
            return fn(*args, **kwargs)
        try:
            return pool.submit(fn, *args, **kwargs).result()
        except BrokenProcessPool:
            log.warning("an image worker process died; starting a new pool")
            _discard(pool)
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _discard(pool: ProcessPoolExecutor) -> None:
    global _pool
    with _lock:
        if _pool is pool:
            _pool = None
    pool.shutdown(wait=False, cancel_futures=True)


def close() -> None:
    """Stops the workers (the server's shutdown); the next ``run`` starts a new pool."""
    global _pool
    with _lock:
        pool, _pool = _pool, None
    if pool is not None:
        pool.shutdown(wait=True, cancel_futures=True)
