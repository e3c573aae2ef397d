"""Serving stored files: validators (ETag, Last-Modified), 304 on revalidation, Range."""

from __future__ import annotations

import hashlib
import os
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path

from fastapi import Request, Response
from fastapi.responses import FileResponse

# Frames and chunks of a task never change under the same URL (data is immutable once
# ingested; ids are never reused), so clients may keep them for a while and then revalidate.
CACHE_CONTROL = "private, max-age=3600"
# Files up to this size are read and sent whole; larger ones (and Range requests) stream.
INLINE_BYTES = 8 * 1024 * 1024


def stat_etag(st: os.stat_result) -> str:
    base = f"{st.st_mtime_ns}-{st.st_size}"
    return f'"{hashlib.md5(base.encode(), usedforsecurity=False).hexdigest()}"'


def _matches(header: str, etag: str) -> bool:
    if header.strip() == "*":
        return True
    tags = [t.strip().removeprefix("W/") for t in header.split(",")]
    return etag in tags


def _not_modified_since(header: str, mtime: float) -> bool:
    try:
        since = parsedate_to_datetime(header).timestamp()
    except (TypeError, ValueError):
        return False
    return int(mtime) <= since


def validators(st: os.stat_result, etag: str | None = None) -> dict[str, str]:
    """The caching headers of a stored file (its ETag defaults to one made from its stat)."""
    return {
        "ETag": etag or stat_etag(st),
        "Last-Modified": formatdate(st.st_mtime, usegmt=True),
        "Cache-Control": CACHE_CONTROL,
    }


def not_modified(request: Request, etag: str, mtime: float) -> bool:
    """Whether the client's copy is current (If-None-Match wins over If-Modified-Since)."""
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is not None:
        return _matches(if_none_match, etag)
    since = request.headers.get("if-modified-since")
    return bool(since) and _not_modified_since(since, mtime)


def file_response(
    request: Request,
    path: Path,
    media_type: str,
    *,
    etag: str | None = None,
    extra_headers: dict[str, str] | None = None,
) -> Response:
    """The file at ``path``, or 304 when the client's copy is current. Range requests are
    answered by Starlette's FileResponse (206 with the requested bytes)."""
    st = os.stat(path)
    headers = {**validators(st, etag), **(extra_headers or {})}
    if not_modified(request, headers["ETag"], st.st_mtime):
        return Response(status_code=304, headers=headers)
    if st.st_size <= INLINE_BYTES and "range" not in request.headers:
        # Routes run in a worker thread already: reading a frame here and sending it in one
        # piece costs less than streaming it through more thread hops.
        with open(path, "rb") as source:
            return Response(source.read(), media_type=media_type, headers=headers)
    return FileResponse(path, media_type=media_type, headers=headers, stat_result=st)
