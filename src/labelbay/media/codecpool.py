"""Background image and video encoding in worker processes: every core, and requests first.

Compressing a 1080p image costs about 20 ms of CPU. Pillow releases the GIL while it decodes
and encodes, but not in between, and two threads of one process reach only about 1.4 cores
on a 2-core machine where two processes reach 2. So the background work (pre-generation,
images compressed on arrival) hands its CPU-heavy part to a small pool of processes and
waits for the bytes (the waiting thread holds no GIL); single-flight, bounds and timeouts
stay with the cache. The workers run at a lower CPU priority (nice 10): a build a request
waits for runs in the server's own threads at normal priority and gets the CPU first.

The workers come from a ``forkserver`` (never a fork of the threaded server) and import only
Pillow, PyAV and the codec modules (:mod:`labelbay.media.frames`, :mod:`labelbay.media.video`).
Video chunks are made there too: one decoding pass gives the MP4 and every frame's JPEG.
The pool starts on first use. ``LABELBAY_CODEC_PROCESSES`` sets its size (default: one per
CPU; 0 runs everything in the calling thread, as tests of the codec itself do).
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import ParamSpec, TypeVar

from labelbay.memory import tune_malloc

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

NICENESS = 10
_PRELOAD = ["labelbay.media.frames", "labelbay.media.video", "labelbay.memory"]

IDLE_SECONDS = 30.0
"""A pool with no work for this long stops its workers (the next ``run`` starts them again):
an idle server does not keep a process per CPU."""

_lock = threading.Lock()
_pool: ProcessPoolExecutor | None = None
_size = -1
_busy = 0
_last_used = 0.0
_reaper: threading.Thread | None = None


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
            _pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker)
            _start_reaper()
        return _pool


def _start_reaper() -> None:
    """Called with the lock held: one daemon thread that stops the pool once it idles."""
    global _reaper
    if _reaper is None or not _reaper.is_alive():
        _reaper = threading.Thread(target=_reap, name="codec-pool-reaper", daemon=True)
        _reaper.start()


def _reap() -> None:
    global _pool
    while True:
        time.sleep(min(5.0, IDLE_SECONDS / 2))
        with _lock:
            pool = _pool
            if pool is None:
                return
            if _busy or time.monotonic() - _last_used < IDLE_SECONDS:
                continue
            _pool = None
        pool.shutdown(wait=True)
        log.debug("codec processes stopped after %.0f s without work", IDLE_SECONDS)
        return


def _start_worker() -> None:
    tune_malloc()
    with contextlib.suppress(OSError):
        os.nice(NICENESS)


def run(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """``fn(*args, **kwargs)`` in a worker process (``fn`` and its arguments must pickle);
    in this thread when the pool is off. A pool whose worker died is replaced once."""
    global _busy, _last_used
    for attempt in (1, 2, 3):
        pool = _get()
        if pool is None:
            return fn(*args, **kwargs)
        with _lock:
            _busy += 1
        try:
            try:
                future = pool.submit(fn, *args, **kwargs)
            except RuntimeError:  # stopped by the reaper between _get and submit
                continue
            try:
                return future.result()
            except BrokenProcessPool:
                log.warning("an image worker process died; starting a new pool")
                _discard(pool)
                if attempt == 3:
                    raise
        finally:
            with _lock:
                _busy -= 1
                _last_used = time.monotonic()
    raise RuntimeError("the codec processes could not take the work")


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
