"""A content-addressed disk cache for compressed frames, chunks and previews.

Keys are any strings; each is hashed (SHA-256) to the file ``root/ab/cdef...``. There is
no way to invalidate "everything under a prefix" because hashing scatters related keys.
Callers therefore **put the data version into every key**
(``"data/17/v3/compressed/chunk-0-35-q70"``): when a task's data changes its version
changes, new requests ask for new keys and can never be answered with stale bytes, and
the entries of old versions are never read again, so they age out through LRU eviction.
:meth:`MediaCache.discard` removes one key when a caller knows it is wrong.

Frames must never stall, so :meth:`MediaCache.get_or_build` builds a missing entry
inline, once per key however many requests wait for it (single-flight), in a thread pool
bounded to the machine's CPUs. A build that does not finish within ``build_timeout``
seconds answers :class:`CacheBusy` (HTTP 503 with ``Retry-After``); the build goes on
and its result is stored for the retry. A build that fails raises its exception in every
waiter and stores nothing, so the next request tries again.

Several processes (``labelbay serve --workers N``, ``labelbay worker``) may share one
cache directory:

- Writes go to a hidden temporary file (``.<name>.<random>.tmp``, ignored by scans and
  removed by them once older than ten minutes) in the entry's folder and are moved into
  place with ``os.replace``: a reader sees a whole file or none.
- Single-flight is per process; two processes may build the same key at once, each
  writes a whole file and the last rename wins, which is correct because both hold the
  same data version.
- Each process keeps its own LRU index (entry -> size, last access), seeded by scanning
  the directory and refreshed by rescans (every ``rescan_every`` puts or
  ``rescan_interval`` seconds), so it learns about entries other processes wrote or
  evicted. Recency is shared through the files' access time, which a hit sets
  explicitly (at most once a minute per entry). The modification time is left alone so
  that the ETag (derived from key, size and modification time) stays the same for the
  same file in every process and across hits.
- Any process may evict any entry, so an entry's file can vanish after it was returned.
  Eviction tolerates files that are already gone; a caller that opens ``entry.path``
  later and gets ``FileNotFoundError`` asks :meth:`MediaCache.get_or_build` again.

Do not call :meth:`MediaCache.get_or_build` from inside a build function: the inner
call would wait for a pool thread that the outer build is holding.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import secrets
import stat
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from labelbay.errors import AppError

__all__ = ["CacheBusy", "CacheEntry", "MediaCache"]

log = logging.getLogger(__name__)

# A hit writes its time to the file (for other processes) at most this often.
TOUCH_INTERVAL = 60.0
# Eviction runs when the total passes max_bytes and stops at this share of it.
EVICT_TO = 0.9
# Temporary files of writers that died are removed by scans after this many seconds.
STALE_TEMP_AGE = 600.0

_HEX = frozenset("0123456789abcdef")
BACKGROUND_NICENESS = 10
SCRATCH = "scratch"
"""The folder where builds write large entries before they are moved into place."""
Built = bytes | Path
"""What a build gives: the entry's bytes, or a file it wrote (moved into place)."""
_WRITE_ATTEMPTS = 3


class CacheBusy(AppError):
    """A frame or chunk could not be built in time (or too many builds are queued)."""

    status, code = 503, "busy"

    def __init__(self, what: str, *, reason: str, retry_after: int, message: str) -> None:
        super().__init__(
            message,
            headers={"Retry-After": str(retry_after)},
            reason=reason,
            building=what,
            retry_after=retry_after,
        )


@dataclass(frozen=True, slots=True)
class CacheEntry:
    path: Path
    size: int
    etag: str
    """A quoted strong ETag; the same for the same file in every process."""
    mtime: float


@dataclass(slots=True)
class _Slot:
    size: int
    last_access: float
    """When this process (or, as far as it knows, any process) last used the entry."""
    disk_access: float
    """The last access time known to be recorded on the file itself."""


def _machine_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def _is_hex(text: str) -> bool:
    return all(c in _HEX for c in text)


class MediaCache:
    """A byte-bounded LRU disk cache with single-flight builds; see the module docstring.

    ``max_bytes=0`` means no bound. ``workers`` (default: the CPUs this process may use)
    bounds concurrent builds. ``retry_after`` is the ``Retry-After`` given with
    :class:`CacheBusy`. At most ``max_pending`` builds may be running or queued in this
    process (default ``max(64, 16 * workers)``); a request for a further cold key is
    answered with :class:`CacheBusy` at once rather than queued. Entries accessed within
    ``evict_grace`` seconds are evicted only if the bound cannot be kept otherwise, so a
    file just handed to a caller stays long enough for it to be opened.
    """

    def __init__(
        self,
        root: Path,
        *,
        max_bytes: int,
        workers: int | None = None,
        build_timeout: float = 10.0,
        retry_after: int = 2,
        max_pending: int | None = None,
        evict_grace: float = 1.0,
        rescan_every: int = 256,
        rescan_interval: float = 60.0,
    ) -> None:
        if max_bytes < 0:
            raise ValueError(f"max_bytes must be 0 (no bound) or positive, got {max_bytes}")
        if workers is not None and workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        if build_timeout <= 0:
            raise ValueError(f"build_timeout must be positive, got {build_timeout}")
        self.root = Path(root).absolute()
        self.root.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self.workers = workers or _machine_cpus()
        self.build_timeout = build_timeout
        self.retry_after = max(1, retry_after)
        self.max_pending = max_pending or max(64, 16 * self.workers)
        self.evict_grace = evict_grace
        self.rescan_every = rescan_every
        self.rescan_interval = rescan_interval

        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="media-cache-build")
        # Pre-generation's builds (long video chunks...) never hold the threads requests
        # wait on, and yield the CPU to them: these threads run at a lower priority.
        self._background = ThreadPoolExecutor(
            self.workers, thread_name_prefix="media-cache-background",
            initializer=lower_thread_priority,
        )  # fmt: skip
        self._lock = threading.Lock()
        self._index: OrderedDict[str, _Slot] = OrderedDict()  # least recently used first
        self._bytes = 0
        self._inflight: dict[str, Future[tuple[CacheEntry, bool]]] = {}
        self._hits = self._misses = self._builds = self._joined = 0
        self._evictions = self._busy = self._puts_since_scan = 0
        self._last_scan = time.monotonic()
        self._scan_thread: threading.Thread | None = None
        self._closed = False
        self.rescan()

    def __repr__(self) -> str:
        return f"MediaCache({str(self.root)!r}, max_bytes={self.max_bytes})"

    def __enter__(self) -> MediaCache:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- lookups ------------------------------------------------------------------------

    def path_for(self, key: str) -> Path:
        """Where ``key``'s entry lives (whether or not it exists)."""
        digest = _digest(key)
        return self.root / digest[:2] / digest[2:]

    def get(self, key: str) -> CacheEntry | None:
        """The entry for ``key`` (marked as just used), or ``None``."""
        return self._lookup(_digest(key), count=True)

    def _lookup(self, digest: str, *, count: bool) -> CacheEntry | None:
        path = self.root / digest[:2] / digest[2:]
        try:
            st = os.stat(path)
        except FileNotFoundError:
            with self._lock:
                if count:
                    self._misses += 1
                self._forget(digest)
            return None
        now = time.time()
        with self._lock:
            if count:
                self._hits += 1
            slot = self._index.get(digest)
            if slot is None:  # written by another process since our last scan
                slot = _Slot(st.st_size, now, max(st.st_atime, st.st_mtime))
                self._index[digest] = slot
                self._bytes += st.st_size
            else:
                self._bytes += st.st_size - slot.size
                slot.size = st.st_size
                slot.last_access = now
                self._index.move_to_end(digest)
            touch = now - slot.disk_access >= TOUCH_INTERVAL
            if touch:
                slot.disk_access = now
        if touch:
            _touch_access_time(path)
        return _entry(path, digest, st)

    # -- writes -------------------------------------------------------------------------

    def put(self, key: str, data: bytes) -> CacheEntry:
        """Stores ``data`` under ``key`` (atomically, replacing any entry) and returns it."""
        if not isinstance(data, bytes | bytearray | memoryview):
            raise TypeError(f"cache data must be bytes, got {type(data).__name__}")
        digest = _digest(key)
        path = self.root / digest[:2] / digest[2:]
        return self._record(digest, _write_atomically(path, data))

    def _record(self, digest: str, st: os.stat_result) -> CacheEntry:
        """Indexes a file just put in place, evicting what the bound asks for."""
        now = time.time()
        with self._lock:
            old = self._index.pop(digest, None)
            if old is not None:
                self._bytes -= old.size
            self._index[digest] = _Slot(st.st_size, now, now)
            self._bytes += st.st_size
            victims = self._choose_victims(protect=digest)
            self._puts_since_scan += 1
            scan = self._scan_due()
        self._remove_files(victims)
        if scan:
            self._rescan_in_background()
        return _entry(self.root / digest[:2] / digest[2:], digest, st)

    def scratch_file(self) -> Path:
        """A fresh path for a build to write a large entry into (a hidden temporary name in
        the cache, so a crash leaves nothing a scan keeps); return it from the build."""
        folder = self.root / SCRATCH
        folder.mkdir(exist_ok=True)
        return folder / f".build.{secrets.token_hex(8)}.tmp"

    def put_file(self, key: str, source: Path) -> CacheEntry:
        """Moves a finished file (on the cache's file system) into place as ``key``."""
        digest = _digest(key)
        path = self.root / digest[:2] / digest[2:]
        path.parent.mkdir(parents=True, exist_ok=True)
        os.replace(source, path)
        st = os.stat(path)
        return self._record(digest, st)

    def discard(self, key: str) -> bool:
        """Removes ``key``'s entry; ``True`` if there was a file to remove."""
        digest = _digest(key)
        with self._lock:
            self._forget(digest)
        try:
            (self.root / digest[:2] / digest[2:]).unlink()
        except FileNotFoundError:
            return False
        return True

    # -- building -----------------------------------------------------------------------

    def get_or_build(
        self,
        key: str,
        build: Callable[[], Built],
        *,
        what: str | None = None,
        background: bool = False,
    ) -> tuple[CacheEntry, str]:
        """The entry for ``key``, built by ``build()`` if missing.

        Returns the entry and how it was found: ``"hit"`` (already cached), ``"built"``
        (this call started the build) or ``"joined"`` (this call waited on a build another
        caller had started). Raises :class:`CacheBusy` when the build takes longer than
        ``build_timeout`` (it goes on and is stored when done) or too many builds are
        pending; raises the build's own exception if it failed. ``what`` names the thing
        in error messages (default: the key). ``background`` builds run in a pool of their
        own at a lower CPU priority, without the timeout; requests for the same key join
        them. ``build`` returns the bytes, or a file it wrote (see :meth:`scratch_file`),
        which is moved into place.
        """
        entry = self.get(key)
        if entry is not None:
            return entry, "hit"
        digest = _digest(key)
        label = what or key
        with self._lock:
            future = self._inflight.get(digest)
            joined = future is not None
            if future is None:
                if self._closed:
                    raise RuntimeError("the media cache is closed")
                if len(self._inflight) >= self.max_pending:
                    self._busy += 1
                    raise CacheBusy(
                        label,
                        reason="overloaded",
                        retry_after=self.retry_after,
                        message=(
                            f"{len(self._inflight)} frames and chunks are being built; "
                            f"{label} will be built when retried in {self.retry_after} s"
                        ),
                    )
                pool = self._background if background else self._pool
                future = pool.submit(self._build, key, digest, build)
                self._inflight[digest] = future
            else:
                self._joined += 1
        try:
            entry, fresh = future.result(timeout=None if background else self.build_timeout)
        except TimeoutError:
            with self._lock:
                self._busy += 1
            raise CacheBusy(
                label,
                reason="building",
                retry_after=self.retry_after,
                message=(
                    f"{label} is still being built after {self.build_timeout:g} s; "
                    f"retry in {self.retry_after} s"
                ),
            ) from None
        if joined:
            return entry, "joined"
        return entry, "built" if fresh else "hit"

    def _build(self, key: str, digest: str, build: Callable[[], Built]) -> tuple[CacheEntry, bool]:
        """Runs in the pool; ``(entry, True)`` if built, ``(entry, False)`` if found."""
        try:
            # Another thread's build may have finished between our miss and our submit,
            # or another process may have written the entry meanwhile.
            existing = self._lookup(digest, count=False)
            if existing is not None:
                return existing, False
            with self._lock:
                self._builds += 1
            started = time.perf_counter()
            try:
                data = build()
            except Exception:
                log.warning("building cache entry %s failed", key, exc_info=True)
                raise
            entry = self.put_file(key, data) if isinstance(data, Path) else self.put(key, data)
            log.debug(
                "built %s: %d bytes in %.3f s", key, entry.size, time.perf_counter() - started
            )
            return entry, True
        finally:
            # Still ours: a new future for this digest is only made when none is in flight.
            with self._lock:
                self._inflight.pop(digest, None)

    # -- eviction and scans -------------------------------------------------------------

    def _forget(self, digest: str) -> None:
        """Drops ``digest`` from the index; the caller holds the lock."""
        slot = self._index.pop(digest, None)
        if slot is not None:
            self._bytes -= slot.size

    def _choose_victims(self, *, protect: str | None) -> list[str]:
        """Takes entries off the index until the bound holds; the caller holds the lock.

        Least recently used go first; entries used within ``evict_grace`` seconds go only
        if the total would stay above ``max_bytes`` otherwise; ``protect`` never goes.
        """
        if not self.max_bytes or self._bytes <= self.max_bytes:
            return []
        recent_since = time.time() - self.evict_grace
        total = self._bytes
        victims: list[str] = []
        chosen: set[str] = set()
        for goal, spare_recent in ((int(self.max_bytes * EVICT_TO), True), (self.max_bytes, False)):
            for digest, slot in self._index.items():
                if total <= goal:
                    break
                if spare_recent and slot.last_access >= recent_since:
                    break  # the index is in order of use: all the rest are recent too
                if digest == protect or digest in chosen or digest in self._inflight:
                    continue
                chosen.add(digest)
                victims.append(digest)
                total -= slot.size
        for digest in victims:
            del self._index[digest]
        self._bytes = total
        self._evictions += len(victims)
        return victims

    def _remove_files(self, digests: list[str]) -> None:
        for digest in digests:
            try:
                (self.root / digest[:2] / digest[2:]).unlink()
            except FileNotFoundError:
                pass  # another process evicted it first
            except OSError:
                log.warning("could not evict cache file %s", digest, exc_info=True)
        if digests:
            log.debug("evicted %d cache entries from %s", len(digests), self.root)

    def _scan_due(self) -> bool:
        """Whether to start a background rescan now; the caller holds the lock."""
        if self._closed or self._scan_thread is not None:
            return False
        due = (
            self._puts_since_scan >= self.rescan_every
            or time.monotonic() - self._last_scan >= self.rescan_interval
        )
        if due:
            self._scan_thread = threading.Thread(
                target=self._background_rescan, name="media-cache-rescan", daemon=True
            )
        return due

    def _rescan_in_background(self) -> None:
        with self._lock:
            thread = self._scan_thread
        if thread is not None:
            thread.start()

    def _background_rescan(self) -> None:
        try:
            self.rescan()
        except Exception:
            log.exception("rescanning the media cache %s failed", self.root)
        finally:
            with self._lock:
                self._scan_thread = None

    def rescan(self) -> None:
        """Re-reads the directory: learns entries other processes wrote or removed.

        Entries this process used during the scan are kept even if the scan missed them.
        Evicts afterwards if the directory as a whole is over the bound.
        """
        started = time.time()
        found = self._scan_files()
        with self._lock:
            merged: list[tuple[str, _Slot]] = []
            for digest, (size, access) in found.items():
                slot = self._index.get(digest)
                if slot is None:
                    slot = _Slot(size, access, access)
                else:
                    slot.size = size
                    slot.last_access = max(slot.last_access, access)
                    slot.disk_access = max(slot.disk_access, access)
                merged.append((digest, slot))
            merged.extend(
                (digest, slot)
                for digest, slot in self._index.items()
                if digest not in found and slot.last_access >= started
            )
            merged.sort(key=lambda item: item[1].last_access)
            self._index = OrderedDict(merged)
            self._bytes = sum(slot.size for _, slot in merged)
            self._puts_since_scan = 0
            self._last_scan = time.monotonic()
            victims = self._choose_victims(protect=None)
            entries, total = len(self._index), self._bytes
        self._remove_files(victims)
        log.debug("scanned %s: %d entries, %d bytes", self.root, entries, total)

    def _scan_files(self) -> dict[str, tuple[int, float]]:
        """``digest -> (size, last access)`` for every entry file under the root."""
        found: dict[str, tuple[int, float]] = {}
        now = time.time()
        try:
            tops = [
                e
                for e in os.scandir(self.root)
                if (len(e.name) == 2 and _is_hex(e.name)) or e.name == SCRATCH
            ]
        except FileNotFoundError:
            return found
        for top in tops:
            try:
                listing = os.scandir(top.path)
            except (FileNotFoundError, NotADirectoryError):
                continue
            with listing:
                for item in listing:
                    name = item.name
                    try:
                        st = item.stat(follow_symlinks=False)
                    except FileNotFoundError:
                        continue
                    if name.startswith("."):
                        if name.endswith(".tmp") and now - st.st_mtime > STALE_TEMP_AGE:
                            _unlink_quietly(item.path)
                        continue
                    if len(name) != 62 or not _is_hex(name) or not stat.S_ISREG(st.st_mode):
                        continue
                    found[top.name + name] = (st.st_size, max(st.st_atime, st.st_mtime))
        return found

    # -- life cycle and numbers ---------------------------------------------------------

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {
                "entries": len(self._index),
                "bytes": self._bytes,
                "max_bytes": self.max_bytes,
                "hits": self._hits,
                "misses": self._misses,
                "builds": self._builds,
                "joined": self._joined,
                "evictions": self._evictions,
                "busy": self._busy,
                "in_flight": len(self._inflight),
            }

    def close(self, *, wait: bool = True) -> None:
        """Stops taking builds; with ``wait`` lets running and queued builds finish."""
        with self._lock:
            self._closed = True
            thread = self._scan_thread
        self._pool.shutdown(wait=wait, cancel_futures=not wait)
        self._background.shutdown(wait=wait, cancel_futures=not wait)
        if wait and thread is not None and thread.is_alive():
            thread.join()


def lower_thread_priority() -> None:
    """Makes the calling thread nicer by BACKGROUND_NICENESS (Linux lets a thread lower its
    own priority); a no-op where that is not possible. For pool initializers."""
    with contextlib.suppress(AttributeError, OSError):
        thread = threading.get_native_id()
        os.setpriority(
            os.PRIO_PROCESS, thread, os.getpriority(os.PRIO_PROCESS, thread) + BACKGROUND_NICENESS
        )


def _entry(path: Path, digest: str, st: os.stat_result) -> CacheEntry:
    tag = hashlib.sha256(f"{digest}:{st.st_size}:{st.st_mtime_ns}".encode()).hexdigest()
    return CacheEntry(path=path, size=st.st_size, etag=f'"{tag[:32]}"', mtime=st.st_mtime)


def _write_atomically(path: Path, data: bytes | bytearray | memoryview) -> os.stat_result:
    """Writes ``path`` through a hidden temporary file; returns the file's stat."""
    for attempt in range(_WRITE_ATTEMPTS):
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            out = open(tmp, "xb")  # noqa: SIM115 - closed below
        except (FileNotFoundError, FileExistsError):
            # The folder was removed under us (someone cleared the cache): try again.
            if attempt == _WRITE_ATTEMPTS - 1:
                raise
            continue
        try:
            with out:
                out.write(data)
                out.flush()
                st = os.fstat(out.fileno())
            os.replace(tmp, path)  # keeps the inode, so the stat (and ETag) stays right
        except BaseException:
            _unlink_quietly(str(tmp))
            raise
        return st
    raise AssertionError("unreachable")


def _touch_access_time(path: Path) -> None:
    """Sets the file's access time to now, keeping its modification time (and ETag)."""
    try:
        if os.utime in os.supports_fd:
            fd = os.open(path, os.O_RDONLY)
            try:
                st = os.fstat(fd)
                os.utime(fd, ns=(time.time_ns(), st.st_mtime_ns))
            finally:
                os.close(fd)
        else:
            st = os.stat(path)
            os.utime(path, ns=(time.time_ns(), st.st_mtime_ns))
    except FileNotFoundError:
        pass
    except OSError:
        log.debug("could not record access to %s", path, exc_info=True)


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError:
        log.debug("could not remove %s", path, exc_info=True)
