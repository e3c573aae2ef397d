"""Jobs: the segments of a task's frames that people annotate."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from labelbay import access, lookups
from labelbay.db import iso, later_than, utcnow
from labelbay.errors import Forbidden
from labelbay.jobs.errors import JobNotFound
from labelbay.jobs.models import Job
from labelbay.jobs.schemas import JobUpdate
from labelbay.projects.models import Project
from labelbay.tasks.models import Task
from labelbay.users import service as users_service
from labelbay.users.models import User


def effective_segments(size: int, segment_size: int, overlap: int) -> tuple[int, int]:
    """The segment size and overlap really used: 0 or oversized segments mean one job, and
    neighbouring jobs share at most half a segment (as CVAT does)."""
    if segment_size <= 0 or segment_size > size:
        segment_size = max(size, 1)
    return segment_size, min(max(overlap, 0), segment_size // 2)


def segment_ranges(size: int, segment_size: int, overlap: int) -> list[tuple[int, int]]:
    """Inclusive frame ranges of the jobs of a task of ``size`` frames."""
    if size <= 0:
        return []
    segment_size, overlap = effective_segments(size, segment_size, overlap)
    if segment_size >= size:
        return [(0, size - 1)]
    step = max(segment_size - overlap, 1)
    ranges = []
    start = 0
    while True:
        stop = min(start + segment_size - 1, size - 1)
        ranges.append((start, stop))
        if stop == size - 1:
            return ranges
        start += step


def create_jobs(session: Session, task: Task, size: int) -> list[Job]:
    """Creates the jobs of a task that just got ``size`` frames; records the segment size and
    overlap actually used on the task."""
    task.segment_size, task.overlap = effective_segments(size, task.segment_size, task.overlap or 0)
    now = utcnow()
    jobs = [
        Job(task_id=task.id, start_frame=a, stop_frame=b, created_date=now, updated_date=now)
        for a, b in segment_ranges(size, task.segment_size, task.overlap or 0)
    ]
    session.add_all(jobs)
    return jobs


def get_job(session: Session, job_id: int, user: User) -> Job:
    job = session.scalar(select(Job).where(Job.id == job_id, access.visible_jobs(user)))
    if job is None:
        raise JobNotFound(job_id)
    return job


def update_job(session: Session, job: Job, data: JobUpdate, *, user: User) -> Job:
    fields = data.model_fields_set
    task = session.get_one(Task, job.task_id)
    if "assignee" in fields and data.assignee != job.assignee_id:
        project = session.get(Project, task.project_id) if task.project_id else None
        if not (
            access.manages_task(task, project, user)
            or task.assignee_id == user.id
            or (project is not None and project.assignee_id == user.id)
        ):
            raise Forbidden("assignee: only the task's owner may assign its jobs")
        if data.assignee is not None:
            users_service.get_user(session, data.assignee)
        job.assignee_id = data.assignee
        job.assignee_updated_date = utcnow()
    if "stage" in fields and data.stage is not None:
        job.stage = data.stage
    if "state" in fields and data.state is not None:
        job.state = data.state
    job.updated_date = later_than(job.updated_date)
    task.updated_date = later_than(task.updated_date)
    session.flush()
    refresh_task_status(session, task)
    return job


def refresh_task_status(session: Session, task: Task) -> None:
    """A task is in annotation while any job is, then in validation while any job is, and
    completed when every job is."""
    statuses = {job_status(j) for j in session.scalars(select(Job).where(Job.task_id == task.id))}
    if not statuses or "annotation" in statuses:
        task.status = "annotation"
    elif "validation" in statuses:
        task.status = "validation"
    else:
        task.status = "completed"


def job_status(job: Job) -> str:
    if job.stage == "acceptance" and job.state == "completed":
        return "completed"
    return "validation" if job.stage == "validation" else "annotation"


def render_jobs(session: Session, jobs: Sequence[Job], base: str) -> list[dict[str, Any]]:
    if not jobs:
        return []
    task_ids = {j.task_id for j in jobs}
    tasks = {t.id: t for t in session.scalars(select(Task).where(Task.id.in_(task_ids)))}
    datas = lookups.task_data_by_id(session, (t.data_id for t in tasks.values()))
    projects = lookups.project_names(session, (t.project_id for t in tasks.values()))
    users = lookups.users_by_id(session, (j.assignee_id for j in jobs))
    out = []
    for j in jobs:
        task = tasks[j.task_id]
        data = datas.get(task.data_id) if task.data_id else None
        out.append(
            {
                "id": j.id,
                "url": f"{base}/api/jobs/{j.id}",
                "task_id": j.task_id,
                "project_id": task.project_id,
                "task_name": task.name,
                "project_name": projects.get(task.project_id) if task.project_id else None,
                "assignee": users_service.basic_user(
                    users.get(j.assignee_id) if j.assignee_id else None, base
                ),
                "guide_id": None,
                "dimension": "2d",
                "bug_tracker": task.bug_tracker or None,
                "status": job_status(j),
                "stage": j.stage,
                "state": j.state,
                "mode": "interpolation" if data and data.media_type == "video" else "annotation",
                "frame_count": j.stop_frame - j.start_frame + 1,
                "start_frame": j.start_frame,
                "stop_frame": j.stop_frame,
                "data_chunk_size": data.chunk_size if data else None,
                "data_compressed_chunk_type": data.compressed_chunk_type if data else None,
                "data_original_chunk_type": data.original_chunk_type if data else None,
                "created_date": iso(j.created_date),
                "updated_date": iso(j.updated_date),
                "assignee_updated_date": iso(j.assignee_updated_date),
                "issues": {"count": 0, "url": f"{base}/api/issues?job_id={j.id}"},
                "labels": {"url": f"{base}/api/labels?job_id={j.id}"},
                "type": j.type,
                "organization": None,
                "target_storage": lookups.storage_read(task.target_storage, task.id),
                "source_storage": lookups.storage_read(task.source_storage, task.id),
                "parent_job_id": None,
                "consensus_replicas": 0,
                "replicas_count": 0,
                "media_type": data.media_type if data else "image",
            }
        )
    return out
