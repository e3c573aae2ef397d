"""Who sees what: owners see their projects and tasks, assignees their jobs, admins everything.

Each helper returns a SQL condition, so lists filter in the database and single lookups answer
404 for what a user may not see (no hint that it exists).
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, or_, select, true

from labelbay.jobs.models import Job
from labelbay.projects.models import Project
from labelbay.tasks.models import Task
from labelbay.users.models import User


def visible_projects(user: User) -> ColumnElement[bool]:
    if user.is_superuser:
        return true()
    return or_(Project.owner_id == user.id, Project.assignee_id == user.id)


def visible_tasks(user: User) -> ColumnElement[bool]:
    if user.is_superuser:
        return true()
    own_projects = select(Project.id).where(visible_projects(user)).scalar_subquery()
    return or_(
        Task.owner_id == user.id,
        Task.assignee_id == user.id,
        Task.project_id.in_(own_projects),
    )


def visible_jobs(user: User) -> ColumnElement[bool]:
    if user.is_superuser:
        return true()
    tasks = select(Task.id).where(visible_tasks(user)).scalar_subquery()
    return or_(Job.assignee_id == user.id, Job.task_id.in_(tasks))


def manages_project(project: Project, user: User) -> bool:
    """Owners (and administrators) may delete a project or hand it over."""
    return user.is_superuser or project.owner_id == user.id


def manages_task(task: Task, project: Project | None, user: User) -> bool:
    """The task's owner, its project's owner or an administrator may delete the task, hand it
    over and assign people to it and its jobs."""
    return (
        user.is_superuser
        or task.owner_id == user.id
        or (project is not None and project.owner_id == user.id)
    )
