"""MOT 1.1: round trip of tracks, gt.txt read with csv, bad input."""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

from ._sources_b import (
    TRACK_BOXES,
    TRACK_OCCLUDED,
    export_zip,
    invalid,
    make_source,
    read,
    split_source,
    truncate,
    write_zip,
)

MOT = "MOT 1.1"


def test_round_trip(tmp_path: Path) -> None:
    source = make_source()
    data = read(MOT, export_zip(MOT, source, tmp_path / "out.zip"))
    assert data.frame_names == {}
    assert [label.name for label in data.labels] == ["car", "person", "weather", "body"]
    (track,) = data.tracks
    assert track.label == "car" and track.frame == 0
    visible = {s.frame: s.points for s in track.shapes if not s.outside}
    assert visible == TRACK_BOXES
    assert {s.frame for s in track.shapes if s.outside} == {3}
    assert {s.frame for s in track.shapes if s.occluded} == TRACK_OCCLUDED
    plain = sorted((s.frame, s.points, s.occluded) for s in data.shapes)
    assert plain == [(0, [1.5, 2.25, 20.0, 30.5], False), (0, [5.0, 5.0, 15.0, 25.0], True)]


def test_gt_read_with_csv(tmp_path: Path) -> None:
    path = export_zip(MOT, make_source(with_images=True), tmp_path / "out.zip", save_images=True)
    with zipfile.ZipFile(path) as z:
        rows = list(csv.reader(io.StringIO(z.read("gt/gt.txt").decode())))
        labels = z.read("gt/labels.txt").decode().split()
        assert "img1/000001.png" in z.namelist()
    assert labels == ["car", "person", "weather", "body"]
    assert all(len(row) == 9 for row in rows)
    tracked = [row for row in rows if row[1] == "1"]
    assert [int(row[0]) for row in tracked] == [1, 2, 3, 5, 6]
    assert [float(v) for v in tracked[1][2:6]] == [5, 5, 10, 10]
    assert {row[7] for row in rows} == {"1"}


def test_gaps_and_end_become_outside(tmp_path: Path) -> None:
    path = write_zip(
        tmp_path / "m.zip",
        {
            "gt/labels.txt": "a\nb\n",
            "gt/gt.txt": "1,5,1,1,2,2,1,2,1\n3,5,2,2,2,2,1,2,0.2\n"
            "4,7,0,0,1,1,1,1,1\n6,7,0,0,1,1,1,1,1\n",
        },
    )
    data = read(MOT, path)
    first, second = data.tracks
    assert first.label == "b"
    assert [(s.frame, s.outside) for s in first.shapes] == [
        (0, False),
        (1, True),
        (2, False),
        (3, True),
    ]
    assert first.shapes[2].occluded
    assert [(s.frame, s.outside) for s in second.shapes] == [(3, False), (4, True), (5, False)]


def test_bad_input(tmp_path: Path) -> None:
    labels = {"gt/labels.txt": "car\n"}
    path = write_zip(tmp_path / "a.zip", {**labels, "gt/gt.txt": "1,1,0,0,1,1,1,1,1\n2,1,0\n"})
    error = invalid(MOT, path, "a.zip/gt/gt.txt", "line 2")
    assert error.detail["line"] == 2
    path = write_zip(tmp_path / "b.zip", {**labels, "gt/gt.txt": "1,1,0,0,1,1,1,3,1\n"})
    invalid(MOT, path, "gt/gt.txt", "line 1", "class id 3 is unknown")
    path = write_zip(tmp_path / "c.zip", {**labels, "gt/gt.txt": "1,1,0,zero,1,1,1,1,1\n"})
    invalid(MOT, path, "line 1", "'zero'")
    path = write_zip(tmp_path / "d.zip", {**labels, "gt/gt.txt": "0,1,0,0,1,1,1,1,1\n"})
    invalid(MOT, path, "line 1", "frame 0")
    path = write_zip(
        tmp_path / "e.zip", {**labels, "gt/gt.txt": "1,1,0,0,1,1,1,1,1\n1,1,0,0,1,1,1,1,1\n"}
    )
    invalid(MOT, path, "line 2", "two rows")
    invalid(MOT, write_zip(tmp_path / "f.zip", labels), "f.zip", "gt/gt.txt is missing")
    out = export_zip(MOT, make_source(with_images=True), tmp_path / "o.zip", save_images=True)
    invalid(MOT, truncate(out), "cut_o.zip")


def test_subsets_share_one_file(tmp_path: Path) -> None:
    path = export_zip(MOT, split_source(), tmp_path / "out.zip")
    with zipfile.ZipFile(path) as z:
        assert [n for n in z.namelist() if n.endswith("gt.txt")] == ["gt/gt.txt"]
        frames = {int(row[0]) for row in csv.reader(io.StringIO(z.read("gt/gt.txt").decode()))}
    assert frames == {1, 2, 3, 5, 6}  # car track frames 0-2 and 4-5, both subsets
    data = read(MOT, path)
    assert data.frame_subsets == {}
    (track,) = data.tracks
    assert {s.frame: s.points for s in track.shapes if not s.outside} == TRACK_BOXES
