"""Huey from settings, actors bound to it, and the hand-over to the queue after commit."""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from huey import Huey, RedisHuey, SqliteHuey  # type: ignore[import-untyped]
from sqlalchemy import Connection, event
from sqlalchemy.orm import Session, SessionTransaction, sessionmaker

from labelbay.config import Settings
from labelbay.db import session_scope
from labelbay.worker.registry import (
    OPERATION_PARAM,
    ActorCall,
    ActorRun,
    ActorSpec,
    enter_run,
    get_actor,
    leave_run,
    registered_actors,
)

log = logging.getLogger(__name__)

QUEUE_FILE = "queue.db"
# Huey names a task class "<module>.<name>"; one fixed module keeps the queue's message
# names ("labelbay.actors.media.pregenerate") independent of where an actor's code lives.
TASK_MODULE = "labelbay.actors"
OPEN = ("queued", "started")


def make_huey(settings: Settings, session_factory: sessionmaker[Session] | None = None) -> Huey:
    """The queue of these settings, with every registered actor bound to it.

    SQLite file ``<data_dir>/queue.db`` (embedded mode) or Redis at ``settings.redis_url``.
    Results are not stored: state lives in the ``operations`` table. Without
    ``session_factory`` the queue can only send actors (scripts, tests); a consumer needs it.
    """
    options: dict[str, Any] = {"name": settings.queue_name, "results": False, "utc": True}
    if settings.redis_url:
        huey = RedisHuey(url=settings.redis_url, **options)
    else:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        path = (settings.data_dir / QUEUE_FILE).resolve()
        # Same busy timeout as the main database: several processes may share the file.
        huey = SqliteHuey(filename=str(path), timeout=30, **options)
    return bind(huey, session_factory, ttl_hours=settings.request_ttl_hours)


def describe(huey: Huey) -> str:
    """Where a queue lives, for log lines (no credentials)."""
    storage = huey.storage
    if hasattr(storage, "filename"):
        return f"sqlite {storage.filename} ({huey.name})"
    return f"redis ({huey.name})"


@dataclass
class _Binding:
    huey: Huey
    session_factory: sessionmaker[Session] | None
    ttl_hours: int
    tasks: dict[str, Any] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def task(self, spec: ActorSpec) -> Any:
        """The Huey task wrapper of ``spec`` on this queue, registered on first use."""
        with self.lock:
            wrapper = self.tasks.get(spec.name)
            if wrapper is None:
                wrapper = self.huey.task(
                    retries=spec.max_attempts - 1,
                    retry_delay=spec.retry_delay,
                    context=True,
                    name=spec.name,
                )(_task_function(self, spec))
                self.tasks[spec.name] = wrapper
            return wrapper


_bindings: weakref.WeakKeyDictionary[Huey, _Binding] = weakref.WeakKeyDictionary()
_bindings_lock = threading.Lock()


def _binding(huey: Huey) -> _Binding:
    with _bindings_lock:
        binding = _bindings.get(huey)
        if binding is None:
            binding = _bindings[huey] = _Binding(huey, None, 24)
        return binding


def bind(
    huey: Huey, session_factory: sessionmaker[Session] | None = None, *, ttl_hours: int = 24
) -> Huey:
    """Wraps every registered actor into a task of ``huey``.

    Each run opens one session from ``session_factory`` (committed on success), tracks the
    operation it runs for, and is retried by Huey up to the actor's ``max_attempts``.
    Binding again only adds the factory and actors registered since.
    """
    binding = _binding(huey)
    if session_factory is not None:
        binding.session_factory = session_factory
    binding.ttl_hours = ttl_hours
    for spec in registered_actors().values():
        binding.task(spec)
    return huey


def send(huey: Huey, call: ActorCall) -> None:
    """Puts ``call`` on the queue now. Use ``send_after_commit`` from service code."""
    _binding(huey).task(get_actor(call.name))(params=call.params, operation_id=call.operation_id)
    log.debug("queued actor %s (operation %s)", call.name, call.operation_id)


# -- after commit ---------------------------------------------------------------------------

_OUTBOX = "labelbay.worker.outbox"


@dataclass
class _Pending:
    huey: Huey
    call: ActorCall
    transaction: SessionTransaction


def send_after_commit(session: Session, huey: Huey, call: ActorCall) -> None:
    """Sends ``call`` to ``huey`` once the session's transaction commits.

    A rollback of that transaction (or of a savepoint it was queued in), or closing the
    session without commit, drops it. The session gets its listeners on first use.
    """
    transaction = session.get_nested_transaction() or session.get_transaction() or session.begin()
    outbox: list[_Pending] | None = session.info.get(_OUTBOX)
    if outbox is None:
        outbox = session.info[_OUTBOX] = []
        event.listen(session, "after_commit", _flush_outbox)
        event.listen(session, "after_soft_rollback", _drop_rolled_back)
        event.listen(session, "after_transaction_end", _forget_outbox)
    outbox.append(_Pending(huey, call, transaction))


def _within(transaction: SessionTransaction | None, ended: SessionTransaction) -> bool:
    while transaction is not None:
        if transaction is ended:
            return True
        transaction = transaction.parent
    return False


def _drop_rolled_back(session: Session, previous_transaction: SessionTransaction) -> None:
    outbox: list[_Pending] = session.info[_OUTBOX]
    kept = [p for p in outbox if not _within(p.transaction, previous_transaction)]
    if len(kept) != len(outbox):
        log.debug("rollback dropped %d queued actor(s)", len(outbox) - len(kept))
        outbox[:] = kept


def _forget_outbox(session: Session, transaction: SessionTransaction) -> None:
    outbox: list[_Pending] = session.info[_OUTBOX]
    if transaction.parent is None and outbox:
        log.debug("session ended without commit: dropped %d queued actor(s)", len(outbox))
        outbox.clear()


def _flush_outbox(session: Session) -> None:
    outbox: list[_Pending] = session.info[_OUTBOX]
    pending = list(outbox)
    outbox.clear()
    for item in pending:
        try:
            send(item.huey, item.call)
        except Exception as exc:
            # The data is committed already: raising here would turn a stored write into an
            # error response. Fail the operation instead, so that pollers see the reason.
            log.exception("could not hand actor %s to the queue", item.call.name)
            if item.call.operation_id is not None:
                _fail_unsent(session, item.call.operation_id, exc)


def _fail_unsent(session: Session, operation_id: str, exc: Exception) -> None:
    from labelbay.operations import service as operations  # it imports this module

    bind = session.get_bind()
    engine = bind.engine if isinstance(bind, Connection) else bind
    try:
        with Session(engine) as other:
            if operations.find_operation(other, operation_id) is not None:
                operations.fail_operation(other, operation_id, f"could not be queued: {exc}")
                other.commit()
    except Exception:
        log.exception("could not mark operation %s failed", operation_id)


# -- running --------------------------------------------------------------------------------


def _task_function(binding: _Binding, spec: ActorSpec) -> Callable[..., None]:
    def run(params: dict[str, Any], operation_id: str | None, task: Any) -> None:
        # Huey's task.retries counts the retries left, so the attempt follows from it.
        attempt = spec.max_attempts - int(task.retries)
        _run_actor(binding, spec, params, operation_id, attempt)

    run.__module__ = TASK_MODULE
    run.__name__ = run.__qualname__ = spec.name
    return run


def _run_actor(
    binding: _Binding,
    spec: ActorSpec,
    params: dict[str, Any],
    operation_id: str | None,
    attempt: int,
) -> None:
    from labelbay.operations import service as operations  # it imports this module

    factory = binding.session_factory
    if factory is None:
        raise RuntimeError(
            f"actor {spec.name} reached a queue bound without a sessionmaker: "
            "use make_huey(settings, sessionmaker) where actors run"
        )
    run = ActorRun(spec.name, attempt, spec.max_attempts, operation_id)
    if operation_id is not None:
        with session_scope(factory) as session:
            op = operations.find_operation(session, operation_id)
            if op is None:
                log.warning("%s: operation %s is gone; running anyway", spec.name, operation_id)
            elif op.status not in OPEN:
                log.info("%s: operation %s is %s already; skipped", spec.name, op.id, op.status)
                return
            else:
                operations.update_progress(session, op.id, op.progress or 0.0, status="started")
    log.info("running %s (attempt %d of %d)", spec.name, attempt, spec.max_attempts)
    kwargs = dict(params)
    if operation_id is not None and spec.takes_operation:
        kwargs[OPERATION_PARAM] = operation_id
    token = enter_run(run)
    try:
        with session_scope(factory) as session:
            spec.func(session, **kwargs)
    except Exception as exc:
        if run.is_last_attempt:
            log.error("%s failed on attempt %d of %d: %r", spec.name, attempt,
                      spec.max_attempts, exc)  # fmt: skip
        else:
            log.warning("%s failed on attempt %d of %d, will retry: %r", spec.name, attempt,
                        spec.max_attempts, exc)  # fmt: skip
        if operation_id is not None:
            _record_failure(factory, binding.ttl_hours, run, exc)
        raise  # Huey retries or gives up, and logs the traceback
    finally:
        leave_run(token)
    if operation_id is not None:
        with session_scope(factory) as session:
            op = operations.find_operation(session, operation_id)
            if op is not None and op.status in OPEN:
                operations.finish_operation(session, op.id, ttl_hours=binding.ttl_hours)
    log.info("%s done (attempt %d)", spec.name, attempt)


def _record_failure(
    factory: sessionmaker[Session], ttl_hours: int, run: ActorRun, exc: Exception
) -> None:
    from labelbay.operations import service as operations  # it imports this module

    assert run.operation_id is not None
    reason = str(exc) or type(exc).__name__
    try:
        with session_scope(factory) as session:
            op = operations.find_operation(session, run.operation_id)
            if op is None or op.status not in OPEN:
                return
            if run.is_last_attempt:
                message = f"failed after {run.attempt} attempt(s): {reason}"
                operations.fail_operation(session, op.id, message, ttl_hours=ttl_hours)
            else:
                message = f"attempt {run.attempt} of {run.max_attempts} failed: {reason}; retrying"
                operations.update_progress(session, op.id, op.progress or 0.0, message=message)
    except Exception:
        log.exception("could not record the failure of %s on %s", run.name, run.operation_id)
