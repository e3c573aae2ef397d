"""Imports every feature's tables so that ``Base.metadata`` is complete (Alembic, tests)."""

from labelbay.annotations.models import Annotation, TrackedShape
from labelbay.db import Base
from labelbay.jobs.models import Job
from labelbay.labels.models import AttributeSpec, Label
from labelbay.media.models import Frame, TaskData
from labelbay.operations.models import Operation
from labelbay.projects.models import Project
from labelbay.tasks.models import Task
from labelbay.uploads.models import Upload
from labelbay.users.models import AuthKey, User

__all__ = [
    "Annotation",
    "AttributeSpec",
    "AuthKey",
    "Base",
    "Frame",
    "Job",
    "Label",
    "Operation",
    "Project",
    "Task",
    "TaskData",
    "TrackedShape",
    "Upload",
    "User",
]
