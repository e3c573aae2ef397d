"""MOT 1.1: tracks of boxes in one CSV file.

Layout: ``gt/gt.txt`` with ``frame,track_id,x,y,w,h,not_ignored,class_id,visibility`` rows
(frames and classes counted from 1, classes as lines of ``gt/labels.txt``) and, with images,
``img1/<frame + 1 as 6 digits><ext>``. Track rectangles are written on every frame where the
track is visible (interpolated between keyframes), with track ids from 1; rectangles that are
not in a track get track id -1. Visibility is 1 (0 when occluded); rotation is ignored.

Reading: rows of the same track id become one track, every row a keyframe; a gap in a track
and the frame after its last row (when the file goes on past it) become ``outside``
keyframes. Track id -1 rows are single shapes. ``occluded`` means visibility below 0.5.
Frames are matched by number (row frame - 1); the file names no frames.

MOT has no subsets: the frames of every subset go into the one ``gt/gt.txt`` (numbered as
the source numbers them), and an import records none (``frame_subsets`` stays empty).
"""

from __future__ import annotations

import csv
import io
import math
import posixpath
import zipfile
from pathlib import Path

from labelbay.datasets.formats.common import (
    Input,
    fail,
    label_specs,
    num,
    write_image,
)
from labelbay.datasets.model import (
    DatasetSource,
    ImportedDataset,
    Shape,
    Track,
    TrackShape,
)
from labelbay.datasets.registry import Format, register
from labelbay.datasets.tracks import TrackCursor


def export(source: DatasetSource, out: zipfile.ZipFile, *, save_images: bool) -> None:
    names = [label.name for label in source.labels]
    index = {name: i + 1 for i, name in enumerate(names)}
    out.writestr("gt/labels.txt", "".join(f"{name}\n" for name in names))
    tracks = TrackCursor(source.tracks(), {"rectangle"})
    with out.open("gt/gt.txt", "w", force_zip64=True) as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8", newline="")
        writer = csv.writer(text, lineterminator="\n")
        for frame, shapes, _tags in source.frame_annotations():
            rows = [(t.track_id + 1, t.shape) for t in tracks.at(frame.number)]
            rows.extend((-1, shape) for shape in shapes)
            for track_id, shape in rows:
                if shape.type != "rectangle" or shape.label not in index:
                    continue
                x1, y1, x2, y2 = shape.points[:4]
                writer.writerow(
                    [
                        frame.number + 1,
                        track_id,
                        num(min(x1, x2)),
                        num(min(y1, y2)),
                        num(abs(x2 - x1)),
                        num(abs(y2 - y1)),
                        1,
                        index[shape.label],
                        0 if shape.occluded else 1,
                    ]
                )
        text.flush()
        text.detach()
    if save_images:
        for frame in source.frames:
            write_image(out, source, frame, f"img1/{frame.number + 1:06d}")


def _number(text: str, file: str, line: int, what: str, *, integer: bool = False) -> float:
    try:
        value = float(text)
    except ValueError:
        raise fail(file, f"{what} {text!r} is not a number", line=line) from None
    if not math.isfinite(value) or (integer and value != int(value)):
        raise fail(
            file, f"{what} {text!r} is not {'an integer' if integer else 'finite'}", line=line
        )
    return value


def read(path: Path) -> ImportedDataset:
    with Input(path) as src:
        if src.is_zip:
            gt = src.find("gt/gt.txt")
            if gt is None:
                raise fail(src.file, "gt/gt.txt is missing")
            labels_member = posixpath.join(posixpath.dirname(gt), "labels.txt")
            has_labels = src.has(labels_member)
        else:
            gt, labels_member, has_labels = src.file, "", False
        names = [line for _n, line in src.lines(labels_member)] if has_labels else []
        shown = src.shown(gt)
        rows: dict[int, list[tuple[int, Shape]]] = {}
        data = ImportedDataset()
        declared: list[str] = list(names)
        last_frame = 0
        reader = csv.reader(io.StringIO(src.text(gt)))
        for line, row in enumerate(reader, 1):
            row = [cell.strip() for cell in row]
            if not any(row):
                continue
            if len(row) < 6:
                raise fail(
                    shown,
                    "expected 'frame,track_id,x,y,w,h,not_ignored,class_id,visibility'",
                    line=line,
                )
            frame = int(_number(row[0], shown, line, "frame", integer=True))
            if frame < 1:
                raise fail(shown, f"frame {frame} is below 1", line=line)
            track_id = int(_number(row[1], shown, line, "track id", integer=True))
            x, y, w, h = (_number(row[i], shown, line, "box value") for i in range(2, 6))
            class_id = 1
            if len(row) > 7 and row[7]:
                class_id = int(_number(row[7], shown, line, "class id", integer=True))
            visibility = 1.0
            if len(row) > 8 and row[8]:
                visibility = _number(row[8], shown, line, "visibility")
            if names:
                if not 1 <= class_id <= len(names):
                    raise fail(
                        shown,
                        f"class id {class_id} is unknown ({labels_member} has {len(names)})",
                        line=line,
                    )
                label = names[class_id - 1]
            else:
                label = str(class_id)
                if label not in declared:
                    declared.append(label)
            shape = Shape(
                type="rectangle",
                frame=frame - 1,
                label=label,
                points=[x, y, x + w, y + h],
                occluded=visibility < 0.5,
            )
            last_frame = max(last_frame, frame - 1)
            if track_id < 0:
                data.shapes.append(shape)
            else:
                rows.setdefault(track_id, []).append((line, shape))
        for track_id in sorted(rows):
            data.tracks.append(_track(rows[track_id], last_frame, shown, track_id))
        data.labels = label_specs(declared)
        return data


def _track(rows: list[tuple[int, Shape]], last_frame: int, file: str, track_id: int) -> Track:
    rows.sort(key=lambda item: item[1].frame)
    shapes: list[TrackShape] = []
    previous: int | None = None
    for line, shape in rows:
        if previous is not None and shape.frame == previous:
            raise fail(file, f"track {track_id} has two rows on frame {shape.frame + 1}", line=line)
        if previous is not None and shape.frame > previous + 1:
            shapes.append(_outside(shapes[-1], previous + 1))
        shapes.append(
            TrackShape(
                frame=shape.frame,
                type="rectangle",
                points=shape.points,
                occluded=shape.occluded,
            )
        )
        previous = shape.frame
    if previous is not None and previous < last_frame:
        shapes.append(_outside(shapes[-1], previous + 1))
    first = rows[0][1]
    return Track(label=first.label, frame=first.frame, shapes=shapes)


def _outside(last: TrackShape, frame: int) -> TrackShape:
    return TrackShape(frame=frame, type=last.type, points=list(last.points), outside=True)


register(Format("MOT 1.1", "ZIP", "1.1", export, read, slug="mot"))
