"""Renders every error as JSON: ``{"detail": message, "code": code, ...}``."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from labelbay.api.responses import FastJSONResponse
from labelbay.errors import AppError

log = logging.getLogger(__name__)


def _field_name(loc: tuple[object, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AppError)
    async def app_error(_request: Request, exc: AppError) -> FastJSONResponse:
        body = {"detail": exc.message, "code": exc.code, **exc.detail}
        return FastJSONResponse(body, status_code=exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_payload(_request: Request, exc: RequestValidationError) -> FastJSONResponse:
        fields: dict[str, list[str]] = {}
        for err in exc.errors():
            fields.setdefault(_field_name(tuple(err.get("loc", ()))), []).append(err["msg"])
        names = ", ".join(fields)
        return FastJSONResponse(
            {"detail": f"invalid value for {names}", "code": "invalid", "fields": fields},
            status_code=400,
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> FastJSONResponse:
        return FastJSONResponse(
            {"detail": str(exc.detail), "code": "http_error"},
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(Exception)
    async def bug(_request: Request, exc: Exception) -> FastJSONResponse:
        log.exception("unhandled error", exc_info=exc)
        return FastJSONResponse({"detail": "internal server error", "code": "internal"}, 500)
