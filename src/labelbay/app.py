"""The application factory: ``uvicorn --factory labelbay.app:create_app``."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from labelbay import __version__
from labelbay.api.errors import install_error_handlers
from labelbay.api.responses import FastJSONResponse
from labelbay.api.router import api
from labelbay.config import Settings, get_settings
from labelbay.db import make_engine, make_sessionmaker, write_intent
from labelbay.media import delivery
from labelbay.worker import embedded_queue

log = logging.getLogger(__name__)

READ_METHODS = {"GET", "HEAD", "OPTIONS"}


class WriteIntent:
    """Marks requests that change data, so SQLite opens their transactions for writing."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            token = write_intent.set(scope["method"] not in READ_METHODS)
            try:
                await self.app(scope, receive, send)
            finally:
                write_intent.reset(token)
        else:
            await self.app(scope, receive, send)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """The background queue: consumer threads in embedded mode (see worker.embedded_threads)."""
    with embedded_queue(app.state.settings, app.state.sessionmaker):
        yield


def create_app(settings: Settings | None = None) -> FastAPI:
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
    delivery.configure(settings, app.state.media_cache)
    app.state.engine = engine
    app.state.sessionmaker = make_sessionmaker(engine)
    install_error_handlers(app)
    app.include_router(api)
    app.add_middleware(WriteIntent)
    return app
