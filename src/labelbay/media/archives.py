"""Safe, streaming extraction of the images inside an uploaded zip or tar archive."""

from __future__ import annotations

import logging
import os
import posixpath
import re
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import IO, Final

from labelbay.errors import MediaError
from labelbay.media.images import is_image_name

logger = logging.getLogger(__name__)

ARCHIVE_SUFFIXES: Final[tuple[str, ...]] = (
    ".zip",
    ".tar",
    ".tar.gz",
    ".tgz",
    ".tar.bz2",
    ".tar.xz",
)
_TAR_SUFFIXES: Final[tuple[str, ...]] = tuple(s for s in ARCHIVE_SUFFIXES if s != ".zip")

_CHUNK: Final[int] = 1024 * 1024
_DRIVE: Final[re.Pattern[str]] = re.compile(r"^[A-Za-z]:")
_JUNK_DIRS: Final[frozenset[str]] = frozenset({"__MACOSX"})
# Errors that the decompressors and archive readers raise for damaged input.
_CORRUPTION: Final[tuple[type[BaseException], ...]] = (
    zipfile.BadZipFile,
    tarfile.TarError,
    zlib.error,
    EOFError,
    OSError,
    ValueError,
)

# Opens one member's data: a readable stream as a context manager.
_Opener = Callable[[], AbstractContextManager[IO[bytes]]]


def is_archive_name(name: str) -> bool:
    """True when `name` ends with one of ARCHIVE_SUFFIXES (case-insensitive)."""
    return name.lower().endswith(ARCHIVE_SUFFIXES)


def extract_archive(path: Path, dest: Path, *, archive_name: str) -> list[str]:
    """Extract the image members of a zip or tar archive into `dest`.

    Keeps each image's folder structure and returns the extracted member paths (posix,
    relative to `dest`) in archive order. Directories, non-image members, hidden files
    and macOS resource forks are skipped. Every extracted member is read in full, so a
    bad CRC or a truncated stream is detected. Raises `MediaError` naming
    `archive_name` (and the member, when one is at fault) for corrupt or unreadable
    archives, members escaping `dest`, links and device files, and duplicate paths.
    On error, files already written stay in `dest`; the caller removes the folder.
    """
    dest.mkdir(parents=True, exist_ok=True)
    if _is_zip(path, archive_name):
        return _extract_zip(path, dest, archive_name)
    return _extract_tar(path, dest, archive_name)


def _is_zip(path: Path, archive_name: str) -> bool:
    lowered = archive_name.lower()
    if lowered.endswith(".zip"):
        return True
    if lowered.endswith(_TAR_SUFFIXES):
        return False
    with open(path, "rb") as fp:  # unknown name: trust the content
        return fp.read(4) in (b"PK\x03\x04", b"PK\x05\x06")


def _extract_zip(path: Path, dest: Path, archive_name: str) -> list[str]:
    with open(path, "rb") as raw:
        try:
            zf = zipfile.ZipFile(raw)
        except _CORRUPTION as exc:
            raise MediaError(f"is corrupt or not a zip archive ({exc})", file=archive_name) from exc
        with zf:
            writer = _Writer(dest, archive_name)
            for info in zf.infolist():
                # Unix-made zips keep the file type in the high bits of external_attr.
                mode = info.external_attr >> 16 if info.create_system == 3 else 0
                if info.is_dir() or stat.S_ISDIR(mode):
                    kind = "dir"
                elif stat.S_ISLNK(mode):
                    kind = "link"
                else:
                    kind = "file"
                writer.add(info.filename, kind, _zip_opener(zf, info))
            return writer.extracted


def _zip_opener(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> _Opener:
    def opener() -> AbstractContextManager[IO[bytes]]:
        return zf.open(info)

    return opener


def _extract_tar(path: Path, dest: Path, archive_name: str) -> list[str]:
    with open(path, "rb") as raw:
        try:
            # Members are visited in archive order, so even in this seekable mode the
            # (de)compressed stream is only ever read forwards. Unlike stream mode, the
            # gzip/bz2/xz readers here raise EOFError when the compressed data is cut off.
            tf = tarfile.open(fileobj=raw, mode="r:*")  # noqa: SIM115 - closed below
        except _CORRUPTION as exc:
            raise MediaError(f"is corrupt or not a tar archive ({exc})", file=archive_name) from exc
        with tf:
            writer = _Writer(dest, archive_name)
            for member in _tar_members(tf, archive_name):
                if member.isdir():
                    kind = "dir"
                elif member.issym() or member.islnk():
                    kind = "link"
                elif member.isreg():
                    kind = "file"
                else:
                    kind = "special"
                writer.add(member.name, kind, _tar_opener(tf, member, archive_name))
            _check_tar_end(tf, archive_name, compressed=tf.fileobj is not raw)
            return writer.extracted


def _tar_members(tf: tarfile.TarFile, archive_name: str) -> Iterator[tarfile.TarInfo]:
    last = ""
    while True:
        try:
            member = tf.next()
        except _CORRUPTION as exc:
            where = f"{archive_name}:{last}" if last else archive_name
            raise MediaError(f"is corrupt or truncated ({exc})", file=where) from exc
        if member is None:
            return
        last = member.name
        yield member
        # tarfile remembers every TarInfo it has read; with 100,000 members that adds up,
        # and nothing here looks members up again (links are refused, not resolved).
        tf.members.clear()


def _check_tar_end(tf: tarfile.TarFile, archive_name: str, *, compressed: bool) -> None:
    """Require the zero block that ends a tar archive, and an intact compressed stream.

    tarfile quietly treats a missing or unreadable header as the end of the archive, so
    an archive cut off between two members would otherwise lose its tail silently. For
    compressed tars, draining the (small) remainder makes gzip/bz2/xz verify their
    trailers, which include a checksum of everything decompressed.
    """
    fileobj = tf.fileobj
    if fileobj is None:
        return
    try:
        fileobj.seek(tf.offset)
        block = fileobj.read(tarfile.BLOCKSIZE)
        if compressed:
            while fileobj.read(_CHUNK):
                pass
    except _CORRUPTION as exc:
        raise MediaError(f"is corrupt or truncated ({exc})", file=archive_name) from exc
    if block != bytes(tarfile.BLOCKSIZE):
        raise MediaError(
            "is corrupt or truncated: it does not end with an end-of-archive marker",
            file=archive_name,
        )


def _tar_opener(tf: tarfile.TarFile, member: tarfile.TarInfo, archive_name: str) -> _Opener:
    def opener() -> AbstractContextManager[IO[bytes]]:
        stream = tf.extractfile(member)
        if stream is None:  # not a regular file; callers only open regular ones
            raise MediaError("is not a regular file", file=f"{archive_name}:{member.name}")
        return stream

    return opener


class _Writer:
    """Validates member names and copies accepted image members below `dest`."""

    def __init__(self, dest: Path, archive_name: str) -> None:
        self.dest = dest
        self.archive_name = archive_name
        self.extracted: list[str] = []
        self._files: set[str] = set()
        self._dirs: set[str] = {""}

    def target(self, raw_name: str, kind: str) -> str | None:
        """The normalised relative path an image member would get; None if it is skipped."""
        label = f"{self.archive_name}:{raw_name}"
        relative = _normalise(raw_name)
        if relative is None:
            raise MediaError("escapes the archive folder", file=label)
        if relative == "" or _is_hidden_or_junk(relative):
            return None
        if kind == "dir":
            return None
        if kind == "link":
            raise MediaError("is a link, which archives may not contain", file=label)
        if kind == "special":
            raise MediaError("is a device or special file, not a regular file", file=label)
        if not is_image_name(relative):
            return None
        if relative in self._files:
            raise MediaError("appears more than once in the archive", file=label)
        if relative in self._dirs:
            raise MediaError("clashes with a folder of the same name", file=label)
        # A known folder's ancestors were checked when it was first seen; only a new one's
        # ancestors can coincide with an extracted file.
        if posixpath.dirname(relative) not in self._dirs and any(
            p in self._files for p in _parents(relative)
        ):
            raise MediaError("clashes with a file of the same name", file=label)
        return relative

    def add(self, raw_name: str, kind: str, opener: _Opener) -> None:
        relative = self.target(raw_name, kind)
        if relative is None:
            return
        label = f"{self.archive_name}:{raw_name}"
        parent = posixpath.dirname(relative)
        if parent not in self._dirs:
            os.makedirs(os.path.join(self.dest, parent), exist_ok=True)
            self._dirs.update(_parents(relative))
        out_path = os.path.join(self.dest, relative)
        try:
            _copy(opener, out_path, label)
        except MediaError:
            _discard(out_path)
            raise
        self._files.add(relative)
        self.extracted.append(relative)


def _copy(opener: _Opener, out_path: str, label: str) -> None:
    """Copy one member to `out_path` in chunks; read failures become `MediaError`.

    Write failures (disk full, permissions) are the server's problem and propagate as is.
    """
    try:
        stream = opener()
    except MediaError:
        raise
    except Exception as exc:
        failure = _read_failure(exc, label)
        if failure is None:
            raise
        raise failure from exc
    with stream as src, open(out_path, "wb") as out:
        while True:
            try:
                chunk = src.read(_CHUNK)
            except Exception as exc:
                failure = _read_failure(exc, label)
                if failure is None:
                    raise
                raise failure from exc
            if not chunk:
                return
            out.write(chunk)


def _read_failure(exc: Exception, label: str) -> MediaError | None:
    """The `MediaError` a failure to read a member stands for; None if it is not one."""
    if isinstance(exc, NotImplementedError):  # a compression method zipfile lacks
        return MediaError(f"uses an unsupported compression method ({exc})", file=label)
    if isinstance(exc, RuntimeError):  # zipfile: encrypted member, no password
        return MediaError(f"is encrypted or unreadable ({exc})", file=label)
    if isinstance(exc, _CORRUPTION):
        return MediaError(f"is corrupt or truncated ({exc})", file=label)
    return None


def _normalise(raw_name: str) -> str | None:
    """Relative posix path for a member name, "" for the root, None when it escapes."""
    name = raw_name.replace("\\", "/")
    if name.startswith("/") or _DRIVE.match(name) or "\x00" in name:
        return None
    normal = posixpath.normpath(name)
    if normal == ".":
        return ""
    if normal == ".." or normal.startswith("../"):
        return None
    return normal


def _is_hidden_or_junk(relative: str) -> bool:
    parts = relative.split("/")
    return any(part.startswith(".") or part in _JUNK_DIRS for part in parts)


def _parents(relative: str) -> list[str]:
    """All ancestor folders of a relative path, e.g. "a/b/c.png" -> ["a", "a/b"]."""
    parts = relative.split("/")[:-1]
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def _discard(out_path: str) -> None:
    try:
        os.unlink(out_path)
    except FileNotFoundError:
        pass
    except OSError:
        logger.warning("could not remove partially extracted %s", out_path, exc_info=True)
