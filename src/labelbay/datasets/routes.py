"""Dataset export and annotation import over HTTP (section 8 of the API spec).

Export: ``POST /api/{tasks,jobs,projects}/{id}/dataset/export?format=&save_images=`` queues
``datasets.export`` and answers 202 ``{"rq_id"}``; the same request by the same user while
one runs answers the running one (``dedupe_key``). The result is fetched from the request's
``result_url`` (``/api/requests/{id}/result``, operations/routes.py).

Import: CVAT's upload protocol (``uploads.protocol``) on ``/api/{tasks,jobs}/{id}/annotations/``
with ``?format=&filename=[&import_mode=]``, and on ``/api/projects/{id}/dataset/`` (a new task
in the project per dataset, spec 8.4); the finishing request moves the uploaded file to
``<data>/imports/<rq_id>/`` and queues ``datasets.import`` (``datasets.import_project``). A
one-shot multipart POST with an ``annotation_file`` field works too.

Each flow has one implementation, registered for every kind of target: a ``Target`` says how
the path's id is loaded (a dependency, so the id keeps its name, ``task_id`` ...) into an
``Owner``, which carries what the flow needs (ids, upload area, upload URL).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import Depends, Request, Response
from starlette.concurrency import run_in_threadpool

from labelbay.api.deps import AppSettings, BaseUrl, CurrentUser, DbSession
from labelbay.api.responses import FastJSONResponse
from labelbay.api.routing import Router
from labelbay.config import Settings
from labelbay.datasets import actors, registry
from labelbay.datasets.apply import IMPORT_MODES
from labelbay.errors import Invalid
from labelbay.jobs import service as jobs_service
from labelbay.operations import service as operations
from labelbay.projects import service as projects_service
from labelbay.tasks import service as tasks_service
from labelbay.tasks.models import Task
from labelbay.uploads import protocol
from labelbay.uploads import service as uploads
from labelbay.users.models import User

router = Router(tags=["datasets"])

# A TUS upload is stored as "<owner id>_<32 hex>_<client name>" (uploads.create_tus).
_TUS_PREFIX = re.compile(r"^\d+_[0-9a-f]{32}_")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def _flag(query: Mapping[str, str], name: str, default: bool) -> bool:
    """A boolean query parameter (``True``/``false``/``1``/...); absent or empty: ``default``."""
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value not in _TRUE and value not in _FALSE:
        raise Invalid(f"{name}: use true or false, not {raw!r}", field=name)
    return value in _TRUE


def _check_location(request: Request) -> None:
    location = request.query_params.get("location") or "local"
    if location != "local":
        raise Invalid(f"location: only 'local' is supported, not {location!r}", field="location")


def _format(request: Request) -> str:
    name = request.query_params.get("format") or ""
    if not name:
        raise Invalid("format: required (see /api/server/annotation/formats)", field="format")
    return name


# Targets -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Owner:
    """The task, job or project a request is about, as the flows need it."""

    target: str  # "task", "job" or "project"
    object_id: int
    task: Task | None
    project_id: int | None
    job_id: int | None
    area: str  # its upload area
    upload_path: str  # its upload URL below the base, without the trailing slash


def _task_owner(task_id: int, session: DbSession, user: CurrentUser) -> Owner:
    task = tasks_service.get_task(session, task_id, user)
    return Owner(
        "task", task.id, task, task.project_id, None, uploads.annotations_area("task", task.id),
        f"/api/tasks/{task.id}/annotations",
    )  # fmt: skip


def _job_owner(job_id: int, session: DbSession, user: CurrentUser) -> Owner:
    job = jobs_service.get_job(session, job_id, user)
    task = session.get_one(Task, job.task_id)
    return Owner(
        "job", job.id, task, task.project_id, job.id, uploads.annotations_area("job", job.id),
        f"/api/jobs/{job.id}/annotations",
    )  # fmt: skip


def _project_owner(project_id: int, session: DbSession, user: CurrentUser) -> Owner:
    project = projects_service.get_project(session, project_id, user)
    return Owner(
        "project", project.id, None, project.id, None,
        uploads.project_dataset_area(project.id), f"/api/projects/{project.id}/dataset",
    )  # fmt: skip


LoadOwner = Callable[..., Owner]


@dataclass(frozen=True)
class Target:
    name: str  # "task", "job", "project"
    collection: str  # "tasks", ...
    load: LoadOwner
    upload: str  # the upload route below "/<collection>/{<name>_id}/"


TARGETS = (
    Target("task", "tasks", _task_owner, "annotations"),
    Target("job", "jobs", _job_owner, "annotations"),
    Target("project", "projects", _project_owner, "dataset"),
)


# Export ------------------------------------------------------------------------------------


def _export_route(load: LoadOwner) -> Callable[..., Response]:
    def export(
        request: Request, session: DbSession, user: CurrentUser, owner: Owner = Depends(load)
    ) -> Response:
        fmt = registry.exporter(_format(request))
        _check_location(request)
        save_images = _flag(request.query_params, "save_images", False)
        target, object_id = owner.target, owner.object_id
        op = operations.start_operation(
            session, type="export:dataset" if save_images else "export:annotations",
            target=target, owner=user, task_id=owner.task.id if owner.task else None,
            project_id=owner.project_id, job_id=owner.job_id, format=fmt.name,
            params={"save_images": save_images},
            dedupe_key=f"export:{target}:{object_id}:{fmt.name}:{int(save_images)}:{user.id}",
        )  # fmt: skip
        session.flush()
        operations.enqueue(
            session, "datasets.export", operation=op, target=target, object_id=object_id,
            format=fmt.name, save_images=save_images,
        )  # fmt: skip
        rq_id = op.id
        session.commit()
        return FastJSONResponse({"rq_id": rq_id}, status_code=202)

    return export


# Import ------------------------------------------------------------------------------------


def _display_name(stored: str) -> str:
    return _TUS_PREFIX.sub("", stored, count=1) or stored


def _uploaded_file(settings: Settings, area: str, filename: str | None) -> str:
    """The stored name of the file to import: the one named, or the only one uploaded."""
    folder = uploads.files_dir(settings, area)
    if filename:
        name = uploads.base_name(filename)
        if (folder / name).is_file():
            return name
        raise Invalid(
            f"filename: {filename!r} was not uploaded here (send it first, then Upload-Finish)",
            field="filename",
        )
    present = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
    if len(present) != 1:
        raise Invalid(
            "annotation_file: send one annotation file (or name it with ?filename=)",
            field="annotation_file",
        )
    return present[0]


@dataclass(frozen=True)
class _Import:
    """What the finishing request of an upload starts: an operation and its actor."""

    operation: dict[str, Any]
    actor: str
    params: dict[str, Any]


def _import_of(owner: Owner, user: User, fmt: str, query: Mapping[str, str]) -> _Import:
    masks = _flag(query, "conv_mask_to_poly", True)  # CVAT's default: masks become polygons
    if owner.target == "project":
        return _Import(
            {"type": "import:dataset", "project_id": owner.project_id},
            "datasets.import_project",
            {"project_id": owner.object_id, "owner_id": user.id, "conv_mask_to_poly": masks},
        )
    mode = query.get("import_mode") or "replace"
    if mode not in IMPORT_MODES:
        raise Invalid(f"import_mode: use one of {', '.join(IMPORT_MODES)}", field="import_mode")
    assert owner.task is not None
    return _Import(
        {"type": "import:annotations", "task_id": owner.task.id,
         "project_id": owner.project_id, "job_id": owner.job_id},
        "datasets.import",
        {"target": owner.target, "object_id": owner.object_id, "import_mode": mode,
         "conv_mask_to_poly": masks},
    )  # fmt: skip


def _queue_import(
    session: Any, settings: Settings, user: User, owner: Owner, fmt: str, work: _Import,
    filename: str | None,
) -> str:  # fmt: skip
    """Moves the uploaded file to the import folder of a new operation and queues its actor;
    the upload area is cleared whatever happens."""
    area = owner.area
    try:
        stored = _uploaded_file(settings, area, filename)
        op = operations.start_operation(
            session, target=owner.target, owner=user, format=fmt, **work.operation
        )
        session.flush()
        shown = _display_name(stored)
        dest = actors.import_path(settings, op.id, shown)
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(uploads.files_dir(settings, area) / stored, dest)
        try:
            operations.enqueue(
                session, work.actor, operation=op, format=fmt, filename=shown, **work.params
            )
            session.commit()
        except BaseException:
            shutil.rmtree(dest.parent, ignore_errors=True)
            raise
        return op.id
    finally:
        uploads.clear(session, settings, area)
        session.commit()


def _upload_routes(load: LoadOwner) -> tuple[Callable[..., Any], ...]:
    """The POST (Upload-Start, TUS create, Upload-Finish, one-shot), PATCH and HEAD routes of
    an import upload into the targets ``load`` gives."""

    async def upload(
        request: Request, session: DbSession, user: CurrentUser, settings: AppSettings,
        base: BaseUrl, owner: Owner = Depends(load),
    ) -> Response:  # fmt: skip
        async def finish(fields: dict[str, Any]) -> Response:
            query = request.query_params
            fmt = registry.importer(query.get("format") or fields.get("format") or "")
            work = _import_of(owner, user, fmt.name, query)
            rq_id = await run_in_threadpool(
                _queue_import, session, settings, user, owner, fmt.name, work,
                query.get("filename"),
            )  # fmt: skip
            return FastJSONResponse({"rq_id": rq_id}, status_code=202)

        return await protocol.dispatch(
            request, session, settings, user, area=owner.area,
            location_base=base + owner.upload_path, keep_names=False, finish=finish,
        )  # fmt: skip

    async def tus_chunk(
        upload_id: str, request: Request, session: DbSession, user: CurrentUser,
        settings: AppSettings, owner: Owner = Depends(load),
    ) -> Response:  # fmt: skip
        return await protocol.tus_patch(
            request, session, settings, user, area=owner.area, upload_id=upload_id
        )

    def tus_offset(
        upload_id: str, session: DbSession, user: CurrentUser, owner: Owner = Depends(load)
    ) -> Response:
        return protocol.tus_head(session, user, area=owner.area, upload_id=upload_id)

    return upload, tus_chunk, tus_offset


def _register(target: Target) -> None:
    """The export and import routes of a target; the names (which make the OpenAPI operation
    ids) are those the routes had as separate functions."""
    ident = f"/{target.collection}/{{{target.name}_id}}"
    router.add_api_route(
        f"{ident}/dataset/export", _export_route(target.load), methods=["POST"],
        name=f"export_{target.name}",
    )  # fmt: skip
    upload, chunk, offset = _upload_routes(target.load)
    path, tus = f"{ident}/{target.upload}", f"tus_{target.name}_{target.upload}"
    router.add_api_route(
        f"{path}/", upload, methods=["POST"], name=f"import_{target.name}_{target.upload}"
    )
    router.add_api_route(f"{path}/{{upload_id}}", chunk, methods=["PATCH"], name=tus)
    router.add_api_route(f"{path}/{{upload_id}}", offset, methods=["HEAD"], name=f"{tus}_offset")


for _target in TARGETS:
    _register(_target)
