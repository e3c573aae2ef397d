"""ImageNet 1.0: tags as class folders or label lists; round trip, listing, bad input."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from ._sources_b import export_zip, invalid, make_source, read, truncate, write_zip
from .conftest import png

IMAGENET = "ImageNet 1.0"


@pytest.mark.parametrize("with_images", [True, False])
def test_round_trip(tmp_path: Path, with_images: bool) -> None:
    source = make_source(with_images=with_images)
    source.tags.append(source.tags[0].__class__(2, "car"))
    path = export_zip(IMAGENET, source, tmp_path / "out.zip", save_images=with_images)
    data = read(IMAGENET, path)
    assert [label.name for label in data.labels] == ["car", "person", "weather", "body"]
    stems = {n: name.split(".")[0] for n, name in data.frame_names.items()}
    assert sorted(stems.values()) == [f"dir/frame_{i:03d}" for i in range(6)]
    got = sorted((stems[t.frame], t.label) for t in data.tags)
    assert got == [
        ("dir/frame_000", "weather"),
        ("dir/frame_002", "car"),
        ("dir/frame_002", "weather"),
    ]


def test_layout_read_directly(tmp_path: Path) -> None:
    source = make_source(with_images=True)
    path = export_zip(IMAGENET, source, tmp_path / "out.zip", save_images=True)
    with zipfile.ZipFile(path) as z:
        names = set(z.namelist())
        assert z.read("weather/dir/frame_000.png") == source.images[0]
    assert {"car/", "weather/", "no_label/dir/frame_001.png"} <= names
    path = export_zip(IMAGENET, make_source(), tmp_path / "plain.zip")
    with zipfile.ZipFile(path) as z:
        assert z.read("labels/dir/frame_000.txt").decode().splitlines() == ["weather"]
        assert z.read("labels/dir/frame_001.txt") == b""


def test_foreign_archive(tmp_path: Path) -> None:
    path = write_zip(
        tmp_path / "i.zip", {"n01/a.jpg": png((1, 2, 3)), "n02/b.jpg": png((0, 0, 0)), "x": ""}
    )
    data = read(IMAGENET, path)
    assert data.frame_names == {0: "a.jpg", 1: "b.jpg"}
    assert [(t.frame, t.label) for t in data.tags] == [(0, "n01"), (1, "n02")]


def test_bad_input(tmp_path: Path) -> None:
    out = export_zip(IMAGENET, make_source(with_images=True), tmp_path / "o.zip", save_images=True)
    invalid(IMAGENET, truncate(out), "cut_o.zip")
    bare = tmp_path / "labels.txt"
    bare.write_text("car\n")
    invalid(IMAGENET, bare, "labels.txt", "zip")
    path = write_zip(tmp_path / "u.zip", {"labels/a.txt": b"\xff\xfe car"})
    invalid(IMAGENET, path, "u.zip/labels/a.txt", "UTF-8")
