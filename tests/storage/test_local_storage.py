"""Tests for the storage interface and its local-directory backend."""

from __future__ import annotations

import errno
import io
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from labelbay.storage import StatResult, Storage, check_key, check_prefix, make_storage
from labelbay.storage.local import LocalStorage

BAD_KEYS = [
    "",
    "/etc/passwd",
    "../outside",
    "a/../../outside",
    "a/../b",
    "a//b",
    "./a",
    "a/.",
    "a/",
    "a\\b",
    "..\\outside",
    "a\x00b",
]


@pytest.fixture
def storage(tmp_path: Path) -> LocalStorage:
    store = make_storage(tmp_path / "root")
    assert isinstance(store, LocalStorage)
    return store


def files_under(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def test_make_storage_gives_a_storage(tmp_path: Path) -> None:
    store = make_storage(tmp_path / "new" / "root")
    assert isinstance(store, Storage)
    assert (tmp_path / "new" / "root").is_dir()


def test_round_trip(storage: LocalStorage) -> None:
    storage.write_bytes("data/1/raw/a.jpg", b"jpeg bytes")
    assert storage.exists("data/1/raw/a.jpg")
    assert storage.read_bytes("data/1/raw/a.jpg") == b"jpeg bytes"
    with storage.open_read("data/1/raw/a.jpg") as f:
        assert f.read() == b"jpeg bytes"
    assert storage.size("data/1/raw/a.jpg") == 10
    st = storage.stat("data/1/raw/a.jpg")
    assert isinstance(st, StatResult)
    size, mtime = st
    assert size == 10
    assert abs(mtime - os.stat(storage.root / "data/1/raw/a.jpg").st_mtime) < 1e-6
    assert storage.local_path("data/1/raw/a.jpg") == storage.root / "data" / "1" / "raw" / "a.jpg"


def test_overwrite_replaces(storage: LocalStorage) -> None:
    storage.write_bytes("k", b"old content")
    storage.write_bytes("k", b"new")
    assert storage.read_bytes("k") == b"new"
    assert files_under(storage.root) == ["k"]


def test_write_stream_copies_from_the_current_position(storage: LocalStorage) -> None:
    payload = os.urandom(3 * 1024 * 1024 + 17)
    source = io.BytesIO(b"skip" + payload)
    source.seek(4)
    assert storage.write_stream("big/blob.bin", source) == len(payload)
    assert storage.read_bytes("big/blob.bin") == payload


def test_missing_keys(storage: LocalStorage) -> None:
    for read in (storage.read_bytes, storage.size, storage.stat, storage.open_read):
        with pytest.raises(FileNotFoundError):
            read("nope/missing.bin")
    assert not storage.exists("nope/missing.bin")
    storage.delete("nope/missing.bin")  # no error
    assert storage.local_path("nope/missing.bin") == storage.root / "nope" / "missing.bin"


def test_a_folder_is_not_a_key(storage: LocalStorage) -> None:
    storage.write_bytes("dir/file", b"x")
    assert not storage.exists("dir")
    with pytest.raises(FileNotFoundError):
        storage.stat("dir")
    storage.delete("dir")
    assert storage.exists("dir/file")


@pytest.mark.parametrize("key", BAD_KEYS)
def test_keys_that_escape_or_are_malformed_are_rejected(storage: LocalStorage, key: str) -> None:
    with pytest.raises(ValueError):
        check_key(key)
    with pytest.raises(ValueError):
        storage.write_bytes(key, b"x")
    with pytest.raises(ValueError):
        storage.read_bytes(key)
    with pytest.raises(ValueError):
        storage.local_path(key)
    with pytest.raises(ValueError):
        storage.delete(key)
    assert files_under(storage.root.parent) == []


@pytest.mark.parametrize("prefix", ["", "/", "..", "../x", "/abs", "a//"])
def test_bad_prefixes_are_rejected(storage: LocalStorage, tmp_path: Path, prefix: str) -> None:
    with pytest.raises(ValueError):
        check_prefix(prefix)
    with pytest.raises(ValueError):
        storage.delete_prefix(prefix)
    staged = tmp_path / "staged"
    staged.mkdir()
    with pytest.raises(ValueError):
        storage.rename_into(staged, prefix)
    assert staged.is_dir()


def test_dot_names_inside_parts_are_fine() -> None:
    assert check_key("a/.hidden/..x/b..c") == "a/.hidden/..x/b..c"
    assert check_prefix("data/17/") == "data/17"


def test_delete_prefix_removes_a_folder_and_nothing_else(storage: LocalStorage) -> None:
    for key in ["data/1/a", "data/1/sub/b", "data/1/sub/deeper/c", "data/10/a", "data/1x", "x"]:
        storage.write_bytes(key, b"-")
    assert storage.delete_prefix("data/1/") == 3
    assert files_under(storage.root) == ["data/10/a", "data/1x", "x"]
    assert not (storage.root / "data" / "1").exists()
    assert storage.delete_prefix("data/1") == 0
    assert storage.delete_prefix("data/1x") == 0  # a key, not a folder
    assert storage.exists("data/1x")


def test_failed_write_keeps_old_content_and_leaves_no_temp_file(storage: LocalStorage) -> None:
    storage.write_bytes("k", b"old")

    class Broken(io.RawIOBase):
        calls = 0

        def readable(self) -> bool:
            return True

        def read(self, size: int = -1) -> bytes:
            self.calls += 1
            if self.calls > 2:
                raise OSError(errno.EIO, "disk on fire")
            return b"x" * 1000

    with pytest.raises(OSError, match="disk on fire"):
        storage.write_stream("k", Broken())  # type: ignore[arg-type]
    assert storage.read_bytes("k") == b"old"
    assert files_under(storage.root) == ["k"]


def test_readers_never_see_a_partial_file(storage: LocalStorage) -> None:
    small, large = b"a" * 10, b"b" * (4 * 1024 * 1024)
    storage.write_bytes("hot", small)
    stop = threading.Event()
    seen: set[int] = set()
    errors: list[BaseException] = []

    def reader() -> None:
        try:
            while not stop.is_set():
                data = storage.read_bytes("hot")
                assert data in (small, large)
                seen.add(len(data))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        for i in range(40):
            storage.write_bytes("hot", large if i % 2 == 0 else small)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not errors
    assert seen <= {len(small), len(large)}
    assert files_under(storage.root) == ["hot"]


def test_writes_race_delete_prefix(storage: LocalStorage) -> None:
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(100):
                storage.write_bytes(f"data/9/w{n}/f{i}", b"x")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    for _ in range(50):
        storage.delete_prefix("data/9")
    for t in threads:
        t.join()
    assert not errors
    storage.delete_prefix("data/9")
    assert not (storage.root / "data" / "9").exists()


def make_staged(root: Path) -> Path:
    staged = root / "staging" / "upload-1"
    (staged / "sub").mkdir(parents=True)
    (staged / "a.jpg").write_bytes(b"A")
    (staged / "sub" / "b.jpg").write_bytes(b"B")
    return staged


def test_rename_into_a_new_prefix_is_one_rename(storage: LocalStorage, tmp_path: Path) -> None:
    staged = make_staged(tmp_path)
    inode = staged.stat().st_ino
    storage.rename_into(staged, "data/5/raw")
    assert not staged.exists()
    assert (storage.root / "data" / "5" / "raw").stat().st_ino == inode
    assert storage.read_bytes("data/5/raw/a.jpg") == b"A"
    assert storage.read_bytes("data/5/raw/sub/b.jpg") == b"B"


def test_rename_into_an_existing_prefix_merges(storage: LocalStorage, tmp_path: Path) -> None:
    storage.write_bytes("data/5/raw/a.jpg", b"old A")
    storage.write_bytes("data/5/raw/keep.jpg", b"K")
    staged = make_staged(tmp_path)
    storage.rename_into(staged, "data/5/raw/")
    assert not staged.exists()
    assert storage.read_bytes("data/5/raw/a.jpg") == b"A"
    assert storage.read_bytes("data/5/raw/sub/b.jpg") == b"B"
    assert storage.read_bytes("data/5/raw/keep.jpg") == b"K"


def test_rename_into_across_filesystems_copies(
    storage: LocalStorage, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    staged = make_staged(tmp_path)
    real_replace = os.replace

    def cross_device(*_args: Any, **_kwargs: Any) -> None:
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    def replace(src: Any, dst: Any, **kwargs: Any) -> None:
        if str(src).startswith(str(staged)):
            cross_device()
        real_replace(src, dst, **kwargs)

    monkeypatch.setattr(os, "rename", cross_device)
    monkeypatch.setattr(os, "replace", replace)
    storage.rename_into(staged, "data/6")
    monkeypatch.undo()
    assert not staged.exists()
    assert files_under(storage.root) == ["data/6/a.jpg", "data/6/sub/b.jpg"]
    assert storage.read_bytes("data/6/sub/b.jpg") == b"B"


def test_rename_into_refuses_symlinks(storage: LocalStorage, tmp_path: Path) -> None:
    staged = make_staged(tmp_path)
    (tmp_path / "secret").write_bytes(b"s")
    (staged / "link.jpg").symlink_to(tmp_path / "secret")
    with pytest.raises(ValueError, match="symbolic link"):
        storage.rename_into(staged, "data/7")
    assert staged.is_dir()
    assert not storage.exists("data/7/a.jpg")


def test_rename_into_needs_a_folder(storage: LocalStorage, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        storage.rename_into(tmp_path / "missing", "data/8")


def test_delete_prefix_spares_writes_in_progress(storage: LocalStorage) -> None:
    storage.write_bytes("data/4/.hidden.tmp", b"a key that merely looks temporary")
    folder = storage.root / "data" / "4"
    in_progress = folder / ".a.jpg.0123456789ab.tmp"
    abandoned = folder / ".b.jpg.ba9876543210.tmp"
    in_progress.write_bytes(b"half")
    abandoned.write_bytes(b"dead writer")
    old = time.time() - 3600
    os.utime(abandoned, (old, old))
    assert storage.delete_prefix("data/4") == 1
    assert not storage.exists("data/4/.hidden.tmp")
    assert not abandoned.exists()
    assert in_progress.exists()
