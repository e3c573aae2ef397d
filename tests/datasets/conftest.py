"""An in-memory DatasetSource with every kind of annotation, for the format tests, and the
helpers they share: export to a zip, read with a format's importer, expect a failure."""

from __future__ import annotations

import io
import tracemalloc
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import httpx
import pytest
from cvat_sdk import Client
from PIL import Image

from conftest import ADMIN, Server
from e2e.helpers import login_key, sdk_client
from labelbay.datasets import registry
from labelbay.datasets.model import (
    AttributeSpec,
    FrameInfo,
    ImportedDataset,
    LabelSpec,
    Shape,
    Tag,
    Track,
    TrackShape,
)
from labelbay.errors import Invalid

T = TypeVar("T")

W, H = 64, 48


@dataclass
class MemorySource:
    name: str
    labels: list[LabelSpec]
    frames: list[FrameInfo]
    shapes: list[Shape] = field(default_factory=list)
    tags: list[Tag] = field(default_factory=list)
    track_list: list[Track] = field(default_factory=list)
    subset: str = "default"
    images: dict[int, bytes] = field(default_factory=dict)

    def frame_annotations(self) -> Iterator[tuple[FrameInfo, list[Shape], list[Tag]]]:
        for frame in self.frames:
            yield (
                frame,
                [s for s in self.shapes if s.frame == frame.number],
                [t for t in self.tags if t.frame == frame.number],
            )

    def tracks(self) -> Iterator[Track]:
        yield from self.track_list

    def image(self, frame: FrameInfo) -> tuple[str, bytes] | None:
        data = self.images.get(frame.number)
        return None if data is None else (frame.name, data)


def png(color: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (W, H), color).save(buffer, format="PNG")
    return buffer.getvalue()


def mask_points(rows: list[str], left: int, top: int) -> list[float]:
    """CVAT's API mask: row-major runs over the box (starting with zeros) + [l, t, r, b]."""
    bits = "".join(rows)
    runs: list[float] = []
    current, count = "0", 0
    for bit in bits:
        if bit == current:
            count += 1
        else:
            runs.append(float(count))
            current, count = bit, 1
    runs.append(float(count))
    return [*runs, left, top, left + len(rows[0]) - 1, top + len(rows) - 1]


LABELS = [
    LabelSpec(
        "car",
        "#ff0000",
        "any",
        (
            AttributeSpec("color", "select", ("red", "blue"), mutable=True, default_value="red"),
            AttributeSpec("parked", "checkbox", ("false",), mutable=False, default_value="false"),
            AttributeSpec("speed", "number", ("0", "100", "1"), mutable=True, default_value="0"),
        ),
    ),
    LabelSpec("person", "#00ff00", "any", (AttributeSpec("name", "text", (), False, ""),)),
    LabelSpec("weather", "#0000ff", "tag"),
    LabelSpec(
        "body",
        "#ffff00",
        "skeleton",
        (),
        (LabelSpec("head", "#111111", "points"), LabelSpec("foot", "#222222", "points")),
    ),
]


def make_source(*, with_images: bool = False) -> MemorySource:
    frames = [FrameInfo(i, f"dir/frame_{i:03d}.png", W, H) for i in range(6)]
    car_attrs = {"color": "blue", "parked": "true", "speed": "12"}
    shapes = [
        Shape("rectangle", 0, "car", [1.5, 2.25, 20.0, 30.5], attributes=dict(car_attrs)),
        Shape("rectangle", 0, "car", [5, 5, 15, 25], rotation=30.0, occluded=True, z_order=2),
        Shape("polygon", 0, "person", [1, 1, 10, 1, 10, 10, 1, 10], attributes={"name": "Ann"}),
        Shape("polyline", 1, "person", [0, 0, 5, 5, 10, 0], group=3),
        Shape("points", 1, "person", [3, 4, 7, 8]),
        Shape("ellipse", 2, "car", [30, 20, 40, 15], rotation=10.0),
        Shape("mask", 2, "person", mask_points(["0110", "1111", "0100"], 10, 20)),
        Shape(
            "skeleton",
            3,
            "body",
            [],
            elements=[
                Shape("points", 3, "head", [10, 10]),
                Shape("points", 3, "foot", [12, 30], occluded=True),
            ],
        ),
        Shape("polygon", 4, "car", [40, 30, 50, 30, 45, 40], source="auto"),
    ]
    tags = [Tag(0, "weather"), Tag(2, "weather", group=1)]
    track = Track(
        "car",
        0,
        [
            TrackShape(0, "rectangle", [0, 0, 10, 10], attributes={"color": "red", "speed": "1"}),
            TrackShape(2, "rectangle", [10, 10, 20, 20], attributes={"color": "blue"}),
            TrackShape(3, "rectangle", [10, 10, 20, 20], outside=True),
            TrackShape(4, "rectangle", [30, 30, 40, 40], occluded=True),
        ],
        attributes={"parked": "false"},
    )
    person = Track(
        "person",
        1,
        [
            TrackShape(1, "polygon", [0, 0, 4, 0, 4, 4], z_order=1),
            TrackShape(3, "polygon", [2, 2, 6, 2, 6, 6], z_order=1),
            TrackShape(4, "polygon", [2, 2, 6, 2, 6, 6], outside=True),
        ],
        attributes={"name": "Bob"},
    )
    source = MemorySource("demo task", LABELS, frames, shapes, tags, [track, person])
    if with_images:
        source.images = {f.number: png((f.number * 40, 0, 0)) for f in frames}
    return source


@pytest.fixture
def source() -> MemorySource:
    return make_source()


def export_zip(fmt: str, source: MemorySource, path: Path, *, save_images: bool = False) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        registry.exporter(fmt).exporter(source, out, save_images=save_images)
    return path


def read(fmt: str, path: Path, **kwargs: object) -> ImportedDataset:
    """``path`` read by the importer of ``fmt`` (``kwargs``: YOLO's ``frame_sizes``)."""
    importer = registry.importer(fmt).importer
    assert importer is not None
    return importer(path, **kwargs)


def invalid(fmt: str, path: Path, *needles: str, **kwargs: object) -> Invalid:
    """The ``Invalid`` reading ``path`` as ``fmt`` raises; its message holds every needle."""
    with pytest.raises(Invalid) as caught:
        read(fmt, path, **kwargs)
    for needle in needles:
        assert needle in caught.value.message, caught.value.message
    return caught.value


def write_zip(path: Path, members: dict[str, str | bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        for name, data in members.items():
            out.writestr(name, data)
    return path


def peak_memory(run: Callable[[], T]) -> tuple[T, int]:
    """What ``run()`` returns and the most memory (bytes) Python allocated while it ran."""
    tracemalloc.start()
    try:
        result = run()
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak


def rounded(values: list[float], digits: int = 2) -> list[float]:
    return [round(float(v), digits) for v in values]


def shape_key(shape: Shape, *, digits: int = 2) -> tuple:
    """What a round trip keeps of a shape (not its source), comparable and sortable."""
    return (
        shape.frame,
        shape.label,
        shape.type,
        tuple(rounded(shape.points, digits)),
        round(shape.rotation, digits),
        shape.occluded,
        shape.z_order,
        tuple(sorted(shape.attributes.items())),
        shape.group,
        tuple(shape_key(e, digits=digits) for e in shape.elements),
    )


def expected_track_frames() -> list[Shape]:
    """The tracks of make_source() as plain shapes on each frame where they are visible,
    worked out by hand (linear between keyframes, hidden while outside)."""
    car = {"parked": "false"}
    person = {"name": "Bob"}
    red = {**car, "color": "red", "speed": "1"}
    return [
        Shape("rectangle", 0, "car", [0, 0, 10, 10], attributes=red),
        Shape("rectangle", 1, "car", [5, 5, 15, 15], attributes=red),
        Shape("rectangle", 2, "car", [10, 10, 20, 20], attributes={**car, "color": "blue"}),
        Shape("rectangle", 4, "car", [30, 30, 40, 40], occluded=True, attributes=car),
        Shape("rectangle", 5, "car", [30, 30, 40, 40], occluded=True, attributes=car),
        Shape("polygon", 1, "person", [0, 0, 4, 0, 4, 4], z_order=1, attributes=person),
        Shape("polygon", 2, "person", [1, 1, 5, 1, 5, 5], z_order=1, attributes=person),
        Shape("polygon", 3, "person", [2, 2, 6, 2, 6, 6], z_order=1, attributes=person),
    ]


@pytest.fixture(scope="module")
def client(server: Server) -> Iterator[Client]:
    """cvat-sdk signed in as the administrator (one per test module)."""
    with sdk_client(server, ADMIN) as signed_in:
        yield signed_in


@pytest.fixture(scope="module")
def http(server: Server) -> Iterator[httpx.Client]:
    """Plain HTTP with the administrator's token (one per test module)."""
    headers = {"Authorization": f"Token {login_key(server)}"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=60) as signed_in:
        yield signed_in
