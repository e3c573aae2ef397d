"""The local-directory backend of :class:`labelbay.storage.Storage`.

Every write goes to a hidden temporary file (``.<name>.<random>.tmp``) beside its target
and is moved into place with ``os.replace``, so readers in this or any other process see
either the old file or the whole new one. Several processes may share one root.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import secrets
import shutil
import stat as stat_module
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from labelbay.storage import StatResult, check_key, check_prefix

log = logging.getLogger(__name__)

_COPY_BUFFER = 1024 * 1024
# Writes a file's content into an open temporary file; may return the byte count.
_Filler = Callable[[BinaryIO], int | None]
# Temporary files older than this belong to a writer that died.
_STALE_TEMP_AGE = 600.0
# A concurrent ``delete_prefix`` may remove a folder between our mkdir and our open.
_WRITE_ATTEMPTS = 10


_TEMP_NAME = re.compile(r"\..+\.[0-9a-f]{12}\.tmp")


def _is_temp_name(name: str) -> bool:
    """Whether ``name`` is one of our temporary files (``.<name>.<12 hex>.tmp``)."""
    return _TEMP_NAME.fullmatch(name) is not None


class LocalStorage:
    """Keys are files under ``root``; see :mod:`labelbay.storage` for the contract.

    ``durable=True`` (the default) fsyncs each written file and its folder before the
    write returns, so a power cut cannot leave an empty or partial file under a key.
    """

    def __init__(self, root: Path, *, durable: bool = True) -> None:
        self.root = Path(root).absolute()
        self.root.mkdir(parents=True, exist_ok=True)
        self.durable = durable

    def __repr__(self) -> str:
        return f"LocalStorage({str(self.root)!r})"

    # -- paths --------------------------------------------------------------------------

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*check_key(key).split("/"))

    def _dir(self, prefix: str) -> Path:
        return self.root.joinpath(*check_prefix(prefix).split("/"))

    def local_path(self, key: str) -> Path | None:
        return self._path(key)

    # -- reads --------------------------------------------------------------------------

    def open_read(self, key: str) -> BinaryIO:
        return open(self._path(key), "rb")  # the caller closes it

    def read_bytes(self, key: str) -> bytes:
        return self._path(key).read_bytes()

    def stat(self, key: str) -> StatResult:
        path = self._path(key)
        st = os.stat(path)
        if not stat_module.S_ISREG(st.st_mode):
            raise FileNotFoundError(errno.ENOENT, "not a stored file", str(path))
        return StatResult(st.st_size, st.st_mtime)

    def size(self, key: str) -> int:
        return self.stat(key).size

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    # -- writes -------------------------------------------------------------------------

    def write_bytes(self, key: str, data: bytes) -> None:
        self._write(self._path(key), lambda out: out.write(data))

    def write_stream(self, key: str, fileobj: BinaryIO) -> int:
        def copy(out: BinaryIO) -> int:
            total = 0
            while chunk := fileobj.read(_COPY_BUFFER):
                out.write(chunk)
                total += len(chunk)
            return total

        return self._write(self._path(key), copy)

    def _open_temp(self, target: Path) -> tuple[Path, BinaryIO]:
        for attempt in range(_WRITE_ATTEMPTS):
            tmp = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                return tmp, open(tmp, "xb")  # closed by _write
            except (FileNotFoundError, FileExistsError):
                # The folder vanished under mkdir or open (a racing delete_prefix).
                if attempt == _WRITE_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    def _write(self, target: Path, fill: _Filler) -> int:
        tmp, out = self._open_temp(target)
        try:
            with out:
                written = fill(out)
                if self.durable:
                    out.flush()
                    os.fsync(out.fileno())
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        if self.durable:
            _fsync_dir(target.parent)
        return written or 0

    # -- deletes ------------------------------------------------------------------------

    def delete(self, key: str) -> None:
        path = self._path(key)
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        except IsADirectoryError:
            # A folder is not a key; there is nothing stored under this exact key.
            pass

    def delete_prefix(self, prefix: str) -> int:
        """Removes the folder's files; a write racing with it may survive it."""
        top = self._dir(prefix)
        if not top.is_dir():
            return 0
        removed = 0
        for folder, dirnames, filenames in os.walk(top, topdown=False):
            for name in filenames:
                path = os.path.join(folder, name)
                try:
                    if _is_temp_name(name):
                        # A write in progress finishes (and its key survives); the
                        # leftovers of a writer that died are cleared.
                        if time.time() - os.stat(path).st_mtime > _STALE_TEMP_AGE:
                            os.unlink(path)
                        continue
                    os.unlink(path)
                except FileNotFoundError:
                    continue
                removed += 1
            for name in dirnames:
                _rmdir_quietly(os.path.join(folder, name))
        _rmdir_quietly(str(top))
        log.debug("deleted %d files under %s", removed, top)
        return removed

    # -- moving a staged folder in ------------------------------------------------------

    def rename_into(self, src_local_dir: Path, prefix: str) -> None:
        src = Path(src_local_dir)
        if not src.is_dir():
            if not src.exists():
                raise FileNotFoundError(errno.ENOENT, "no such staged folder", str(src))
            raise NotADirectoryError(errno.ENOTDIR, "not a folder", str(src))
        dest = self._dir(prefix)
        files = _staged_files(src)
        # Fail before moving anything if a staged name cannot be a key.
        for rel in files:
            check_key(f"{check_prefix(prefix)}/{rel}")
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.rename(src, dest)
            log.debug("moved %s to %s in one rename", src, dest)
            return
        except OSError as exc:
            if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY, errno.EXDEV):
                raise
        for rel in files:
            self._move_file(src.joinpath(*rel.split("/")), dest.joinpath(*rel.split("/")))
        shutil.rmtree(src, ignore_errors=True)
        log.debug("moved %d files from %s into %s one by one", len(files), src, dest)

    def _move_file(self, source: Path, target: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(source, target)
            return
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
        with open(source, "rb") as fileobj:
            self._write(target, lambda out: shutil.copyfileobj(fileobj, out, _COPY_BUFFER))
        source.unlink()


def _staged_files(src: Path) -> list[str]:
    """The regular files under ``src`` as relative POSIX paths (symlinks are refused)."""
    found: list[str] = []
    for folder, dirnames, filenames in os.walk(src):
        for name in dirnames + filenames:
            full = Path(folder, name)
            if full.is_symlink():
                raise ValueError(f"staged folder {src} holds a symbolic link: {full}")
            if name in filenames:
                found.append(full.relative_to(src).as_posix())
    return found


def _rmdir_quietly(path: str) -> None:
    try:
        os.rmdir(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        # Another process wrote into it meanwhile: keep the folder and its new file.
        if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
            raise


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
