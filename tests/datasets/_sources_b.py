"""Helpers for the YOLO, VOC, LabelMe, MOT, ImageNet and segmentation format tests (on top of
the in-memory source of ``conftest.py``)."""

from __future__ import annotations

import math
import zipfile
from pathlib import Path

import pytest

from labelbay.datasets import registry
from labelbay.datasets.model import ImportedDataset
from labelbay.errors import Invalid

from .conftest import MemorySource, export_zip, make_source

__all__ = ["MemorySource", "export_zip", "make_source"]

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


def write_zip(path: Path, members: dict[str, str | bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as out:
        for name, data in members.items():
            out.writestr(name, data)
    return path


def truncate(path: Path) -> Path:
    data = path.read_bytes()
    cut = path.with_name("cut_" + path.name)
    cut.write_bytes(data[: len(data) // 2])
    return cut


def read(fmt: str, path: Path, **kwargs: object) -> ImportedDataset:
    importer = registry.importer(fmt).importer
    assert importer is not None
    return importer(path, **kwargs)


def invalid(fmt: str, path: Path, *needles: str, **kwargs: object) -> Invalid:
    with pytest.raises(Invalid) as caught:
        read(fmt, path, **kwargs)
    for needle in needles:
        assert needle in caught.value.message, caught.value.message
    return caught.value
