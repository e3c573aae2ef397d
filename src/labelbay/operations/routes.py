from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import FileResponse
from sqlalchemy import select

from labelbay.api.deps import AppSettings, BaseUrl, CurrentUser, DbSession
from labelbay.api.pagination import paginate
from labelbay.api.querying import ListSpec
from labelbay.api.routing import Router
from labelbay.db import utcnow
from labelbay.errors import Invalid, NotFound
from labelbay.operations import service
from labelbay.operations.models import Operation

router = Router(prefix="/requests", tags=["requests"])

REQUESTS = ListSpec(
    fields={
        "id": Operation.id,
        "status": Operation.status,
        "action": Operation.type,
        "target": Operation.target,
        "task_id": Operation.task_id,
        "project_id": Operation.project_id,
        "job_id": Operation.job_id,
        "format": Operation.format,
        "created_date": Operation.created_date,
    },
    simple=("status", "target", "task_id", "project_id", "job_id", "format"),
    default_sort="-created_date",
)


@router.get("")
def list_requests(
    request: Request, session: DbSession, user: CurrentUser, base: BaseUrl
) -> dict[str, Any]:
    stmt = select(Operation).where(service.visible(user))
    action = request.query_params.get("action")
    if action:
        stmt = stmt.where(Operation.type.startswith(f"{action}:"))
    return paginate(
        request, session, stmt, REQUESTS,
        lambda rows: service.render_operations(session, rows, base),
    )  # fmt: skip


@router.get("/{rq_id}")
def get_request(rq_id: str, session: DbSession, user: CurrentUser, base: BaseUrl) -> dict[str, Any]:
    return service.render_operations(session, [service.get_operation(session, rq_id, user)], base)[
        0
    ]


@router.get("/{rq_id}/result")
def get_request_result(
    rq_id: str, session: DbSession, user: CurrentUser, settings: AppSettings
) -> FileResponse:
    """The file a finished request produced (a dataset export), as an attachment."""
    op = service.get_operation(session, rq_id, user)
    if op.status != "finished":
        raise Invalid(f"request {rq_id} is {op.status}, not finished: it has no result yet")
    expired = op.expiry_date is not None and op.expiry_date.replace(tzinfo=None) < utcnow().replace(
        tzinfo=None
    )
    path = settings.data_dir / op.result_file if op.result_file else None
    if expired or path is None or not path.is_file():
        raise NotFound("result of request", rq_id)
    return FileResponse(
        path,
        media_type="application/zip" if path.suffix == ".zip" else "application/octet-stream",
        headers={"Content-Disposition": f'attachment; filename="{path.name}"'},
    )
