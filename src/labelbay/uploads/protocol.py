"""CVAT's upload protocol on one URL, decided by headers (see the API spec, 3.7):
Upload-Finish > Upload-Start > Upload-Length (TUS create) > Upload-Multiple > one-shot."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, BinaryIO

from fastapi import Request, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from labelbay.api.responses import FastJSONResponse
from labelbay.config import Settings
from labelbay.errors import Invalid, TooLarge
from labelbay.uploads import service
from labelbay.users.models import User

TUS_HEADERS = {
    "Tus-Resumable": "1.0.0",
    "Tus-Version": "1.0.0",
    "Tus-Extension": "creation,checksum",
    "Tus-Checksum-Algorithm": "md5,sha1,sha256",
}
MAX_FORM_FILES = 1_000_000

Finish = Callable[[dict[str, Any]], Awaitable[Response]]
FieldsHook = Callable[[dict[str, Any]], None]
"""Sees the plain fields an upload request carried before its files are stored."""


async def save_form_files(
    request: Request,
    session: Session,
    settings: Settings,
    area: str,
    receiver: service.Receiver | None = None,
    on_fields: FieldsHook | None = None,
) -> dict[str, Any]:
    """Stores the files of a multipart body; returns its other fields (shown to
    ``on_fields`` before the files are stored)."""
    form = await request.form(max_files=MAX_FORM_FILES, max_fields=MAX_FORM_FILES)
    fields: dict[str, Any] = {}
    files: list[tuple[str, BinaryIO]] = []
    try:
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                files.append((value.filename or "", value.file))
            else:
                fields[key] = value
        if on_fields is not None:
            on_fields(fields)
        await run_in_threadpool(
            partial(service.save_files, receiver=receiver), session, settings, area, files
        )
    finally:
        await form.close()
    return fields


async def dispatch(
    request: Request,
    session: Session,
    settings: Settings,
    user: User,
    *,
    area: str,
    location_base: str,
    keep_names: bool,
    finish: Finish,
    receiver: service.Receiver | None = None,
    on_fields: FieldsHook | None = None,
) -> Response:
    headers = request.headers
    save = partial(save_form_files, receiver=receiver, on_fields=on_fields)
    if "upload-finish" in headers:
        if headers.get("content-type", "").startswith("multipart/"):
            return await finish(await save(request, session, settings, area))
        return await finish(await json_body(request))
    if "upload-start" in headers:
        await run_in_threadpool(service.start, session, settings, area)
        if on_fields is not None and headers.get("content-type", "").startswith("application/json"):
            with contextlib.suppress(Invalid):  # the body is optional here: hints only
                on_fields(await json_body(request))
        return Response(status_code=202)
    if "upload-length" in headers:
        try:
            length = int(headers["upload-length"])
        except ValueError as exc:
            raise Invalid("Upload-Length: must be an integer", field="Upload-Length") from exc
        meta = service.parse_metadata(headers.get("upload-metadata", ""))
        filename = meta.get("filename") or meta.get("name") or ""
        if not filename:
            raise Invalid(
                "Upload-Metadata: give the file name as 'filename <base64>'",
                field="Upload-Metadata",
            )
        upload = await run_in_threadpool(
            service.create_tus, session, settings, area, owner=user, length=length,
            filename=filename, keep_name=keep_names,
        )  # fmt: skip
        return Response(
            status_code=201,
            headers={
                **TUS_HEADERS,
                "Location": f"{location_base}/{upload.id}",
                "Upload-Filename": upload.filename,
                "Upload-Offset": "0",
                "Tus-Max-Size": str(settings.max_upload_bytes),
                "Access-Control-Expose-Headers": "Location, Upload-Filename, Upload-Offset",
            },
        )
    if "upload-multiple" in headers:
        await save(request, session, settings, area)
        return FastJSONResponse({"detail": "files received"}, status_code=200)
    # A one-shot request: files and parameters in one multipart body.
    await run_in_threadpool(service.start, session, settings, area)
    return await finish(await save(request, session, settings, area))


async def read_chunk(request: Request, limit: int, filename: str) -> bytes:
    parts: list[bytes] = []
    size = 0
    async for piece in request.stream():
        size += len(piece)
        if size > limit:
            raise TooLarge(
                f"{filename}: a chunk may carry at most {limit} bytes; send smaller chunks",
                file=filename,
                max_chunk_bytes=limit,
            )
        parts.append(piece)
    return b"".join(parts)


async def tus_patch(
    request: Request, session: Session, settings: Settings, user: User, *, area: str,
    upload_id: str, receiver: service.Receiver | None = None,
) -> Response:  # fmt: skip
    upload = await run_in_threadpool(service.get_upload, session, upload_id, area=area, user=user)
    try:
        offset = int(request.headers.get("upload-offset", ""))
    except ValueError as exc:
        raise Invalid("Upload-Offset: must be an integer", field="Upload-Offset") from exc
    chunk = await read_chunk(request, settings.max_chunk_bytes, upload.filename)
    new_offset = await run_in_threadpool(
        service.write_chunk, session, settings, upload, offset=offset, chunk=chunk,
        checksum=request.headers.get("upload-checksum"), receiver=receiver,
    )  # fmt: skip
    return Response(status_code=204, headers={**TUS_HEADERS, "Upload-Offset": str(new_offset)})


def tus_head(session: Session, user: User, *, area: str, upload_id: str) -> Response:
    upload = service.get_upload(session, upload_id, area=area, user=user)
    return Response(
        status_code=200,
        headers={
            **TUS_HEADERS,
            "Upload-Offset": str(upload.offset),
            "Upload-Length": str(upload.length),
            "Cache-Control": "no-store",
        },
    )


async def json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    import orjson

    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise Invalid(f"body: not valid JSON ({exc})", field="body") from exc
    if not isinstance(value, dict):
        raise Invalid("body: expected a JSON object", field="body")
    return value
