"""Background work: the actor registry, Huey wiring, and the consumers.

Define an actor in ``<feature>/background.py`` and list the module in ``worker/actors.py``::

    @actor("media.pregenerate", max_attempts=3)
    def pregenerate(session: Session, *, task_id: int) -> None: ...

Queue it from a service with ``labelbay.operations.service.enqueue(session, "media.pregenerate",
task_id=task.id)``; it is handed to Huey only when the session's transaction commits.
"""

from labelbay.worker.consumer import QueueConsumer, embedded_queue, embedded_threads, run_worker
from labelbay.worker.registry import (
    ActorCall,
    ActorRun,
    ActorSpec,
    QueueNotConfigured,
    actor,
    current_run,
    get_actor,
    get_queue,
    load_actors,
    prepare_call,
    registered_actors,
    set_queue,
)
from labelbay.worker.runtime import bind, make_huey, send, send_after_commit

__all__ = [
    "ActorCall",
    "ActorRun",
    "ActorSpec",
    "QueueConsumer",
    "QueueNotConfigured",
    "actor",
    "bind",
    "current_run",
    "embedded_queue",
    "embedded_threads",
    "get_actor",
    "get_queue",
    "load_actors",
    "make_huey",
    "prepare_call",
    "registered_actors",
    "run_worker",
    "send",
    "send_after_commit",
    "set_queue",
]
