"""Tests for the content-addressed media cache: bound, LRU, single-flight, processes."""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from labelbay.api.errors import install_error_handlers
from labelbay.errors import AppError
from labelbay.media import cache as cache_module
from labelbay.media.cache import CacheBusy, CacheEntry, MediaCache

MakeCache = Callable[..., MediaCache]


@pytest.fixture
def make_cache(tmp_path: Path) -> Iterator[MakeCache]:
    made: list[MediaCache] = []

    def make(root: Path | None = None, **options: object) -> MediaCache:
        options.setdefault("max_bytes", 0)
        options.setdefault("evict_grace", 0.0)
        options.setdefault("rescan_interval", 3600.0)
        options.setdefault("rescan_every", 10**9)
        cache = MediaCache(root or tmp_path / "cache", **options)  # type: ignore[arg-type]
        made.append(cache)
        return cache

    yield make
    for cache in made:
        cache.close()


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.01)


def entry_files(root: Path) -> list[Path]:
    return [p for p in root.glob("??/*") if not p.name.startswith(".")]


def disk_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in entry_files(root))


def content_for(key: str, size: int = 100) -> bytes:
    seed = hashlib.sha256(key.encode()).digest()
    return (seed * (size // len(seed) + 1))[:size]


# -- basics ----------------------------------------------------------------------------


def test_put_and_get(make_cache: MakeCache) -> None:
    cache = make_cache()
    key = "data/17/v3/compressed/chunk-0-35-q70"
    assert cache.get(key) is None
    entry = cache.put(key, b"chunk bytes")
    digest = hashlib.sha256(key.encode()).hexdigest()
    assert entry.path == cache.root / digest[:2] / digest[2:]
    assert cache.path_for(key) == entry.path
    assert entry.path.read_bytes() == b"chunk bytes"
    assert entry.size == 11
    assert entry.etag.startswith('"') and entry.etag.endswith('"')
    assert entry.mtime == entry.path.stat().st_mtime
    again = cache.get(key)
    assert again == entry
    stats = cache.stats()
    assert (stats["hits"], stats["misses"], stats["entries"], stats["bytes"]) == (1, 1, 1, 11)


def test_etag_is_stable_across_instances_and_touches(
    make_cache: MakeCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    one = make_cache()
    entry = one.put("k", b"payload")
    before = os.stat(entry.path)
    monkeypatch.setattr(cache_module, "TOUCH_INTERVAL", 0.0)
    time.sleep(0.01)
    hit = one.get("k")
    assert hit is not None and hit.etag == entry.etag
    after = os.stat(entry.path)
    assert after.st_mtime_ns == before.st_mtime_ns  # the touch keeps the ETag
    assert after.st_atime_ns > before.st_atime_ns  # but records the access
    other = make_cache()
    seen = other.get("k")
    assert seen is not None and seen.etag == entry.etag


def test_etag_differs_between_keys_and_content(make_cache: MakeCache) -> None:
    cache = make_cache()
    a = cache.put("a", b"same")
    b = cache.put("b", b"same")
    c = cache.put("a", b"longer")
    assert len({a.etag, b.etag, c.etag}) == 3


def test_byte_accounting(make_cache: MakeCache) -> None:
    cache = make_cache()
    cache.put("a", b"x" * 100)
    cache.put("b", b"x" * 50)
    assert cache.stats()["bytes"] == 150
    cache.put("a", b"x" * 10)  # replaces
    assert (cache.stats()["bytes"], cache.stats()["entries"]) == (60, 2)
    assert cache.discard("b")
    assert not cache.discard("b")
    assert cache.get("b") is None
    assert (cache.stats()["bytes"], cache.stats()["entries"]) == (10, 1)
    assert disk_bytes(cache.root) == 10


def test_put_rejects_non_bytes(make_cache: MakeCache) -> None:
    with pytest.raises(TypeError):
        make_cache().put("k", "text")  # type: ignore[arg-type]


# -- bound and eviction ----------------------------------------------------------------


def test_lru_eviction_keeps_recently_read_entries(make_cache: MakeCache) -> None:
    cache = make_cache(max_bytes=1000)
    for i in range(10):
        cache.put(f"k{i}", content_for(f"k{i}"))
    assert cache.stats()["evictions"] == 0  # exactly at the bound is fine
    assert cache.get("k0") is not None  # k0 is now the most recently used
    cache.put("k10", content_for("k10"))
    # 1100 > 1000: the least recently used go until the total is at most 900.
    assert cache.get("k1") is None
    assert cache.get("k2") is None
    for i in [0, *range(3, 11)]:
        entry = cache.get(f"k{i}")
        assert entry is not None and entry.path.read_bytes() == content_for(f"k{i}")
    stats = cache.stats()
    assert (stats["evictions"], stats["bytes"], stats["entries"]) == (2, 900, 9)
    assert disk_bytes(cache.root) == 900


def test_eviction_goes_to_ninety_percent(make_cache: MakeCache) -> None:
    cache = make_cache(max_bytes=10_000)
    for i in range(101):
        cache.put(f"k{i}", content_for(f"k{i}"))
    stats = cache.stats()
    assert stats["bytes"] <= 10_000
    # The first overflow (10,100 bytes) evicted down to 9,000, i.e. 11 entries.
    assert stats["evictions"] == 11
    assert stats["bytes"] == 9_000
    assert disk_bytes(cache.root) == stats["bytes"]


def test_unbounded_when_max_bytes_is_zero(make_cache: MakeCache) -> None:
    cache = make_cache(max_bytes=0)
    for i in range(50):
        cache.put(f"k{i}", b"x" * 1000)
    assert cache.stats()["evictions"] == 0
    assert len(entry_files(cache.root)) == 50


def test_entry_being_returned_is_never_evicted(make_cache: MakeCache) -> None:
    cache = make_cache(max_bytes=100)
    cache.put("small", b"x" * 50)
    big = cache.put("big", b"y" * 500)  # larger than the whole bound
    assert big.path.read_bytes() == b"y" * 500
    assert cache.get("small") is None
    built, how = cache.get_or_build("huge", lambda: b"z" * 700)
    assert how == "built"
    assert built.path.read_bytes() == b"z" * 700


def test_recently_used_entries_are_spared_until_the_hard_bound(make_cache: MakeCache) -> None:
    cache = make_cache(max_bytes=1000, evict_grace=60.0)
    for i in range(12):
        cache.put(f"k{i}", content_for(f"k{i}"))
    # All entries are recent: eviction stops at the bound itself, oldest first.
    assert cache.stats()["bytes"] == 1000
    assert [cache.get(f"k{i}") is None for i in range(12)] == [True] * 2 + [False] * 10


def test_construction_scan_seeds_lru_from_file_times(tmp_path: Path, make_cache: MakeCache) -> None:
    root = tmp_path / "shared"
    writer = make_cache(root)
    paths = [writer.put(f"k{i}", content_for(f"k{i}")).path for i in range(5)]
    now = time.time()
    for age, path in zip([500, 100, 400, 200, 300], paths, strict=True):
        os.utime(path, (now - age, now - age))
    reader = make_cache(root, max_bytes=350)  # 500 bytes found: evicts down to 315
    assert reader.stats()["evictions"] == 2
    assert sorted(p.exists() for p in paths) == [False, False, True, True, True]
    assert not paths[0].exists() and not paths[2].exists()  # the two oldest


# -- single flight, timeouts, failures -------------------------------------------------


def test_single_flight_one_build_for_fifty_callers(make_cache: MakeCache) -> None:
    cache = make_cache(workers=4, build_timeout=30.0)
    calls = 0
    calls_lock = threading.Lock()

    def build() -> bytes:
        nonlocal calls
        with calls_lock:
            calls += 1
        time.sleep(0.2)
        # Hold the build open until every other caller has joined it.
        wait_until(lambda: cache.stats()["joined"] >= 49)
        return b"frame"

    barrier = threading.Barrier(50)
    outcomes: list[str] = []
    entries: list[CacheEntry] = []
    errors: list[BaseException] = []

    def ask() -> None:
        try:
            barrier.wait()
            entry, how = cache.get_or_build("data/1/v1/frame-0", build)
            outcomes.append(how)
            entries.append(entry)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=ask) for _ in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert calls == 1
    assert Counter(outcomes) == {"built": 1, "joined": 49}
    assert len(set(entries)) == 1
    stats = cache.stats()
    assert (stats["builds"], stats["joined"], stats["in_flight"]) == (1, 49, 0)
    assert cache.get_or_build("data/1/v1/frame-0", build)[1] == "hit"
    assert calls == 1


def test_timeout_answers_busy_and_the_build_finishes(make_cache: MakeCache) -> None:
    cache = make_cache(build_timeout=0.2, retry_after=3)
    calls = 0

    def slow() -> bytes:
        nonlocal calls
        calls += 1
        time.sleep(0.8)
        return b"late chunk"

    with pytest.raises(CacheBusy) as caught:
        cache.get_or_build("data/2/v1/chunk-0", slow, what="chunk 0 of job 2")
    busy = caught.value
    assert isinstance(busy, AppError)
    assert (busy.status, busy.code) == (503, "busy")
    assert busy.headers == {"Retry-After": "3"}
    assert "chunk 0 of job 2" in busy.message
    assert busy.detail["reason"] == "building"
    # A second caller joins the same build and also times out, without a second build.
    with pytest.raises(CacheBusy):
        cache.get_or_build("data/2/v1/chunk-0", slow)
    wait_until(lambda: cache.stats()["in_flight"] == 0)
    entry = cache.get("data/2/v1/chunk-0")
    assert entry is not None and entry.path.read_bytes() == b"late chunk"
    assert cache.get_or_build("data/2/v1/chunk-0", slow)[1] == "hit"
    assert calls == 1
    assert cache.stats()["busy"] == 2


def test_busy_renders_as_json_503_with_retry_after(make_cache: MakeCache) -> None:
    cache = make_cache(build_timeout=0.05, retry_after=2)
    release = threading.Event()
    app = FastAPI()
    install_error_handlers(app)

    def slow() -> bytes:
        release.wait(5)
        return b"x"

    @app.get("/frame")
    def frame() -> dict[str, str]:
        _entry, how = cache.get_or_build("f", slow)
        return {"how": how}

    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://labelbay") as client:
            return await client.get("/frame")

    try:
        response = asyncio.run(call())
    finally:
        release.set()
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "2"
    body = response.json()
    assert body["code"] == "busy"
    assert body["reason"] == "building"
    assert body["building"] == "f"


def test_too_many_pending_builds_answer_busy_at_once(make_cache: MakeCache) -> None:
    cache = make_cache(workers=1, max_pending=1, build_timeout=5.0)
    release = threading.Event()
    started = threading.Event()

    def blocked() -> bytes:
        started.set()
        release.wait(5)
        return b"a"

    first = threading.Thread(target=cache.get_or_build, args=("a", blocked))
    first.start()
    started.wait(5)
    t0 = time.monotonic()
    with pytest.raises(CacheBusy) as caught:
        cache.get_or_build("b", lambda: b"b")
    assert time.monotonic() - t0 < 1.0
    assert caught.value.detail["reason"] == "overloaded"
    release.set()
    first.join()
    assert cache.get_or_build("b", lambda: b"b")[1] == "built"


def test_build_failure_reaches_every_waiter_and_is_not_cached(make_cache: MakeCache) -> None:
    cache = make_cache(workers=2, build_timeout=10.0)
    calls = 0

    def broken() -> bytes:
        nonlocal calls
        calls += 1
        wait_until(lambda: cache.stats()["joined"] >= 4)
        raise ValueError("corrupt frame 7")

    barrier = threading.Barrier(5)
    errors: list[BaseException] = []

    def ask() -> None:
        barrier.wait()
        try:
            cache.get_or_build("data/3/v1/frame-7", broken)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=ask) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls == 1
    assert len(errors) == 5
    assert all(isinstance(e, ValueError) and "frame 7" in str(e) for e in errors)
    assert cache.get("data/3/v1/frame-7") is None
    assert entry_files(cache.root) == []
    entry, how = cache.get_or_build("data/3/v1/frame-7", lambda: b"fixed")
    assert how == "built" and entry.path.read_bytes() == b"fixed"


def test_build_of_another_process_is_picked_up(tmp_path: Path, make_cache: MakeCache) -> None:
    root = tmp_path / "shared"
    ours, theirs = make_cache(root), make_cache(root)
    theirs.put("k", b"from the other process")
    entry, how = ours.get_or_build("k", lambda: pytest.fail("must not build"))
    assert how == "hit" and entry.path.read_bytes() == b"from the other process"


# -- files on disk ----------------------------------------------------------------------


def test_temp_files_are_ignored_and_stale_ones_removed(
    tmp_path: Path, make_cache: MakeCache
) -> None:
    root = tmp_path / "cache"
    cache = make_cache(root)
    entry = cache.put("k", b"done")
    folder = entry.path.parent
    fresh = folder / f".{entry.path.name}.abc123.tmp"
    stale = folder / f".{'0' * 62}.def456.tmp"
    fresh.write_bytes(b"half wri")
    stale.write_bytes(b"abandoned")
    old = time.time() - cache_module.STALE_TEMP_AGE - 10
    os.utime(stale, (old, old))
    (root / "zz").mkdir()
    (root / "zz" / "not-an-entry").write_bytes(b"?")
    (folder / "short").write_bytes(b"?")
    cache.rescan()
    stats = cache.stats()
    assert (stats["entries"], stats["bytes"]) == (1, 4)
    assert fresh.exists() and not stale.exists()
    assert [p.name for p in folder.iterdir() if p.name.endswith(".tmp")] == [fresh.name]


def test_writes_leave_no_temp_files_and_readers_see_whole_files(make_cache: MakeCache) -> None:
    cache = make_cache()
    small, large = b"s" * 10, b"L" * (2 * 1024 * 1024)
    cache.put("hot", small)
    stop = threading.Event()
    errors: list[BaseException] = []

    def reader() -> None:
        try:
            while not stop.is_set():
                entry = cache.get("hot")
                assert entry is not None
                assert entry.path.read_bytes() in (small, large)
        except BaseException as exc:
            errors.append(exc)

    readers = [threading.Thread(target=reader) for _ in range(3)]
    for t in readers:
        t.start()
    try:
        for i in range(30):
            cache.put("hot", large if i % 2 == 0 else small)
    finally:
        stop.set()
        for t in readers:
            t.join()
    assert not errors
    assert [p for p in cache.root.rglob(".*")] == []


def test_failed_write_leaves_nothing(
    make_cache: MakeCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = make_cache()

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(OSError, match="No space"):
        cache.put("k", b"data")
    monkeypatch.undo()
    assert [p for p in cache.root.rglob("*") if p.is_file()] == []
    assert cache.stats()["entries"] == 0


# -- several processes on one directory ------------------------------------------------


def test_two_instances_share_one_directory(tmp_path: Path, make_cache: MakeCache) -> None:
    root = tmp_path / "shared"
    a = make_cache(root, max_bytes=0)
    b = make_cache(root, max_bytes=1000)
    for i in range(5):
        a.put(f"a{i}", content_for(f"a{i}"))
    assert b.stats()["entries"] == 0
    b.rescan()
    assert (b.stats()["entries"], b.stats()["bytes"]) == (5, 500)
    hit = b.get("a3")
    assert hit is not None and hit.path.read_bytes() == content_for("a3")

    # b fills the directory past its bound and evicts a's older entries.
    for i in range(6):
        b.put(f"b{i}", content_for(f"b{i}"))
    assert b.stats()["bytes"] <= 1000
    assert disk_bytes(root) <= 1000
    assert a.get("a0") is None  # gone under a's feet: a miss, not a crash
    assert a.get("a3") is not None  # recently read through b, so it survived

    # a's index still counts files b removed; its own eviction must tolerate that.
    a.max_bytes = 600
    for i in range(3):
        a.put(f"c{i}", content_for(f"c{i}"))
    a.rescan()
    b.rescan()
    assert a.stats()["bytes"] == b.stats()["bytes"] == disk_bytes(root) <= 600


def test_background_rescan_learns_other_writers(tmp_path: Path, make_cache: MakeCache) -> None:
    root = tmp_path / "shared"
    a = make_cache(root)
    b = make_cache(root, rescan_every=3)
    for i in range(4):
        a.put(f"a{i}", b"x" * 10)
    for i in range(3):
        b.put(f"b{i}", b"y" * 10)
    wait_until(lambda: b.stats()["entries"] == 7)
    assert b.stats()["bytes"] == 70


def test_stress_many_threads_two_instances(tmp_path: Path, make_cache: MakeCache) -> None:
    root = tmp_path / "shared"
    options = {"max_bytes": 4000, "workers": 3, "build_timeout": 30.0, "rescan_every": 40}
    caches = [make_cache(root, **options), make_cache(root, **options)]
    keys = [f"data/{i % 3}/v1/chunk-{i}" for i in range(60)]
    builds: Counter[str] = Counter()
    builds_lock = threading.Lock()
    errors: list[BaseException] = []

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        cache = caches[seed % 2]
        try:
            for _ in range(150):
                key = rng.choice(keys)
                size = 50 + (keys.index(key) * 7) % 200

                def build(key: str = key, size: int = size) -> bytes:
                    with builds_lock:
                        builds[key] += 1
                    return content_for(key, size)

                op = rng.random()
                if op < 0.75:
                    entry, _how = cache.get_or_build(key, build)
                    assert entry.size == size
                elif op < 0.95:
                    got = cache.get(key)
                    if got is None:
                        continue
                    entry = got
                else:
                    cache.discard(key)
                    continue
                try:
                    data = entry.path.read_bytes()
                except FileNotFoundError:
                    continue  # evicted by another thread or "process" meanwhile
                assert data == content_for(key, size)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:3]
    for cache in caches:
        cache.close()
        assert cache.stats()["in_flight"] == 0
    for cache in caches:
        cache.rescan()
        assert cache.stats()["bytes"] == disk_bytes(root) <= 4000
    assert sum(cache.stats()["evictions"] for cache in caches) > 0
    assert set(builds) <= set(keys)
    assert [p for p in root.rglob(".*")] == []


def test_background_builds_have_their_own_lower_priority_threads(make_cache: MakeCache) -> None:
    cache = make_cache(workers=1, build_timeout=0.2)
    started, release = threading.Event(), threading.Event()
    seen: dict[str, object] = {}

    def slow_background() -> bytes:
        seen["thread"] = threading.current_thread().name
        seen["nice"] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        started.set()
        release.wait(10)
        return b"background"

    done: list[tuple[CacheEntry, str]] = []
    worker = threading.Thread(
        target=lambda: done.append(cache.get_or_build("bg", slow_background, background=True))
    )
    worker.start()
    assert started.wait(10)
    # The request pool (one thread) is free although the background build still runs, and a
    # background build is never cut short by the request timeout (0.2 s here).
    entry, status = cache.get_or_build("fg", lambda: b"request")
    assert (entry.path.read_bytes(), status) == (b"request", "built")
    time.sleep(0.4)
    release.set()
    worker.join(10)
    assert done and done[0][0].path.read_bytes() == b"background"
    assert str(seen["thread"]).startswith("media-cache-background")
    assert seen["nice"] == os.getpriority(os.PRIO_PROCESS, 0) + cache_module.BACKGROUND_NICENESS


def test_a_build_may_give_a_file_which_is_moved_into_place(make_cache: MakeCache) -> None:
    cache = make_cache()

    def build() -> Path:
        scratch = cache.scratch_file()
        scratch.write_bytes(b"written in pieces")
        return scratch

    entry, status = cache.get_or_build("big", build)
    assert status == "built"
    assert entry.path.read_bytes() == b"written in pieces"
    assert cache.stats()["bytes"] == len(b"written in pieces")
    assert list((cache.root / cache_module.SCRATCH).iterdir()) == []
    assert cache.get("big") == entry
