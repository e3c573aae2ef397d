"""Serving the browser workspace: ``/`` is ``web/index.html``, ``/static/...`` its modules."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from starlette.responses import FileResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

WEB_DIR = Path(__file__).parent / "web"


class _Static(StaticFiles):
    """Static files that browsers revalidate (ETag) on every load: a new version of the
    package is picked up at once, with 304s when nothing changed."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers["Cache-Control"] = "no-cache"
        return response


def mount(app: FastAPI) -> None:
    async def index() -> Response:
        return FileResponse(
            WEB_DIR / "index.html", media_type="text/html", headers={"Cache-Control": "no-cache"}
        )

    app.add_api_route("/", index, methods=["GET"], include_in_schema=False)
    app.mount("/static", _Static(directory=WEB_DIR), name="static")
