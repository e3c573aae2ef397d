"""COCO 1.0 and COCO Keypoints 1.0 importers (see :mod:`.coco` for the layout).

Each annotation file is streamed (:func:`.jsonread.read_sections`): ``categories`` and
``images`` are read whole, ``annotations`` one at a time, in any key order. Images are
numbered in file order, on from file to file, so frame numbers stay unique across the files
of an archive; each gets its ``file_name`` (``frame_names``) and its file's subset
(``frame_subsets``: ``annotations/instances_train.json`` is ``train``; a bare JSON upload is
``default``).

The shapes of one import share equal attribute dicts, one empty list of elements and one
string per label name (see :mod:`.jsonattrs`): the dataset is read, not changed.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import IO, Any

from labelbay.datasets.formats.common import Input
from labelbay.datasets.formats.jsonattrs import NO_ELEMENTS, SharedAttributes, text_value
from labelbay.datasets.formats.jsonread import ElementHandler, JsonFields, as_float, read_sections
from labelbay.datasets.formats.rle import read_rle
from labelbay.datasets.model import ImportedDataset, LabelSpec, Shape

_PREFIXES = ("instances_", "person_keypoints_")


def subset_of(member: str) -> str:
    """The subset a COCO annotation file is for: ``instances_<subset>.json`` or
    ``person_keypoints_<subset>.json``; ``default`` for any other name."""
    stem = PurePosixPath(member).stem
    for prefix in _PREFIXES:
        if stem.startswith(prefix) and len(stem) > len(prefix):
            return stem[len(prefix) :]
    return "default"


class _Reader:
    """Reads the annotation files of one upload into one :class:`ImportedDataset`."""

    def __init__(self) -> None:
        self.result = ImportedDataset()
        self.next_frame = 0
        self.next_group = 0
        self.shared = SharedAttributes()
        self.label_names: dict[str, str] = {}
        # The file being read:
        self.f = JsonFields("")
        self.subset = "default"
        self.categories: dict[int, tuple[str, list[str]]] = {}
        self.images: dict[int, int] = {}  # image id -> frame

    def read_file(self, name: str, stream: IO[bytes], subset: str) -> None:
        self.f, self.subset = JsonFields(name), subset
        self.categories, self.images = {}, {}
        read_sections(
            name, stream, small=("categories", "images"), big="annotations", start=self.start
        )
        self.f.note = ""

    def start(self, sections: dict[str, Any]) -> ElementHandler:
        self.read_categories(self.f.get(sections, "categories", "top level", list))
        self.read_images(self.f.get(sections, "images", "top level", list))
        return self.annotation

    def read_categories(self, categories: list[Any]) -> None:
        f, result = self.f, self.result
        for i, cat in enumerate(categories):
            where = f"categories[{i}]"
            cat_id = f.get(cat, "id", where, int)
            cat_name = self.label(f.get(cat, "name", where, str))
            kp = cat.get("keypoints") or []
            f.check(kp, f"{where}.keypoints", list)
            points = [self.label(str(k)) for k in kp]
            self.categories[cat_id] = (cat_name, points)
            if all(label.name != cat_name for label in result.labels):
                subs = tuple(LabelSpec(k, type="points") for k in points)
                result.labels.append(
                    LabelSpec(cat_name, type="skeleton" if kp else "any", sublabels=subs)
                )

    def read_images(self, images: list[Any]) -> None:
        f, result = self.f, self.result
        for i, image in enumerate(images):
            where = f"images[{i}]"
            image_id = f.get(image, "id", where, int)
            file_name = f.get(image, "file_name", where, str)
            for key in ("width", "height"):  # not needed, but must be numbers when given
                if key in image:
                    f.get(image, key, where, int)
            frame = self.next_frame
            self.next_frame += 1
            self.images[image_id] = frame
            result.frame_names[frame] = file_name
            result.frame_subsets[frame] = self.subset

    def label(self, name: str) -> str:
        """One string object per label name for the whole import."""
        return self.label_names.setdefault(name, name)

    def annotation(self, ann: Any, index: int) -> None:
        f = self.f
        where = f"annotations[{index}]"
        f.note = ""
        if isinstance(ann, dict) and isinstance(ann.get("id"), (int, str)):
            f.note = f" (annotation id {ann['id']})"
        image_id = f.get(ann, "image_id", where, int)
        if image_id not in self.images:
            raise f.fail(f"{where}.image_id", f"no image has id {image_id}")
        category_id = f.get(ann, "category_id", where, int)
        if category_id not in self.categories:
            raise f.fail(f"{where}.category_id", f"no category has id {category_id}")
        label, keypoint_names = self.categories[category_id]
        frame = self.images[image_id]
        attributes, occluded, rotation = self.attributes(ann.get("attributes"), where)
        shapes = self.result.shapes
        if "keypoints" in ann and keypoint_names:
            elements = self.keypoints(ann["keypoints"], keypoint_names, frame, where)
            shapes.append(
                Shape(
                    "skeleton",
                    frame,
                    label,
                    [],
                    occluded=occluded,
                    attributes=attributes,
                    source="file",
                    elements=elements,
                )
            )
            return
        segmentation = ann.get("segmentation")
        if isinstance(segmentation, dict):
            points = read_rle(f, segmentation, f"{where}.segmentation")
            if points is not None:
                shapes.append(
                    Shape(
                        "mask",
                        frame,
                        label,
                        points,
                        occluded=occluded,
                        attributes=attributes,
                        source="file",
                        elements=NO_ELEMENTS,
                    )
                )
        elif isinstance(segmentation, list) and segmentation:
            polygons = [
                f.numbers(poly, f"{where}.segmentation[{j}]") for j, poly in enumerate(segmentation)
            ]
            group = 0
            if len(polygons) > 1:
                self.next_group += 1
                group = self.next_group
            for j, poly in enumerate(polygons):
                if len(poly) < 6 or len(poly) % 2:
                    raise f.fail(
                        f"{where}.segmentation[{j}]", "a polygon needs at least 3 x,y pairs"
                    )
                shapes.append(
                    Shape(
                        "polygon",
                        frame,
                        label,
                        poly,
                        occluded=occluded,
                        attributes=attributes,
                        group=group,
                        source="file",
                        elements=NO_ELEMENTS,
                    )
                )
        else:
            bbox = f.numbers(f.get(ann, "bbox", where, list), f"{where}.bbox")
            if len(bbox) != 4:
                raise f.fail(f"{where}.bbox", "expected [x, y, width, height]")
            x, y, w, h = bbox
            shapes.append(
                Shape(
                    "rectangle",
                    frame,
                    label,
                    [x, y, as_float(x + w), as_float(y + h)],
                    rotation=rotation,
                    occluded=occluded,
                    attributes=attributes,
                    source="file",
                    elements=NO_ELEMENTS,
                )
            )

    def attributes(self, raw: Any, where: str) -> tuple[dict[str, str], bool, float]:
        if raw is None:
            return self.shared({}), False, 0.0
        self.f.check(raw, f"{where}.attributes", dict)
        attributes: dict[str, str] = {}
        occluded, rotation = False, 0.0
        for key, value in raw.items():
            if key == "occluded":
                occluded = bool(value)
            elif key == "rotation":
                rotation = self.f.check(value, f"{where}.attributes.rotation", (int, float))
            elif key not in ("track_id", "keyframe"):
                attributes[key] = text_value(value)
        return self.shared(attributes), occluded, rotation

    def keypoints(self, raw: Any, names: list[str], frame: int, where: str) -> list[Shape]:
        values = self.f.numbers(raw, f"{where}.keypoints")
        if len(values) != 3 * len(names):
            raise self.f.fail(
                f"{where}.keypoints", f"expected {3 * len(names)} numbers (x, y, v per keypoint)"
            )
        return [
            Shape(
                "points",
                frame,
                name,
                [values[3 * k], values[3 * k + 1]],
                occluded=values[3 * k + 2] == 1,
                outside=values[3 * k + 2] == 0,
                attributes=self.shared({}),
                source="file",
                elements=NO_ELEMENTS,
            )
            for k, name in enumerate(names)
        ]


def _read(path: Path, keypoints: bool) -> ImportedDataset:
    def wanted(name: str) -> bool:
        if not name.lower().endswith(".json"):
            return False
        base = PurePosixPath(name).name
        if keypoints:
            return base.startswith("person_keypoints_") or "annotations/" not in name
        return not base.startswith("person_keypoints_")

    reader = _Reader()
    with Input(path) as src:
        for name in src.members(wanted, "COCO annotation JSON"):
            with src.open(name) as stream:
                subset = subset_of(name) if src.is_zip else "default"
                reader.read_file(src.shown(name), stream, subset)
    return reader.result


def read_instances(path: Path) -> ImportedDataset:
    """COCO 1.0: a bare ``.json`` or a zip with ``annotations/instances_<subset>.json``."""
    return _read(path, False)


def read_keypoints(path: Path) -> ImportedDataset:
    """COCO Keypoints 1.0: a bare ``.json`` or a zip with
    ``annotations/person_keypoints_<subset>.json``."""
    return _read(path, True)
