"""The application factory: ``uvicorn --factory labelbay.app:create_app``."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from labelbay import __version__, ui
from labelbay.api.errors import install_error_handlers
from labelbay.api.responses import FastJSONResponse
from labelbay.api.router import api
from labelbay.config import Settings, get_settings
from labelbay.db import make_engine, make_sessionmaker, write_intent
from labelbay.media import codecpool, delivery, early
from labelbay.media.fastpath import FastMedia, Views
from labelbay.memory import tune_malloc
from labelbay.worker import embedded_queue

log = logging.getLogger(__name__)

READ_METHODS = {"GET", "HEAD", "OPTIONS"}


class WriteIntent:
    """Marks requests that change data, so SQLite opens their transactions for writing, and
    invalidates the media fast path's views once such a request has committed (when its
    response starts) and again when it ends."""

    def __init__(self, app: ASGIApp, views: Views) -> None:
        self.app, self.views = app, views

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        writes = scope["method"] not in READ_METHODS
        token = write_intent.set(writes)
        if not writes:
            try:
                await self.app(scope, receive, send)
            finally:
                write_intent.reset(token)
            return

        async def send_after_invalidating(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.views.invalidate()
            await send(message)

        try:
            await self.app(scope, receive, send_after_invalidating)
        finally:
            write_intent.reset(token)
            self.views.invalidate()


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """The background queue: consumer threads in embedded mode (see worker.embedded_threads)."""
    try:
        with embedded_queue(app.state.settings, app.state.sessionmaker):
            yield
    finally:
        early.close()
        codecpool.close()


def create_app(settings: Settings | None = None) -> FastAPI:
    tune_malloc()
    settings = settings or get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.resolved_database_url)
    app = FastAPI(
        title="Labelbay",
        version=__version__,
        default_response_class=FastJSONResponse,
        redirect_slashes=False,
        docs_url="/api/docs",
        openapi_url="/api/schema",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.media_cache = delivery.make_cache(settings)
    app.state.views = Views(settings.data_dir / "views.stamp")
    delivery.configure(settings, app.state.media_cache)
    app.state.engine = engine
    app.state.sessionmaker = make_sessionmaker(engine)
    install_error_handlers(app)
    app.include_router(api)
    ui.mount(app)
    app.add_middleware(WriteIntent, views=app.state.views)
    # Outermost: a ready frame or chunk is answered before anything else runs.
    app.add_middleware(FastMedia, views=app.state.views, cache=app.state.media_cache)
    return app
