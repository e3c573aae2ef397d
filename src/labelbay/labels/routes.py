from __future__ import annotations

from typing import Any

from fastapi import Request, Response
from sqlalchemy import select

from labelbay.api.deps import CurrentUser, DbSession, NoOrganization
from labelbay.api.pagination import paginate
from labelbay.api.querying import ListSpec
from labelbay.api.routing import Router
from labelbay.errors import Forbidden, Invalid
from labelbay.jobs import service as jobs_service
from labelbay.labels import service
from labelbay.labels.models import Label
from labelbay.labels.schemas import LabelWrite
from labelbay.projects import service as projects_service
from labelbay.tasks import service as tasks_service
from labelbay.tasks.models import Task
from labelbay.users.models import User

router = Router(prefix="/labels", tags=["labels"], dependencies=[NoOrganization])

LABELS = ListSpec(
    fields={"id": Label.id, "name": Label.name, "color": Label.color, "type": Label.type,
            "parent_id": Label.parent_id},
    search=("name",),
    simple=("name", "color", "type", "parent_id"),
    default_sort="id",
)  # fmt: skip


def _owner_of_labels(
    session: Any, params: dict[str, str], user: User
) -> tuple[int | None, int | None]:
    given = [k for k in ("task_id", "job_id", "project_id") if params.get(k)]
    if len(given) != 1:
        raise Invalid("give exactly one of task_id, job_id or project_id", field="task_id")
    key = given[0]
    try:
        value = int(params[key])
    except ValueError as exc:
        raise Invalid(f"{key}: must be an integer", field=key) from exc
    if key == "project_id":
        return projects_service.get_project(session, value, user).id, None
    if key == "job_id":
        job = jobs_service.get_job(session, value, user)
        task = session.get_one(Task, job.task_id)
    else:
        task = tasks_service.get_task(session, value, user)
    return (task.project_id, None) if task.project_id is not None else (None, task.id)


@router.get("")
def list_labels(request: Request, session: DbSession, user: CurrentUser) -> dict[str, Any]:
    project_id, task_id = _owner_of_labels(session, dict(request.query_params), user)
    stmt = service.owner_query(project_id=project_id, task_id=task_id)
    return paginate(
        request, session, stmt, LABELS, lambda rows: service.render_labels(session, rows)
    )


def _editable_label(session: Any, label_id: int, user: User) -> Label:
    label = service.get_label(session, label_id)
    if label.project_id is not None:
        projects_service.get_project(session, label.project_id, user)
    elif label.task_id is not None:
        tasks_service.get_task(session, label.task_id, user)
    return label


@router.get("/{label_id}")
def get_label(label_id: int, session: DbSession, user: CurrentUser) -> dict[str, Any]:
    return service.render_labels(session, [_editable_label(session, label_id, user)])[0]


def _touch_owner(session: Any, label: Label, user: User) -> None:
    if label.project_id is not None:
        projects_service.touch_project(session, projects_service.get_project(
            session, label.project_id, user))  # fmt: skip
    elif label.task_id is not None:
        tasks_service.touch_task(session, tasks_service.get_task(session, label.task_id, user))


@router.patch("/{label_id}")
def update_label(
    label_id: int, body: LabelWrite, session: DbSession, user: CurrentUser
) -> dict[str, Any]:
    label = _editable_label(session, label_id, user)
    if label.parent_id is not None:
        raise Forbidden("skeleton points are changed through their skeleton label")
    taken = set(session.scalars(
        select(Label.name).where(Label.parent_id.is_(None), Label.id != label.id,
                                 Label.project_id == label.project_id if label.project_id
                                 else Label.task_id == label.task_id)))  # fmt: skip
    service.update_label(session, label, body, where="label", taken=taken)
    _touch_owner(session, label, user)
    session.flush()
    return service.render_labels(session, [label])[0]


@router.delete("/{label_id}", status_code=204)
def delete_label(label_id: int, session: DbSession, user: CurrentUser) -> Response:
    label = _editable_label(session, label_id, user)
    _touch_owner(session, label, user)
    session.delete(label)
    return Response(status_code=204)
