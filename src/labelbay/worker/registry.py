"""The actor registry, the current queue of the process, and the run an actor is in.

Nothing here needs a Huey instance: actors register at import time, Huey is built from
settings at runtime (``labelbay.worker.runtime``) and picks them up when it is bound.
"""

from __future__ import annotations

import contextvars
import importlib
import inspect
import json
import logging
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from huey import Huey  # type: ignore[import-untyped]

log = logging.getLogger(__name__)

ACTORS_MODULE = "labelbay.worker.actors"
NAME = re.compile(r"[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*")
# The keyword an actor declares to receive the id of the operation it runs for.
OPERATION_PARAM = "operation_id"

ActorFunc = TypeVar("ActorFunc", bound=Callable[..., None])


@dataclass(frozen=True)
class ActorSpec:
    """A registered actor: ``func(session, **params)`` plus its queue options."""

    name: str
    func: Callable[..., None]
    max_attempts: int
    retry_delay: float

    @property
    def takes_operation(self) -> bool:
        return OPERATION_PARAM in inspect.signature(self.func).parameters


@dataclass(frozen=True)
class ActorCall:
    """One checked call of an actor, ready for the queue: JSON params and an operation id."""

    name: str
    params: dict[str, Any]
    operation_id: str | None


@dataclass(frozen=True)
class ActorRun:
    """What the running actor may ask about its own run (see ``current_run``)."""

    name: str
    attempt: int
    max_attempts: int
    operation_id: str | None

    @property
    def is_last_attempt(self) -> bool:
        return self.attempt >= self.max_attempts


class QueueNotConfigured(RuntimeError):
    """``enqueue`` was called in a process whose queue was never set (e.g. a script)."""


_actors: dict[str, ActorSpec] = {}
_actors_loaded = False
_load_lock = threading.Lock()
_queue: Huey | None = None
_run: contextvars.ContextVar[ActorRun | None] = contextvars.ContextVar("actor_run", default=None)


def actor(
    name: str, *, max_attempts: int = 1, retry_delay: float = 0.0
) -> Callable[[ActorFunc], ActorFunc]:
    """Registers ``func(session, *, **params) -> None`` as the actor ``name``.

    ``name`` is ``"<feature>.<verb>"``. A run that raises is retried until it has been tried
    ``max_attempts`` times in all, ``retry_delay`` seconds apart. The function is returned
    unchanged, so it can still be called directly (with a session) in tests.
    """
    if not NAME.fullmatch(name):
        raise ValueError(f"actor names look like 'feature.verb', not {name!r}")
    if max_attempts < 1:
        raise ValueError("max_attempts counts the first run too: it is at least 1")
    if retry_delay < 0:
        raise ValueError("retry_delay is a number of seconds, not negative")

    def register(func: ActorFunc) -> ActorFunc:
        params = list(inspect.signature(func).parameters.values())
        if not params or params[0].kind not in (
            params[0].POSITIONAL_ONLY,
            params[0].POSITIONAL_OR_KEYWORD,
        ):
            raise TypeError(f"actor {name!r} must take the session as its first argument")
        known = _actors.get(name)
        if known is not None and known.func.__qualname__ != func.__qualname__:
            raise ValueError(
                f"actor {name!r} is already registered by "
                f"{known.func.__module__}.{known.func.__qualname__}"
            )
        _actors[name] = ActorSpec(name, func, max_attempts, retry_delay)
        return func

    return register


def load_actors() -> None:
    """Imports every actor module (listed in ``labelbay.worker.actors``) once."""
    global _actors_loaded
    if _actors_loaded:
        return
    with _load_lock:
        if not _actors_loaded:
            importlib.import_module(ACTORS_MODULE)
            _actors_loaded = True


def registered_actors() -> Mapping[str, ActorSpec]:
    load_actors()
    return dict(_actors)


def get_actor(name: str) -> ActorSpec:
    """The registered actor ``name``; ValueError for a name nobody registered."""
    load_actors()
    spec = _actors.get(name)
    if spec is None:
        raise ValueError(f"unknown actor {name!r}; registered: {', '.join(sorted(_actors))}")
    return spec


def prepare_call(name: str, params: Mapping[str, Any], *, operation_id: str | None) -> ActorCall:
    """Checks a call against the registry at once, before anything is queued.

    Raises ValueError for an unknown actor, parameters its function does not take (or
    missing required ones), and values that are not plain JSON (ids, strings, numbers,
    lists and dicts of those). The params are sent as their JSON round trip.
    """
    spec = get_actor(name)
    if OPERATION_PARAM in params:
        raise ValueError(f"{OPERATION_PARAM!r} is set by enqueue(operation=...), not passed")
    try:
        plain = json.loads(json.dumps(dict(params), allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"parameters of actor {name!r} must be plain JSON: {exc}") from exc
    call_kwargs = dict(plain)
    if operation_id is not None and spec.takes_operation:
        call_kwargs[OPERATION_PARAM] = operation_id
    try:
        inspect.signature(spec.func).bind(None, **call_kwargs)
    except TypeError as exc:
        raise ValueError(f"bad parameters for actor {name!r}: {exc}") from exc
    return ActorCall(name, plain, operation_id)


def set_queue(huey: Huey | None) -> Huey | None:
    """Makes ``huey`` the queue ``enqueue`` sends to in this process; returns the previous one."""
    global _queue
    previous, _queue = _queue, huey
    return previous


def get_queue() -> Huey:
    if _queue is None:
        raise QueueNotConfigured(
            "no background queue is configured in this process: the server and "
            "`labelbay worker` set one at startup; a script must call "
            "labelbay.worker.set_queue(labelbay.worker.make_huey(settings)) first"
        )
    return _queue


def current_run() -> ActorRun:
    """The actor run of the calling thread; RuntimeError outside an actor."""
    run = _run.get()
    if run is None:
        raise RuntimeError("current_run() is only available while an actor runs")
    return run


def enter_run(run: ActorRun) -> contextvars.Token[ActorRun | None]:
    return _run.set(run)


def leave_run(token: contextvars.Token[ActorRun | None]) -> None:
    _run.reset(token)
