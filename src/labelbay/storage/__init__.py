"""Where media files live: one small interface, a local-directory backend today, S3 later.

Keys are relative POSIX strings such as ``"data/17/raw/img_001.jpg"``. They are the
same on every backend, so nothing above this package knows whether a file sits on a
local disk or in a bucket:

- a key is made of non-empty ``/``-separated parts; ``.`` and ``..`` parts, a leading
  ``/``, backslashes and NUL characters are rejected with ``ValueError``
  (:func:`check_key`), so no key can name anything outside the storage root;
- a *prefix* is a key naming a folder: ``delete_prefix("data/17")`` removes every key
  under ``data/17/`` and nothing else (``data/170/...`` survives);
- a missing key raises ``FileNotFoundError`` from every read (``open_read``,
  ``read_bytes``, ``size``, ``stat``); ``exists`` answers ``False``; ``delete`` of a
  missing key does nothing, as S3's delete does;
- writes are atomic: a reader sees the old content or the new one, never a part;
- ``local_path`` gives a filesystem path when the backend has one (the HTTP layer then
  serves the file itself) and ``None`` otherwise: callers must handle ``None``.
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO, NamedTuple, Protocol, runtime_checkable

__all__ = ["StatResult", "Storage", "check_key", "check_prefix", "make_storage"]


class StatResult(NamedTuple):
    size: int
    """Bytes."""
    mtime: float
    """Last modification, seconds since the epoch."""


@runtime_checkable
class Storage(Protocol):
    """Media files addressed by relative POSIX keys; see the module docstring."""

    def open_read(self, key: str) -> BinaryIO:
        """An open binary file positioned at the start; the caller closes it."""
        ...

    def read_bytes(self, key: str) -> bytes: ...

    def write_bytes(self, key: str, data: bytes) -> None:
        """Stores ``data`` under ``key`` atomically, replacing any previous content."""
        ...

    def write_stream(self, key: str, fileobj: BinaryIO) -> int:
        """Copies ``fileobj`` (from its current position to its end) to ``key`` atomically.

        Returns the number of bytes written.
        """
        ...

    def size(self, key: str) -> int: ...

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None:
        """Removes ``key``; a missing key is not an error."""
        ...

    def delete_prefix(self, prefix: str) -> int:
        """Removes every key under the folder ``prefix``; returns how many were removed."""
        ...

    def local_path(self, key: str) -> Path | None:
        """The file's path on this machine (whether or not it exists yet), or ``None``."""
        ...

    def stat(self, key: str) -> StatResult: ...

    def rename_into(self, src_local_dir: Path, prefix: str) -> None:
        """Moves the local folder ``src_local_dir`` so its files become keys under ``prefix``.

        ``src/a/b.jpg`` becomes ``prefix/a/b.jpg``; existing keys with the same names are
        replaced, other keys under ``prefix`` are kept. The local folder is gone afterwards.
        A local backend does it in one ``rename`` when ``prefix`` does not exist yet and
        both sit on one filesystem; otherwise file by file, each file atomically.
        """
        ...


def check_key(key: str) -> str:
    """Returns ``key`` if it is a well-formed relative POSIX key, else raises ``ValueError``."""
    if not isinstance(key, str) or not key:
        raise ValueError(f"storage key must be a non-empty string, got {key!r}")
    if "\\" in key or "\x00" in key:
        raise ValueError(f"storage key {key!r} contains a backslash or NUL character")
    if key.startswith("/"):
        raise ValueError(f"storage key {key!r} is absolute; keys are relative to the root")
    for part in key.split("/"):
        if part in ("", ".", ".."):
            raise ValueError(f"storage key {key!r} has an empty, '.' or '..' part")
    return key


def check_prefix(prefix: str) -> str:
    """A folder prefix as a key (one trailing ``/`` is allowed and dropped)."""
    if isinstance(prefix, str) and prefix.endswith("/") and not prefix.endswith("//"):
        prefix = prefix[:-1]
    return check_key(prefix)


def make_storage(root: Path) -> Storage:
    """The storage for media files rooted at the local directory ``root`` (created if needed)."""
    from labelbay.storage.local import LocalStorage

    return LocalStorage(root)
