from __future__ import annotations

from labelbay.errors import NotFound


class JobNotFound(NotFound):
    code = "job_not_found"

    def __init__(self, job_id: int) -> None:
        super().__init__("job", job_id)
