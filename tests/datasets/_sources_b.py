"""Helpers for the YOLO, VOC, LabelMe, MOT, ImageNet and segmentation format tests (on top of
the in-memory source of ``conftest.py``)."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

from labelbay.datasets.model import ImportedDataset

from .conftest import MemorySource, export_zip, invalid, make_source, read, write_zip

__all__ = ["MemorySource", "export_zip", "invalid", "make_source", "read", "write_zip"]

# The car track of conftest.make_source, frame by frame (frame 3 is outside).
TRACK_BOXES = {
    0: [0.0, 0.0, 10.0, 10.0],
    1: [5.0, 5.0, 15.0, 15.0],
    2: [10.0, 10.0, 20.0, 20.0],
    4: [30.0, 30.0, 40.0, 40.0],
    5: [30.0, 30.0, 40.0, 40.0],
}
TRACK_OCCLUDED = {4, 5}
# The person polygon track (frames 1-3, outside from 4).
TRACK_POLYGONS = {
    1: [0.0, 0.0, 4.0, 0.0, 4.0, 4.0],
    2: [1.0, 1.0, 5.0, 1.0, 5.0, 5.0],
    3: [2.0, 2.0, 6.0, 2.0, 6.0, 6.0],
}


def split_source(
    *,
    with_images: bool = False,
    same_names: bool = False,
    subsets: tuple[str, str] = ("train", "val"),
) -> MemorySource:
    """``make_source()`` as a project of two tasks: frames 0-2 in ``subsets[0]``, 3-5 in
    ``subsets[1]``; with ``same_names`` frames 3-5 have the names of frames 0-2 (two tasks
    made from the same file names)."""
    source = make_source(with_images=with_images)
    source.frames = [
        dataclasses.replace(
            frame,
            subset=subsets[frame.number // 3],
            name=source.frames[frame.number % 3].name if same_names else frame.name,
        )
        for frame in source.frames
    ]
    source.subset = subsets[0]
    return source


def imported_subsets(data: ImportedDataset) -> list[tuple[str, str]]:
    """(subset, frame stem) of every imported frame, sorted; checks that the frames are
    numbered 0, 1, 2, ... across subsets and that each has a subset."""
    assert sorted(data.frame_names) == list(range(len(data.frame_names)))
    assert sorted(data.frame_subsets) == sorted(data.frame_names)
    return sorted((data.frame_subsets[n], frame_stem(data, n)) for n in data.frame_names)


SPLIT = [("train", f"frame_{i:03d}") for i in range(3)] + [
    ("val", f"frame_{i:03d}") for i in range(3, 6)
]
"""``imported_subsets`` of ``split_source()``."""


def imported_tags(data: ImportedDataset) -> list[tuple[str, str, str]]:
    """(subset, frame stem, label) of every imported tag, sorted."""
    return sorted(
        (data.frame_subsets[t.frame], frame_stem(data, t.frame), t.label) for t in data.tags
    )


SPLIT_TAGS = [
    ("train", "frame_000", "weather"),
    ("train", "frame_002", "weather"),
    ("val", "frame_004", "car"),
]
"""``imported_tags`` of ``split_source()`` with a ``car`` tag added on frame 4."""


def sizes(source: MemorySource) -> dict[str, tuple[int, int]]:
    return {f.name: (f.width, f.height) for f in source.frames}


def frame_stem(data: ImportedDataset, number: int) -> str:
    name = data.frame_names.get(number, str(number))
    return name.rsplit("/", 1)[-1].rsplit(".", 1)[0]


def source_stem(source: MemorySource, number: int) -> str:
    return source.frames[number].name.rsplit("/", 1)[-1].rsplit(".", 1)[0]


def expected_shapes(source: MemorySource, kind: str) -> list[tuple[str, str, list[float]]]:
    """(frame stem, label, points) of the shapes of one type, tracks included."""
    out = [
        (source_stem(source, s.frame), s.label, list(s.points))
        for s in source.shapes
        if s.type == kind
    ]
    if kind == "rectangle":
        out += [(source_stem(source, f), "car", p) for f, p in TRACK_BOXES.items()]
    if kind == "polygon":
        out += [(source_stem(source, f), "person", p) for f, p in TRACK_POLYGONS.items()]
    return sorted(out, key=lambda item: (item[0], item[1], item[2]))


def imported_shapes(data: ImportedDataset, kind: str) -> list[tuple[str, str, list[float]]]:
    out = [
        (frame_stem(data, s.frame), s.label, list(s.points)) for s in data.shapes if s.type == kind
    ]
    return sorted(out, key=lambda item: (item[0], item[1], item[2]))


def assert_same(
    got: list[tuple[str, str, list[float]]],
    want: list[tuple[str, str, list[float]]],
    *,
    rel: float = 1e-6,
    abs_: float = 1e-6,
) -> None:
    assert [(f, label, len(p)) for f, label, p in got] == [
        (f, label, len(p)) for f, label, p in want
    ]
    for (frame, label, a), (_f, _l, b) in zip(got, want, strict=True):
        for x, y in zip(a, b, strict=True):
            assert math.isclose(x, y, rel_tol=rel, abs_tol=abs_), (frame, label, a, b)


def truncate(path: Path) -> Path:
    data = path.read_bytes()
    cut = path.with_name("cut_" + path.name)
    cut.write_bytes(data[: len(data) // 2])
    return cut
