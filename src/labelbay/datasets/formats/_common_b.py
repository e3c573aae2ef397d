"""Helpers shared by the YOLO, VOC, LabelMe, MOT, ImageNet and segmentation formats.

Reading: an uploaded file is either a zip archive or one bare file; :class:`Input` gives both
the same face (member names, bytes, text) and turns every broken archive into an ``Invalid``
naming the file. Writing: frame paths made safe for archive members, numbers printed
compactly, images copied one frame at a time. Tracks: :class:`TrackFrames` expands tracks
into per-frame shapes for the formats that have no notion of tracks.
"""

from __future__ import annotations

import bisect
import dataclasses
import io
import math
import posixpath
import zipfile
import zlib
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from labelbay.datasets.model import (
    DatasetSource,
    FrameInfo,
    LabelSpec,
    Shape,
    Tag,
    Track,
    TrackShape,
)
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
    """A frame name as a relative archive path: forward slashes, no drive, no ``..``."""
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".", "..")]
    if parts and parts[0].endswith(":"):
        parts = parts[1:]
    return "/".join(parts) or "frame"


def path_stem(name: str) -> str:
    """``dir/a.jpg`` -> ``dir/a``: the safe path without its extension."""
    path = safe_path(name)
    root, ext = posixpath.splitext(path)
    return root if ext and posixpath.basename(root) else path


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


def label_specs(names: Iterable[str]) -> list[LabelSpec]:
    seen: dict[str, LabelSpec] = {}
    for name in names:
        seen.setdefault(name, LabelSpec(name=name))
    return list(seen.values())


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


def bounds(points: list[float]) -> tuple[float, float, float, float]:
    xs, ys = points[0::2], points[1::2]
    return min(xs), min(ys), max(xs), max(ys)


class Input:
    """An uploaded file, a zip archive or one bare file, read member by member."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.file = path.name
        self._zip: zipfile.ZipFile | None = None
        if zipfile.is_zipfile(path):
            try:
                self._zip = zipfile.ZipFile(path)
            except (zipfile.BadZipFile, OSError, ValueError) as exc:
                raise fail(self.file, f"not a readable zip archive ({exc})") from None
            self._names = [i.filename for i in self._zip.infolist() if not i.is_dir()]
            self._dirs = [i.filename.rstrip("/") for i in self._zip.infolist() if i.is_dir()]
        else:
            try:
                head = path.read_bytes()[:4]
            except OSError as exc:
                raise fail(self.file, f"cannot be read ({exc})") from None
            if head[:2] == b"PK":
                raise fail(self.file, "not a readable zip archive (truncated or damaged)")
            self._names = [self.file]
            self._dirs = []

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

    def read(self, name: str) -> bytes:
        if self._zip is None:
            try:
                return self.path.read_bytes()
            except OSError as exc:
                raise fail(self.file, f"cannot be read ({exc})") from None
        try:
            return self._zip.read(name)
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, KeyError) as exc:
            raise fail(f"{self.file}/{name}", f"damaged archive member ({exc})") from None

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


class TrackFrames:
    """Tracks as per-frame shapes (for formats without tracks).

    A track's state on a frame is its last keyframe at or before it; between two keyframes
    of the same type and number of points the points (and rotation) are interpolated
    linearly, except towards an ``outside`` keyframe (held still). Past its last keyframe a
    track stays as it is up to the end. Tracks are kept in memory (keyframes only)."""

    def __init__(self, tracks: Iterable[Track], types: Iterable[str] | None = None) -> None:
        wanted = set(types) if types is not None else None
        self.tracks = [
            _sorted(t)
            for t in tracks
            if t.shapes and (wanted is None or any(s.type in wanted for s in t.shapes))
        ]

    def at(self, frame: int) -> Iterator[tuple[int, Shape]]:
        """``(track index, shape)`` of every track visible on ``frame``."""
        for index, track in enumerate(self.tracks):
            if track.frame > frame:
                continue
            shape = _state(track, frame)
            if shape is not None and not shape.outside:
                yield index, shape


def _sorted(track: Track) -> Track:
    """A copy with keyframes in frame order (the source's objects stay as they are)."""
    return dataclasses.replace(
        track,
        shapes=sorted(track.shapes, key=lambda s: s.frame),
        elements=[_sorted(e) for e in track.elements],
    )


def _state(track: Track, frame: int) -> Shape | None:
    frames = [s.frame for s in track.shapes]
    i = bisect.bisect_right(frames, frame) - 1
    if i < 0:
        return None
    prev: TrackShape = track.shapes[i]
    points, rotation = list(prev.points), prev.rotation
    if prev.frame != frame and i + 1 < len(track.shapes):
        nxt = track.shapes[i + 1]
        if (
            not nxt.outside
            and not prev.outside
            and nxt.type == prev.type
            and len(nxt.points) == len(prev.points)
            and prev.type != "mask"
        ):
            t = (frame - prev.frame) / (nxt.frame - prev.frame)
            points = [a + (b - a) * t for a, b in zip(prev.points, nxt.points, strict=True)]
            rotation = prev.rotation + (nxt.rotation - prev.rotation) * t
    elements = []
    for element in track.elements:
        state = _state(element, frame)
        if state is not None:
            elements.append(state)
    return Shape(
        type=prev.type,
        frame=frame,
        label=track.label,
        points=points,
        rotation=rotation,
        occluded=prev.occluded,
        outside=prev.outside,
        z_order=prev.z_order,
        attributes={**track.attributes, **prev.attributes},
        group=track.group,
        source=track.source,
        elements=elements,
    )


def frame_shapes(
    source: DatasetSource, types: Iterable[str] | None = None
) -> Iterator[tuple[FrameInfo, list[Shape], list[Tag]]]:
    """``frame_annotations()`` with the shapes of tracks added (track shapes last)."""
    expander = TrackFrames(source.tracks(), types)
    for frame, shapes, tags in source.frame_annotations():
        merged = list(shapes)
        merged.extend(shape for _i, shape in expander.at(frame.number))
        yield frame, merged, tags


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


def encode_mask(bits: list[int], left: int, top: int, width: int, height: int) -> list[float]:
    """Row-major 0/1 pixels of a box -> CVAT mask points (runs starting with 0s)."""
    runs: list[float] = []
    current, count = 0, 0
    for bit in bits:
        if bit == current:
            count += 1
        else:
            runs.append(count)
            current, count = bit, 1
    runs.append(count)
    return [*runs, left, top, left + width - 1, top + height - 1]
