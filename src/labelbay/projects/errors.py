from __future__ import annotations

from labelbay.errors import NotFound


class ProjectNotFound(NotFound):
    code = "project_not_found"

    def __init__(self, project_id: int) -> None:
        super().__init__("project", project_id)
