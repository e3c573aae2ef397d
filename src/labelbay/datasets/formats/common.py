"""Helpers shared by every format module.

Reading: an uploaded file is either a zip archive or one bare file; :class:`Input` gives both
the same face (member names; a member streamed with ``open`` or read whole as bytes, text or
lines) and turns every missing file, broken archive or damaged member into an ``Invalid``
naming it. Writing: frame paths made safe for archive members (:func:`safe_path`), numbers
printed compactly, images copied one frame at a time. Tracks are expanded into per-frame
shapes by :mod:`labelbay.datasets.tracks` (``frame_shapes``, ``TrackCursor``).
"""

from __future__ import annotations

import contextlib
import io
import math
import posixpath
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO

from labelbay.datasets.formats.rle import runs_of
from labelbay.datasets.model import DatasetSource, FrameInfo, LabelSpec
from labelbay.errors import Invalid

IMAGE_EXTS = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".jp2", ".pgm", ".ppm"}
)

FrameSizes = Mapping[str, tuple[int, int]]
"""Frame name (any form: with folders, extension or not) -> (width, height)."""


def fail(file: str, message: str, *, line: int | None = None, **detail: object) -> Invalid:
    where = f"{file}: line {line}: " if line is not None else f"{file}: "
    extra = {"line": line} if line is not None else {}
    return Invalid(where + message, file=file, **extra, **detail)


def stem(name: str) -> str:
    """The file name without folders and extension (how frames are matched)."""
    base = posixpath.basename(name.replace("\\", "/"))
    root, _ext = posixpath.splitext(base)
    return root or base


def safe_path(name: str) -> str:
    """A frame's (or subset's, label's) name as a relative archive path: forward slashes, no
    leading slash, no drive (``C:``), no empty, ``.`` or ``..`` parts; ``"frame"`` when
    nothing is left."""
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".", "..")]
    if parts and parts[0].endswith(":"):
        parts = parts[1:]
    return "/".join(parts) or "frame"


def path_stem(name: str) -> str:
    """``dir/a.jpg`` -> ``dir/a``: the safe path without its extension."""
    path = safe_path(name)
    root, ext = posixpath.splitext(path)
    return root if ext and posixpath.basename(root) else path


def subset_dir(subset: str) -> str:
    """A subset name as one folder or file-name part (``a/b`` -> ``a_b``)."""
    return safe_path(subset or "default").replace("/", "_")


class UniquePaths:
    """Member paths for formats whose folders are shared by every subset (VOC's
    ``Annotations/``): a frame path an earlier frame already took goes under its subset's
    folder (``val/dir/a``), or failing that gets a number (``dir/a_2``), so two tasks' frames
    of the same name do not overwrite each other."""

    def __init__(self) -> None:
        self.used: set[str] = set()

    def take(self, rel: str, subset: str) -> str:
        candidates = [rel, f"{subset_dir(subset)}/{rel}"]
        number = 2
        while candidates[-1] in self.used:
            candidates.append(f"{rel}_{number}")
            number += 1
        found = next(c for c in candidates if c not in self.used)
        self.used.add(found)
        return found


def image_ext(frame: FrameInfo, default: str = ".jpg") -> str:
    ext = posixpath.splitext(frame.name)[1].lower()
    return ext if ext in IMAGE_EXTS else default


def num(value: float) -> str:
    """A float printed short, to 12 significant digits (``3`` for 3.0)."""
    return "0" if value == 0 else format(value, ".12g")


def write_image(
    out: zipfile.ZipFile, source: DatasetSource, frame: FrameInfo, member_stem: str
) -> str | None:
    """Copies the frame's original file to ``member_stem + its extension``; its name."""
    found = source.image(frame)
    if found is None:
        return None
    name, data = found
    ext = posixpath.splitext(name)[1] or image_ext(frame)
    member = member_stem + ext
    out.writestr(member, data)
    return member


def write_frame_images(
    source: DatasetSource, out: zipfile.ZipFile, *, by_subset: bool = True
) -> None:
    """The frames' original files under ``images/<subset>/`` (``images/`` without
    ``by_subset``), each path written once."""
    seen: set[str] = set()
    for frame in source.frames:
        found = source.image(frame)
        if found is None:
            continue
        folder = f"images/{subset_dir(frame.subset)}/" if by_subset else "images/"
        member = folder + safe_path(found[0])
        if member not in seen:
            seen.add(member)
            out.writestr(member, found[1])


def label_specs(names: Iterable[str]) -> list[LabelSpec]:
    seen: dict[str, LabelSpec] = {}
    for name in names:
        seen.setdefault(name, LabelSpec(name=name))
    return list(seen.values())


def label_types(labels: Iterable[LabelSpec]) -> dict[str, LabelSpec]:
    """Every label and sublabel by name (a label wins over a sublabel of the same name)."""
    found: dict[str, LabelSpec] = {}
    for label in labels:
        found[label.name] = label
        for sub in label.sublabels:
            found.setdefault(sub.name, sub)
    return found


def parse_color(text: str) -> str:
    """``"255,0,10"`` -> ``"#ff000a"``; ``""`` for anything else."""
    parts = text.split(",")
    if len(parts) != 3:
        return ""
    try:
        rgb = [int(p) for p in parts]
    except ValueError:
        return ""
    if any(not 0 <= c <= 255 for c in rgb):
        return ""
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def hex_rgb(color: str) -> tuple[int, int, int] | None:
    text = color.strip().lstrip("#")
    if len(text) != 6:
        return None
    try:
        value = int(text, 16)
    except ValueError:
        return None
    return (value >> 16) & 255, (value >> 8) & 255, value & 255


def rect_corners(points: list[float], rotation: float) -> list[tuple[float, float]]:
    """The four corners (top-left, top-right, bottom-right, bottom-left of the unrotated
    box) of a rectangle turned ``rotation`` degrees clockwise around its centre."""
    x1, y1, x2, y2 = points[:4]
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    angle = math.radians(rotation)
    cos, sin = math.cos(angle), math.sin(angle)
    corners = []
    for x, y in ((x1, y1), (x2, y1), (x2, y2), (x1, y2)):
        dx, dy = x - cx, y - cy
        corners.append((cx + dx * cos - dy * sin, cy + dx * sin + dy * cos))
    return corners


def corners_rect(corners: list[float]) -> tuple[list[float], float]:
    """Four corners ``x1 y1 ... x4 y4`` (in :func:`rect_corners` order) -> the unrotated box
    ``[x1, y1, x2, y2]`` around their centre and its clockwise rotation in degrees
    (``[0, 360)``)."""
    x1, y1, x2, y2, x3, y3, x4, y4 = corners[:8]
    cx, cy = (x1 + x2 + x3 + x4) / 4, (y1 + y2 + y3 + y4) / 4
    width = math.hypot(x2 - x1, y2 - y1)
    height = math.hypot(x3 - x2, y3 - y2)
    rotation = math.degrees(math.atan2(y2 - y1, x2 - x1)) % 360.0
    if math.isclose(rotation, 360.0):
        rotation = 0.0
    box = [cx - width / 2, cy - height / 2, cx + width / 2, cy + height / 2]
    return box, rotation


def bounds(points: list[float]) -> tuple[float, float, float, float]:
    xs, ys = points[0::2], points[1::2]
    return min(xs), min(ys), max(xs), max(ys)


class Input:
    """An uploaded file, a zip archive or one bare file, read member by member.

    Member names leave out folders and hidden files (``.DS_Store``, ``__MACOSX/._a.xml``).
    Messages name a member as ``<upload>/<member>`` (:meth:`shown`)."""

    def __init__(self, path: Path) -> None:
        self.path = path = Path(path)
        self.file = path.name
        self._zip: zipfile.ZipFile | None = None
        self._names: list[str] = [self.file]
        self._dirs: list[str] = []
        if not path.is_file():
            raise fail(self.file, "the uploaded file is missing")
        if zipfile.is_zipfile(path):
            try:
                self._zip = zipfile.ZipFile(path)
            except (zipfile.BadZipFile, OSError, ValueError) as exc:
                raise fail(self.file, f"not a readable zip archive ({exc})") from None
            infos = self._zip.infolist()
            self._names = [
                i.filename
                for i in infos
                if not i.is_dir() and not posixpath.basename(i.filename).startswith(".")
            ]
            self._dirs = [i.filename.rstrip("/") for i in infos if i.is_dir()]
            return
        try:
            with path.open("rb") as stream:
                head = stream.read(4)
        except OSError as exc:
            raise fail(self.file, f"cannot be read ({exc})") from None
        if head[:2] == b"PK":
            raise fail(self.file, "not a readable zip archive (truncated or damaged)")

    @property
    def is_zip(self) -> bool:
        return self._zip is not None

    def names(self) -> list[str]:
        return list(self._names)

    def dirs(self) -> list[str]:
        return list(self._dirs)

    def has(self, name: str) -> bool:
        return name in self._names

    def find(self, name: str) -> str | None:
        """The member called ``name``, at the root or under one top folder."""
        if name in self._names:
            return name
        for member in self._names:
            if member.endswith("/" + name) and member.count("/") == name.count("/") + 1:
                return member
        return None

    def members(self, wanted: Callable[[str], bool], kind: str) -> list[str]:
        """The members ``wanted`` accepts, sorted; a bare file is its own one member.
        ``Invalid`` when the archive holds none (``kind`` says what was looked for)."""
        if self._zip is None:
            return [self.file]
        found = sorted(name for name in self._names if wanted(name))
        if not found:
            raise fail(self.file, f"the archive holds no {kind}")
        return found

    @contextlib.contextmanager
    def open(self, name: str) -> Iterator[IO[bytes]]:
        """The member ``name`` (a bare file: the file) as a binary stream, read as it is used;
        a member found damaged while it is read is an ``Invalid`` naming it."""
        shown = self.shown(name)
        try:
            stream = self.path.open("rb") if self._zip is None else self._zip.open(name)
        except KeyError:
            raise fail(shown, "missing from the archive") from None
        except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as exc:
            raise fail(shown, f"damaged archive member ({exc})") from None
        except (OSError, RuntimeError) as exc:  # RuntimeError: an encrypted member
            raise fail(shown, f"cannot be read ({exc})") from None
        with stream:
            try:
                yield stream
            except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
                raise fail(shown, f"damaged archive member ({exc})") from None

    def read(self, name: str) -> bytes:
        with self.open(name) as stream:
            return stream.read()

    def text(self, name: str) -> str:
        data = self.read(name)
        try:
            return data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise fail(self.shown(name), f"not UTF-8 text (byte {exc.start})") from None

    def lines(self, name: str) -> Iterator[tuple[int, str]]:
        """Non-blank lines, stripped, with 1-based line numbers."""
        for number, line in enumerate(self.text(name).splitlines(), 1):
            line = line.strip()
            if line:
                yield number, line

    def shown(self, name: str) -> str:
        """How messages name the member ``name``."""
        return name if self._zip is None else f"{self.file}/{name}"

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()

    def __enter__(self) -> Input:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def image_size(data: bytes) -> tuple[int, int] | None:
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.size
    except Exception:
        return None


class Sizes:
    """Frame sizes by name: the caller's (the task's frames) first, then images found in
    the archive itself."""

    def __init__(self, given: FrameSizes | None, archive: Input) -> None:
        self.archive = archive
        self.by_name: dict[str, tuple[int, int]] = {}
        self.by_stem: dict[str, tuple[int, int]] = {}
        for name, size in (given or {}).items():
            self.by_name[safe_path(name)] = size
            self.by_stem.setdefault(stem(name), size)
        self.images: dict[str, str] = {}
        if archive.is_zip:
            for member in archive.names():
                if posixpath.splitext(member)[1].lower() in IMAGE_EXTS:
                    self.images.setdefault(stem(member), member)

    def get(self, name: str, file: str) -> tuple[int, int]:
        size = self.by_name.get(safe_path(name)) or self.by_stem.get(stem(name))
        if size is None and stem(name) in self.images:
            size = image_size(self.archive.read(self.images[stem(name)]))
            if size is not None:
                self.by_stem[stem(name)] = size
        if size is None:
            raise fail(
                file,
                f"the size of image {name!r} is unknown: coordinates are normalised, so "
                "the archive must contain the image or the task's frame sizes be given",
            )
        return size


def decode_mask(points: list[float]) -> tuple[int, int, int, int, list[int]] | None:
    """A CVAT mask shape (run lengths of 0s and 1s over its box, then left, top, right,
    bottom) -> (left, top, width, height, run lengths)."""
    if len(points) < 4:
        return None
    left, top, right, bottom = (round(v) for v in points[-4:])
    width, height = right - left + 1, bottom - top + 1
    if width <= 0 or height <= 0:
        return None
    return left, top, width, height, [round(v) for v in points[:-4]]


def encode_mask(bits: bytes, left: int, top: int, width: int, height: int) -> list[float]:
    """Row-major 0/1 bytes of a box -> CVAT mask points (runs starting with 0s)."""
    return [*runs_of(bits), left, top, left + width - 1, top + height - 1]
