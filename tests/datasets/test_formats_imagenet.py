"""ImageNet 1.0: tags as class folders or label lists; round trip, listing, bad input."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from labelbay.datasets.model import Tag

from ._sources_b import (
    SPLIT,
    SPLIT_TAGS,
    export_zip,
    imported_subsets,
    imported_tags,
    invalid,
    make_source,
    read,
    split_source,
    truncate,
    write_zip,
)
from .conftest import png

IMAGENET = "ImageNet 1.0"


@pytest.mark.parametrize("with_images", [True, False])
def test_round_trip(tmp_path: Path, with_images: bool) -> None:
    source = make_source(with_images=with_images)
    source.tags.append(Tag(2, "car"))
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


@pytest.mark.parametrize("with_images", [True, False])
def test_writes_each_subset(tmp_path: Path, with_images: bool) -> None:
    source = split_source(with_images=with_images)
    source.tags.append(Tag(4, "car"))
    path = export_zip(IMAGENET, source, tmp_path / "out.zip", save_images=with_images)
    with zipfile.ZipFile(path) as z:
        names = set(z.namelist())
    assert {"train/car/", "train/no_label/", "val/weather/", "val/no_label/"} <= names
    assert not {"car/", "weather/"} & names
    if with_images:
        assert {"train/weather/dir/frame_000.png", "val/car/dir/frame_004.png"} <= names
        assert "val/no_label/dir/frame_003.png" in names
    else:
        assert {"labels/train/dir/frame_000.txt", "labels/val/dir/frame_003.txt"} <= names
    data = read(IMAGENET, path)
    assert [label.name for label in data.labels] == ["car", "person", "weather", "body"]
    assert imported_subsets(data) == SPLIT
    assert imported_tags(data) == SPLIT_TAGS


def test_default_subset_only_is_flat(tmp_path: Path) -> None:
    data = read(IMAGENET, export_zip(IMAGENET, make_source(), tmp_path / "o.zip"))
    assert data.frame_subsets == {}
    assert len(data.frame_names) == 6


def test_same_names_in_two_subsets_stay_two_frames(tmp_path: Path) -> None:
    source = split_source(with_images=True, same_names=True)
    path = export_zip(IMAGENET, source, tmp_path / "out.zip", save_images=True)
    data = read(IMAGENET, path)
    assert imported_subsets(data) == [
        (subset, f"frame_{i:03d}") for subset in ("train", "val") for i in range(3)
    ]


def test_datumaro_subset_folders(tmp_path: Path) -> None:
    path = write_zip(
        tmp_path / "d.zip",
        {"train/n01/a.jpg": png((1, 2, 3)), "val/n02/a.jpg": png((0, 0, 0))},
    )
    data = read(IMAGENET, path)
    assert data.frame_names == {0: "a.jpg", 1: "a.jpg"}
    assert data.frame_subsets == {0: "train", 1: "val"}
    assert [(t.frame, t.label) for t in data.tags] == [(0, "n01"), (1, "n02")]
