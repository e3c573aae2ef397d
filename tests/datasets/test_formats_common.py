"""What every format shares (``formats.common``): safe member paths for frame files, and one
way of reading an upload (a zip or a bare file) with errors naming the file or member."""

from __future__ import annotations

import dataclasses
import json
import zipfile
from pathlib import Path

import pytest

from labelbay.datasets.formats.common import Input, safe_path
from labelbay.errors import Invalid

from .conftest import export_zip, invalid, make_source, read, write_zip

COCO, DATUMARO, CVAT_IMAGES, CVAT = "COCO 1.0", "Datumaro 1.0", "CVAT for images 1.1", "CVAT 1.1"
YOLO = "YOLO 1.1"


def test_safe_path_keeps_names_relative() -> None:
    assert safe_path("dir/a.png") == "dir/a.png"
    assert safe_path("C:\\data\\..\\.\\a.png") == "data/a.png"
    assert safe_path("/etc//passwd") == "etc/passwd"
    assert safe_path("../..") == "frame"


@pytest.mark.parametrize(
    ("fmt", "member"),
    [
        (COCO, "images/default/data/a.png"),
        (DATUMARO, "images/default/data/a.png"),
        (CVAT_IMAGES, "images/data/a.png"),  # one subset: no subset folder
    ],
)
def test_frame_files_are_written_under_safe_paths(tmp_path: Path, fmt: str, member: str) -> None:
    source = make_source(with_images=True)
    source.frames[0] = dataclasses.replace(source.frames[0], name="C:\\data\\..\\a.png")
    path = export_zip(fmt, source, tmp_path / "out.zip", save_images=True)
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
        assert z.read(member) == source.images[0]
    assert all(".." not in name and ":" not in name for name in names)


def test_hidden_members_are_left_out(tmp_path: Path) -> None:
    good = export_zip(COCO, make_source(), tmp_path / "good.zip")
    with zipfile.ZipFile(good) as z:
        members: dict[str, str | bytes] = {n: z.read(n) for n in z.namelist()}
    members["__MACOSX/annotations/._instances_default.json"] = b"\x00\x05\x16\x07 not JSON"
    members["annotations/.extra.json"] = b"{"
    data = read(COCO, write_zip(tmp_path / "mac.zip", members))
    assert data.shapes and set(data.frame_subsets.values()) == {"default"}
    with Input(tmp_path / "mac.zip") as src:
        assert src.names() == ["annotations/instances_default.json"]


def _damaged(path: Path, member: str) -> Path:
    """``path`` with the compressed bytes of ``member`` overwritten (the zip still opens)."""
    data = bytearray(path.read_bytes())
    start = data.index(member.encode()) + len(member) + 40
    data[start : start + 64] = b"\xff" * 64
    path.write_bytes(bytes(data))
    return path


def test_a_damaged_member_is_named(tmp_path: Path) -> None:
    doc = {"images": [], "categories": [], "annotations": [{"note": "x" * 100}] * 200}
    path = write_zip(tmp_path / "d.zip", {"annotations/instances_default.json": json.dumps(doc)})
    error = invalid(COCO, _damaged(path, "annotations/instances_default.json"))
    assert error.message.startswith("d.zip/annotations/instances_default.json: damaged archive")
    # Read whole (the text formats) the same way.
    names = "\n".join(f"class_{i}" for i in range(500))
    path = write_zip(tmp_path / "y.zip", {"obj.names": names})
    invalid(YOLO, _damaged(path, "obj.names"), "y.zip/obj.names: damaged archive member")


def test_missing_and_broken_uploads(tmp_path: Path) -> None:
    invalid(COCO, tmp_path / "gone.json", "gone.json: the uploaded file is missing")
    cut = tmp_path / "cut.zip"
    cut.write_bytes(export_zip(CVAT_IMAGES, make_source(), tmp_path / "x.zip").read_bytes()[:200])
    for fmt in (CVAT, COCO, DATUMARO, YOLO):
        invalid(fmt, cut, "cut.zip: not a readable zip archive")


def test_members_and_streams(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "m.zip", {"b.json": b"{}", "a.json": b"[]", "c.txt": b""})
    with Input(path) as src:
        assert src.members(lambda n: n.endswith(".json"), "JSON") == ["a.json", "b.json"]
        with src.open("a.json") as stream:
            assert stream.read() == b"[]"
        with pytest.raises(Invalid, match=r"m\.zip: the archive holds no XML file"):
            src.members(lambda n: n.endswith(".xml"), "XML file")
    bare = tmp_path / "one.json"
    bare.write_bytes(b"{}")
    with Input(bare) as src:
        assert not src.is_zip and src.members(lambda n: False, "JSON") == ["one.json"]
        assert src.shown("one.json") == "one.json" and src.read("one.json") == b"{}"
