"""Every feature router under ``/api``."""

from __future__ import annotations

from fastapi import APIRouter

from labelbay.annotations.routes import router as annotations_routes
from labelbay.backups.routes import router as backups
from labelbay.datasets.routes import router as datasets
from labelbay.jobs.routes import router as jobs
from labelbay.labels.routes import router as labels
from labelbay.media.routes import router as media
from labelbay.operations.routes import router as operations
from labelbay.projects.routes import router as projects
from labelbay.server.routes import router as server
from labelbay.tasks.routes import router as tasks
from labelbay.users.routes import router as users

api = APIRouter(prefix="/api")
# Media first: its literal paths (".../data/meta") must win over parameterised ones.
for feature in (
    server,
    users,
    media,
    # Before annotations and tasks: ".../annotations/" uploads and "/tasks/backup/" are
    # literal paths that parameterised routes would otherwise take.
    backups,
    datasets,
    annotations_routes,
    projects,
    tasks,
    jobs,
    labels,
    operations,
):
    api.include_router(feature)
