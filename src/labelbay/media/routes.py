"""Task and job media over HTTP: data upload, frames, chunks, previews and metadata."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from labelbay.api.deps import AppSettings, BaseUrl, CurrentUser, DbSession
from labelbay.api.files import file_response
from labelbay.api.responses import FastJSONResponse
from labelbay.api.routing import Router
from labelbay.config import Settings
from labelbay.errors import AppError, Invalid, NotFound
from labelbay.jobs import service as jobs_service
from labelbay.jobs.models import Job
from labelbay.media import delivery, early, fastpath, receiving, service
from labelbay.media.cache import CacheBusy, CacheEntry
from labelbay.media.models import TaskData
from labelbay.media.schemas import DataParams, MetaUpdate
from labelbay.operations import service as operations
from labelbay.projects import service as projects_service
from labelbay.tasks import service as tasks_service
from labelbay.tasks.models import Task
from labelbay.uploads import protocol
from labelbay.uploads import service as uploads

router = Router(tags=["data"])

QUALITIES = ("original", "compressed")


def _receiver(settings: Settings, area: str) -> uploads.Receiver:
    folder = uploads.area_dir(settings, area)

    def receive(path: Path) -> None:
        try:
            receiving.receive(folder, path, max_pixels=settings.max_image_pixels)
        except AppError as exc:
            # One bad file discards the whole upload session: nothing half-done waits for an
            # Upload-Finish. The client starts again with Upload-Start.
            uploads.discard_area(folder)
            exc.message += " (the files of this upload were discarded; upload them again)"
            raise

    return receive


def _quality_hint(settings: Settings, area: str) -> protocol.FieldsHook:
    """Images are compressed as they arrive (media.early) at the quality the upload names."""
    folder = uploads.area_dir(settings, area)

    def hint(fields: dict[str, Any]) -> None:
        if "image_quality" in fields:
            early.note_quality(folder, fields["image_quality"])

    return hint


# Metadata routes come before the upload routes: "/data/meta" must not be read as an upload id.
@router.get("/tasks/{task_id}/data/meta")
def task_meta(task_id: int, session: DbSession, user: CurrentUser) -> Response:
    task = tasks_service.get_task(session, task_id, user)
    data = service.get_data(session, task)
    return FastJSONResponse(service.render_meta(session, task, data))


@router.patch("/tasks/{task_id}/data/meta")
def update_task_meta(
    task_id: int, body: MetaUpdate, session: DbSession, user: CurrentUser
) -> Response:
    task = tasks_service.get_task(session, task_id, user)
    data = service.get_data(session, task)
    service.update_deleted_frames(session, task, data, body.deleted_frames, lo=0, hi=data.size - 1)
    return FastJSONResponse(service.render_meta(session, task, data))


@router.get("/jobs/{job_id}/data/meta")
def job_meta(job_id: int, session: DbSession, user: CurrentUser) -> Response:
    job = jobs_service.get_job(session, job_id, user)
    task = session.get_one(Task, job.task_id)
    return FastJSONResponse(
        service.render_meta(session, task, service.get_data(session, task), job=job)
    )


@router.patch("/jobs/{job_id}/data/meta")
def update_job_meta(
    job_id: int, body: MetaUpdate, session: DbSession, user: CurrentUser
) -> Response:
    job = jobs_service.get_job(session, job_id, user)
    task = session.get_one(Task, job.task_id)
    data = service.get_data(session, task)
    service.update_deleted_frames(
        session, task, data, body.deleted_frames, lo=job.start_frame, hi=job.stop_frame
    )
    return FastJSONResponse(service.render_meta(session, task, data, job=job))


@router.post("/tasks/{task_id}/data/")
async def upload_task_data(
    task_id: int,
    request: Request,
    session: DbSession,
    user: CurrentUser,
    settings: AppSettings,
    base: BaseUrl,
) -> Response:
    task = await run_in_threadpool(tasks_service.get_task, session, task_id, user)
    area = uploads.task_data_area(task.id)

    async def finish(fields: dict[str, Any]) -> Response:
        try:
            params = DataParams.model_validate(fields)
        except ValidationError as exc:
            raise RequestValidationError(
                [{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]
            ) from exc

        def run() -> str:
            try:
                service.ingest(session, settings, task, uploads.area_dir(settings, area), params)
            finally:
                uploads.clear(session, settings, area)
            op = operations.record_finished(
                session, type="create:task", target="task", owner=user, task_id=task.id,
                project_id=task.project_id, ttl_hours=settings.request_ttl_hours,
            )  # fmt: skip
            service.queue_prepare(session, user, [task])
            return op.id

        rq_id = await run_in_threadpool(run)
        return FastJSONResponse({"rq_id": rq_id}, status_code=202)

    return await protocol.dispatch(
        request, session, settings, user, area=area,
        location_base=f"{base}/api/tasks/{task.id}/data", keep_names=True, finish=finish,
        receiver=_receiver(settings, area), on_fields=_quality_hint(settings, area),
    )  # fmt: skip


@router.patch("/tasks/{task_id}/data/{upload_id}")
async def tus_task_data(
    task_id: int, upload_id: str, request: Request, session: DbSession, user: CurrentUser,
    settings: AppSettings,
) -> Response:  # fmt: skip
    task = await run_in_threadpool(tasks_service.get_task, session, task_id, user)
    area = uploads.task_data_area(task.id)
    return await protocol.tus_patch(
        request, session, settings, user, area=area, upload_id=upload_id,
        receiver=_receiver(settings, area),
    )  # fmt: skip


@router.head("/tasks/{task_id}/data/{upload_id}")
def tus_task_data_offset(
    task_id: int, upload_id: str, session: DbSession, user: CurrentUser
) -> Response:
    task = tasks_service.get_task(session, task_id, user)
    return protocol.tus_head(
        session, user, area=uploads.task_data_area(task.id), upload_id=upload_id
    )


def _int_param(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError as exc:
        raise Invalid(f"{name}: must be an integer, not {raw!r}", field=name) from exc


def _quality(request: Request) -> str:
    quality = request.query_params.get("quality") or "compressed"
    if quality not in QUALITIES:
        raise Invalid("quality: use 'original' or 'compressed'", field="quality")
    return quality


def _artifacts(request: Request, settings: Settings, data: TaskData) -> delivery.Artifacts:
    return delivery.Artifacts(settings, request.app.state.media_cache, data)


def _serve_cached(
    request: Request, get: Callable[[], tuple[CacheEntry, str]], media_type: str
) -> Response:
    """Serves a cache entry; one that another process evicted in between is fetched again."""
    for _ in range(3):
        entry, status = get()
        try:
            return file_response(
                request, entry.path, media_type, etag=entry.etag, extra_headers=_status(status)
            )
        except FileNotFoundError:
            continue
    raise CacheBusy(
        "media",
        reason="evicted",
        retry_after=1,
        message="the media cache is under pressure: try again in a moment",
    )


def _serve_frame(
    request: Request, settings: Settings, session: Any, data: TaskData, number: int, quality: str
) -> Response:
    frame = service.get_frame(session, data, number)
    artifacts = _artifacts(request, settings, data)
    if quality == "compressed":
        return _serve_cached(request, lambda: artifacts.compressed_frame(frame), "image/jpeg")
    if not delivery.is_video(data):
        path = delivery.raw_path(settings, data, frame)
        # The fast path learns the files of this frame's whole chunk: the next ones follow.
        lo = number - number % data.chunk_size
        for near in service.frames_in(session, data, lo, lo + data.chunk_size - 1):
            request.app.state.views.remember_file(
                data.id, near.frame, delivery.raw_path(settings, data, near), near.mime
            )
        return file_response(request, path, frame.mime, extra_headers=_status("file"))
    return _serve_cached(request, lambda: artifacts.original_video_frame(frame), "image/png")


def _status(status: str) -> dict[str, str]:
    # How the bytes were found: "file" (stored original), "hit", "built" or "joined" (waited
    # for a build another request started).
    return {"X-Cache-Status": status}


def _serve_chunk(
    request: Request,
    settings: Settings,
    session: Any,
    data: TaskData,
    lo: int,
    hi: int,
    quality: str,
) -> Response:
    frames = service.frames_in(session, data, lo, hi)
    artifacts = _artifacts(request, settings, data)
    media_type = fastpath.chunk_media_type(data, quality)
    return _serve_cached(request, lambda: artifacts.chunk(frames, quality), media_type)


def _serve_preview(
    request: Request, settings: Settings, session: Any, data: TaskData, number: int
) -> Response:
    frame = service.get_frame(session, data, number)
    artifacts = _artifacts(request, settings, data)
    return _serve_cached(request, lambda: artifacts.preview(frame), "image/jpeg")


def _data_type(request: Request) -> str:
    kind = request.query_params.get("type") or ""
    if kind not in ("frame", "chunk", "context_image", "preview"):
        raise Invalid("type: use frame, chunk, context_image or preview", field="type")
    return kind


@router.get("/tasks/{task_id}/data/")
def task_data(
    task_id: int, request: Request, session: DbSession, user: CurrentUser, settings: AppSettings
) -> Response:
    stamp = request.app.state.views.stamp()  # before reading: see fastpath.Views
    task = tasks_service.get_task(session, task_id, user)
    data = service.get_data(session, task)
    _remember(request, settings, user, "tasks", task.id, data, 0, data.size - 1, stamp)
    kind, quality = _data_type(request), _quality(request)
    number = _int_param(request, "number")
    if kind == "preview":
        return _serve_preview(request, settings, session, data, 0)
    if number is None:
        raise Invalid("number: required for this type", field="number")
    if kind == "context_image":
        service.get_frame(session, data, number)
        raise NotFound("related images of frame", number)
    if kind == "frame":
        return _serve_frame(request, settings, session, data, number, quality)
    lo, hi = fastpath.task_chunk_bounds(data.size, data.chunk_size, number)
    return _serve_chunk(request, settings, session, data, lo, hi, quality)


@router.get("/jobs/{job_id}/data")
def job_data(
    job_id: int, request: Request, session: DbSession, user: CurrentUser, settings: AppSettings
) -> Response:
    stamp = request.app.state.views.stamp()  # before reading: see fastpath.Views
    job = jobs_service.get_job(session, job_id, user)
    task = session.get_one(Task, job.task_id)
    data = service.get_data(session, task)
    _remember(request, settings, user, "jobs", job.id, data, job.start_frame, job.stop_frame, stamp)
    kind, quality = _data_type(request), _quality(request)
    number, index = _int_param(request, "number"), _int_param(request, "index")
    if kind == "preview":
        return _serve_preview(request, settings, session, data, job.start_frame)
    if kind in ("frame", "context_image"):
        if number is None:
            raise Invalid("number: required for this type", field="number")
        service.frame_range_check(number, job.start_frame, job.stop_frame)
        if kind == "context_image":
            raise NotFound("related images of frame", number)
        return _serve_frame(request, settings, session, data, number, quality)
    lo, hi = fastpath.job_chunk_bounds(
        job.start_frame, job.stop_frame, data.chunk_size, number=number, index=index
    )
    return _serve_chunk(request, settings, session, data, lo, hi, quality)


def _remember(
    request: Request, settings: Settings, user: Any, kind: str, obj_id: int, data: TaskData,
    lo: int, hi: int, stamp: fastpath.Stamp,
) -> None:  # fmt: skip
    """Leaves what this user may fetch here for the fast path (see media.fastpath)."""
    view = fastpath.make_view(
        settings, request.app.state.media_cache, data, lo=lo, hi=hi, for_job=kind == "jobs",
        stamp=stamp,
    )  # fmt: skip
    request.app.state.views.remember(user.id, kind, obj_id, view)


@router.get("/tasks/{task_id}/preview")
def task_preview(
    task_id: int, request: Request, session: DbSession, user: CurrentUser, settings: AppSettings
) -> Response:
    task = tasks_service.get_task(session, task_id, user)
    if task.data_id is None:
        raise NotFound("preview of task", task_id)
    return _serve_preview(request, settings, session, service.get_data(session, task), 0)


@router.get("/jobs/{job_id}/preview")
def job_preview(
    job_id: int, request: Request, session: DbSession, user: CurrentUser, settings: AppSettings
) -> Response:
    job: Job = jobs_service.get_job(session, job_id, user)
    task = session.get_one(Task, job.task_id)
    return _serve_preview(
        request, settings, session, service.get_data(session, task), job.start_frame
    )


@router.get("/projects/{project_id}/preview")
def project_preview(
    project_id: int,
    request: Request,
    session: DbSession,
    user: CurrentUser,
    settings: AppSettings,
) -> Response:
    from sqlalchemy import select

    project = projects_service.get_project(session, project_id, user)
    task = session.scalar(
        select(Task).where(Task.project_id == project.id, Task.data_id.is_not(None))
        .order_by(Task.id)
    )  # fmt: skip
    if task is None:
        raise NotFound("preview of project", project_id)
    return _serve_preview(request, settings, session, service.get_data(session, task), 0)
