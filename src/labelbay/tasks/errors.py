from __future__ import annotations

from labelbay.errors import Conflict, NotFound


class TaskNotFound(NotFound):
    code = "task_not_found"

    def __init__(self, task_id: int) -> None:
        super().__init__("task", task_id)


class TaskHasData(Conflict):
    code = "task_has_data"

    def __init__(self, task_id: int) -> None:
        super().__init__(f"task {task_id} already has data; create a new task for more files")
