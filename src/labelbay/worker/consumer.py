"""Consuming the queue: threads inside ``labelbay serve``, or ``labelbay worker`` processes."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from huey import Huey  # type: ignore[import-untyped]
from huey.consumer import Consumer  # type: ignore[import-untyped]
from sqlalchemy.orm import Session, sessionmaker

from labelbay.config import Settings
from labelbay.db import make_engine, make_sessionmaker
from labelbay.worker.registry import set_queue
from labelbay.worker.runtime import describe, make_huey

log = logging.getLogger(__name__)

# A graceful stop waits this long for running actors before leaving them to die with the
# process (their operations then stay "started").
SHUTDOWN_TIMEOUT = 30.0
# An idle SQLite queue is polled at least this often (Redis wakes workers itself).
MAX_POLL_DELAY = 1.0
HEALTH_CHECK_SECONDS = 10.0


class _HostedConsumer(Consumer):  # type: ignore[misc]
    """Huey's consumer without its signal handlers: the host process owns its signals."""

    def _set_signal_handlers(self) -> None:
        pass


class QueueConsumer:
    """Huey worker threads (plus Huey's scheduler thread) consuming ``huey`` in this process.

    ``start()`` returns at once; ``stop()`` lets running actors finish (up to
    ``shutdown_timeout`` seconds). A monitor thread replaces worker threads that died.
    """

    def __init__(self, huey: Huey, *, workers: int, shutdown_timeout: float = SHUTDOWN_TIMEOUT):
        if workers < 1:
            raise ValueError("a consumer needs at least one worker thread")
        self.huey = huey
        self.workers = workers
        self._consumer = _HostedConsumer(
            huey, workers=workers, worker_type="thread", max_delay=MAX_POLL_DELAY
        )
        # Read by Consumer.stop(graceful=True) in Huey 3; older Huey waits without bound.
        self._consumer.shutdown_timeout = shutdown_timeout
        self._stopping = threading.Event()
        self._monitor = threading.Thread(target=self._watch, name="queue-monitor", daemon=True)

    def start(self) -> None:
        self._consumer.start()
        self._monitor.start()
        log.info("consuming %s with %d thread(s)", describe(self.huey), self.workers)

    def stop(self) -> None:
        if self._stopping.is_set():
            return
        self._stopping.set()
        if self._monitor.is_alive():
            self._monitor.join()
        self._consumer.stop(graceful=True)
        log.info("stopped consuming %s", describe(self.huey))

    def _watch(self) -> None:
        while not self._stopping.wait(HEALTH_CHECK_SECONDS):
            try:
                self._consumer.check_worker_health()
            except Exception:
                log.exception("queue health check failed")


def _close(huey: Huey) -> None:
    close = getattr(huey.storage, "close", None)  # not every Huey version has it
    if close is not None:
        close()


def embedded_threads(settings: Settings) -> int:
    """Consumer threads ``labelbay serve`` runs for these settings.

    Embedded mode (no redis_url): ``queue_workers`` (default 2). Scaled mode (redis_url
    set): none, since ``labelbay worker`` processes consume, unless LABELBAY_QUEUE_WORKERS
    is set explicitly. ``queue_workers=0`` never consumes in the server.
    """
    if settings.redis_url and "queue_workers" not in settings.model_fields_set:
        return 0
    return max(settings.queue_workers, 0)


@contextmanager
def embedded_queue(settings: Settings, session_factory: sessionmaker[Session]) -> Iterator[Huey]:
    """The server's queue for as long as the block runs: set as the process's current queue,
    and consumed by ``embedded_threads(settings)`` threads."""
    huey = make_huey(settings, session_factory)
    previous = set_queue(huey)
    threads = embedded_threads(settings)
    consumer = QueueConsumer(huey, workers=threads) if threads else None
    try:
        if consumer is not None:
            consumer.start()
        else:
            log.info("not consuming %s here: `labelbay worker` runs the actors", describe(huey))
        yield huey
    finally:
        try:
            if consumer is not None:
                consumer.stop()
        finally:
            set_queue(previous)
            _close(huey)


def run_worker(settings: Settings, *, concurrency: int) -> int:
    """``labelbay worker``: consumes in the foreground until SIGTERM or SIGINT.

    The first signal stops taking new work and waits for running actors; a second one
    stops at once. Returns the process exit status.
    """
    engine = make_engine(settings.resolved_database_url)
    huey = make_huey(settings, make_sessionmaker(engine))
    previous = set_queue(huey)  # actors may enqueue follow-up work
    consumer = QueueConsumer(huey, workers=concurrency)
    stop = threading.Event()
    forced = False

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        nonlocal forced
        if stop.is_set():
            log.warning("second %s: stopping without waiting", signal.Signals(signum).name)
            forced = True
            raise KeyboardInterrupt
        log.info("%s: finishing running actors, then exiting", signal.Signals(signum).name)
        stop.set()

    handlers = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        consumer.start()
        while not stop.wait(1.0):
            pass
        consumer.stop()
    except KeyboardInterrupt:
        forced = True
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
        set_queue(previous)
        _close(huey)
        engine.dispose()
    log.info("worker exiting%s", " (forced)" if forced else "")
    return 1 if forced else 0
