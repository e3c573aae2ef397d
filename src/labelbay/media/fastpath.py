"""The hot path for frames and chunks that are ready: answered ahead of the routing, with no
database and no worker thread.

Annotators ask for frames and chunks many times a second. The regular routes
(:mod:`labelbay.media.routes`) resolve a request fully: they authenticate, check access in
the database and build whatever is missing. Each time one of them serves a job's or a task's
media it leaves a *view* here: what that user may see of that job or task, and the keys of
its artifacts. The next request of that user for that job or task whose artifact is already
in the media cache is answered from the view, in the event loop.

Everything else falls through to the regular route, which has the final word: an unknown
key or cookie, a view that expired or was invalidated, an artifact not built yet (built
there), Range and HEAD requests, previews, unexpected parameters and bad values (the route
words the error).

A view is only used while nothing was written since it was made: any write request
invalidates the views of its process at once and those of the other processes sharing the
data dir through the stamp file's modification time (see :class:`Views`). A view also
expires after ``VIEW_TTL`` seconds, which bounds staleness for processes that share the
database but not the data dir.
"""

from __future__ import annotations

import os
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from labelbay.api.files import INLINE_BYTES, not_modified, stat_etag, validators
from labelbay.config import Settings
from labelbay.errors import Invalid
from labelbay.media import delivery
from labelbay.media.cache import CacheEntry, MediaCache
from labelbay.media.models import TaskData
from labelbay.users import auth

VIEW_TTL = 2.0
"""Seconds a view may be used (its user's access and data version are at most this old)."""
READ_IN_LOOP_BYTES = 1024 * 1024
"""Files up to this size are read in the event loop (from the page cache, in microseconds);
larger ones in one worker thread, and those past INLINE_BYTES are streamed."""
FAST_HEADER = "X-Media-Path"
"""Marks answers of the fast path (the routes' answers do not carry it)."""
_LIMIT = 50_000
_ALLOWED_PARAMS = frozenset({"type", "quality", "number", "index"})
_PATH = re.compile(r"^/api/(jobs|tasks)/(\d+)/data/?$")

Stamp = tuple[int, int]


@dataclass(frozen=True, slots=True)
class View:
    """What one user may fetch of one job's (or task's) media, as a route last found it."""

    artifacts: delivery.Artifacts
    lo: int
    """The first frame the user may ask for (the job's first, or 0 for a task)."""
    hi: int
    """The last frame the user may ask for."""
    for_job: bool
    stamp: Stamp
    expires: float


class Views:
    """Views by (user, "jobs"/"tasks", id), frame files by (data, frame), and the stamp.

    The stamp is this process's count of write requests together with the modification
    time of ``stamp_path``, which every process touches after a write request. A route reads
    the stamp *before* its database reads and files its view under it, so a view made from
    data that a concurrent write changed is never used."""

    def __init__(self, stamp_path: Path) -> None:
        self.stamp_path = stamp_path
        self._generation = 0
        self._lock = threading.Lock()
        self._views: dict[tuple[int, str, int], View] = {}
        self._files: dict[tuple[int, int], tuple[Path, str]] = {}

    def stamp(self) -> Stamp:
        try:
            mtime = os.stat(self.stamp_path).st_mtime_ns
        except FileNotFoundError:
            mtime = 0
        return self._generation, mtime

    def invalidate(self) -> None:
        """After a write: no view made before now is used again, here or elsewhere."""
        with self._lock:
            self._generation += 1
            self._views.clear()
        now = time.time_ns()
        try:
            os.utime(self.stamp_path, ns=(now, now))
        except FileNotFoundError:
            self.stamp_path.parent.mkdir(parents=True, exist_ok=True)
            self.stamp_path.touch()

    def remember(self, user_id: int, kind: str, obj_id: int, view: View) -> None:
        with self._lock:
            if len(self._views) >= _LIMIT:
                self._views.clear()
            self._views[(user_id, kind, obj_id)] = view

    def remember_file(self, data_id: int, number: int, path: Path, mime: str) -> None:
        with self._lock:
            if len(self._files) >= _LIMIT:
                self._files.clear()
            self._files[(data_id, number)] = (path, mime)

    def find(self, user_id: int, kind: str, obj_id: int) -> View | None:
        view = self._views.get((user_id, kind, obj_id))
        if view is None or view.expires < time.monotonic() or view.stamp != self.stamp():
            return None
        return view

    def file(self, data_id: int, number: int) -> tuple[Path, str] | None:
        return self._files.get((data_id, number))


def make_view(
    settings: Settings, cache: MediaCache, data: TaskData, *, lo: int, hi: int, for_job: bool,
    stamp: Stamp,
) -> View:  # fmt: skip
    artifacts = delivery.Artifacts(settings, cache, delivery.snapshot(data))
    return View(artifacts, lo, hi, for_job, stamp, time.monotonic() + VIEW_TTL)


def job_chunk_bounds(
    start: int, stop: int, chunk_size: int, *, number: int | None, index: int | None
) -> tuple[int, int]:
    """The frames of a job's chunk, asked for by job chunk ``index`` or task chunk ``number``
    (exactly one of them); :class:`Invalid` names a bad one."""
    if (number is None) == (index is None):
        raise Invalid("give exactly one of number (task chunk) or index (job chunk)", field="index")
    if index is not None:
        lo = start + index * chunk_size
        if index < 0 or lo > stop:
            last = (stop - start) // chunk_size
            raise Invalid(f"index: chunk {index} is outside 0-{last}", field="index")
        return lo, min(lo + chunk_size - 1, stop)
    assert number is not None
    lo, hi = max(number * chunk_size, start), min((number + 1) * chunk_size - 1, stop)
    if number < 0 or lo > hi:
        raise Invalid(f"number: chunk {number} has no frames of this job", field="number")
    return lo, hi


def task_chunk_bounds(size: int, chunk_size: int, number: int) -> tuple[int, int]:
    last = (size - 1) // chunk_size
    if not 0 <= number <= last:
        raise Invalid(f"number: chunk {number} is outside 0-{last}", field="number")
    return number * chunk_size, min((number + 1) * chunk_size, size) - 1


def chunk_media_type(data: TaskData, quality: str) -> str:
    if delivery.is_video(data) and quality == delivery.COMPRESSED:
        return "video/mp4"
    return "application/zip"


class FastMedia:
    """ASGI middleware: serves ready frames and chunks from views, passes the rest on."""

    def __init__(self, app: ASGIApp, views: Views, cache: MediaCache) -> None:
        self.app, self.views, self.cache = app, views, cache

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            match = _PATH.match(scope["path"])
            if match is not None:
                try:
                    response = self._answer(scope, match[1], int(match[2]))
                    if isinstance(response, _Pending):
                        response = await response.load()
                except FileNotFoundError:  # evicted just now: the route rebuilds it
                    response = None
                if response is not None:
                    await response(scope, receive, send)
                    return
        await self.app(scope, receive, send)

    def _answer(self, scope: Scope, kind: str, obj_id: int) -> Response | _Pending | None:
        request = Request(scope)
        user_id = self._user(request)
        if user_id is None:
            return None
        view = self.views.find(user_id, kind, obj_id)
        if view is None:
            return None
        params = dict(parse_qsl(scope["query_string"].decode("latin-1")))
        if not params.keys() <= _ALLOWED_PARAMS or request.headers.get("x-organization"):
            return None
        if "range" in request.headers:
            return None
        quality = params.get("quality", delivery.COMPRESSED)
        if quality not in (delivery.ORIGINAL, delivery.COMPRESSED):
            return None
        try:
            number = _int(params.get("number"))
            index = _int(params.get("index"))
            if params.get("type") == "frame":
                return self._frame(request, view, number, quality)
            if params.get("type") == "chunk":
                return self._chunk(request, view, number, index, quality)
        except (Invalid, ValueError):
            return None
        return None

    def _user(self, request: Request) -> int | None:
        try:
            key, kind = auth.presented(
                request.headers.get("authorization", ""),
                request.cookies.get(auth.SESSION_COOKIE, ""),
            )
        except ValueError:
            return None  # the route words the error
        found = auth.remembered(key, kind) if key else None
        return None if found is None else found[0].id

    def _frame(
        self, request: Request, view: View, number: int | None, quality: str
    ) -> Response | _Pending | None:
        if number is None or not view.lo <= number <= view.hi:
            return None
        artifacts = view.artifacts
        data = artifacts.data
        if quality == delivery.COMPRESSED or delivery.is_video(data):
            media_type = "image/jpeg" if quality == delivery.COMPRESSED else "image/png"
            return self._cached(request, artifacts.frame_key(number, quality), media_type)
        stored = self.views.file(data.id, number)
        if stored is None:
            return None
        path, mime = stored
        st = os.stat(path)
        return self._file(request, path, st, stat_etag(st), mime, "file")

    def _chunk(
        self, request: Request, view: View, number: int | None, index: int | None, quality: str
    ) -> Response | _Pending | None:
        data = view.artifacts.data
        if view.for_job:
            lo, hi = job_chunk_bounds(view.lo, view.hi, data.chunk_size, number=number, index=index)
        elif number is None or index is not None:
            return None
        else:
            lo, hi = task_chunk_bounds(data.size, data.chunk_size, number)
        key = view.artifacts.chunk_key(lo, hi, quality)
        return self._cached(request, key, chunk_media_type(data, quality))

    def _cached(self, request: Request, key: str, media_type: str) -> Response | _Pending | None:
        entry: CacheEntry | None = self.cache.get(key)
        if entry is None:
            return None
        st = os.stat(entry.path)
        return self._file(request, entry.path, st, entry.etag, media_type, "hit")

    def _file(
        self, request: Request, path: Path, st: os.stat_result, etag: str, media_type: str,
        status: str,
    ) -> Response | _Pending:  # fmt: skip
        headers = {**validators(st, etag), "X-Cache-Status": status, FAST_HEADER: "fast"}
        if not_modified(request, etag, st.st_mtime):
            return Response(status_code=304, headers=headers)
        if st.st_size <= READ_IN_LOOP_BYTES:
            with open(path, "rb") as source:
                return Response(source.read(), media_type=media_type, headers=headers)
        if st.st_size <= INLINE_BYTES:
            return _Pending(path, media_type, headers)
        return FileResponse(path, media_type=media_type, headers=headers, stat_result=st)


@dataclass(slots=True)
class _Pending:
    """A file read in one worker thread before it is sent whole."""

    path: Path
    media_type: str
    headers: dict[str, str]

    async def load(self) -> Response:
        body = await anyio.to_thread.run_sync(self.path.read_bytes)
        return Response(body, media_type=self.media_type, headers=self.headers)


def _int(raw: str | None) -> int | None:
    return None if raw is None or raw == "" else int(raw)
