"""Route classes: commit once after the handler, and serve paths with and without a slash."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter
from fastapi.routing import APIRoute
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool


def _commit_all(values: dict[str, Any]) -> None:
    for value in values.values():
        if isinstance(value, Session):
            value.commit()


class CommitRoute(APIRoute):
    """Commits the request's session after the handler returns and before the response exists,
    so a failed commit is an error response, never a success for a lost write."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        if inspect.iscoroutinefunction(endpoint):

            @functools.wraps(endpoint)
            async def run_async(**values: Any) -> Any:
                result = await endpoint(**values)
                await run_in_threadpool(_commit_all, values)
                return result

            super().__init__(path, run_async, **kwargs)
        else:

            @functools.wraps(endpoint)
            def run(**values: Any) -> Any:
                result = endpoint(**values)
                _commit_all(values)
                return result

            super().__init__(path, run, **kwargs)


class Router(APIRouter):
    """An APIRouter that answers both ``/path`` and ``/path/`` (CVAT clients use both, and a
    redirect would lose a POST body)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("route_class", CommitRoute)
        super().__init__(**kwargs)

    def add_api_route(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().add_api_route(path, endpoint, **kwargs)
        full = self.prefix + path
        twin = path[:-1] if full.endswith("/") else path + "/"
        if full.rstrip("/"):
            kwargs["include_in_schema"] = False
            kwargs.pop("operation_id", None)
            super().add_api_route(twin, endpoint, **kwargs)
