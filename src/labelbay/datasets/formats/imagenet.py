"""ImageNet 1.0: image tags as class folders.

With images: ``<class>/<frame path>`` (an image with several tags is in several folders, one
without tags in ``no_label/``). Without images: ``labels/<frame path without extension>.txt``
with the frame's class names, one a line. Every class has a folder entry (``<class>/``), so
the archive declares its labels even when a class is unused. Tags only.
"""

from __future__ import annotations

import posixpath
import zipfile
from pathlib import Path

from labelbay.datasets.formats._common_b import Input, fail, image_ext, path_stem, safe_path
from labelbay.datasets.formats.yolo import read_class_folders
from labelbay.datasets.model import DatasetSource, ImportedDataset
from labelbay.datasets.registry import Format, register


def export(source: DatasetSource, out: zipfile.ZipFile, *, save_images: bool) -> None:
    names = [label.name for label in source.labels]
    known = set(names)
    for name in names:
        out.writestr(zipfile.ZipInfo(f"{safe_path(name)}/"), b"")
    for frame, _shapes, tags in source.frame_annotations():
        labels = list(dict.fromkeys(t.label for t in tags if t.label in known))
        rel = path_stem(frame.name)
        found = source.image(frame) if save_images else None
        if found is not None:
            ext = posixpath.splitext(found[0])[1] or image_ext(frame)
            for label in labels or ["no_label"]:
                out.writestr(f"{safe_path(label)}/{rel}{ext}", found[1])
        else:
            out.writestr(f"labels/{rel}.txt", "".join(f"{x}\n" for x in labels))


def read(path: Path) -> ImportedDataset:
    with Input(path) as src:
        if not src.is_zip:
            raise fail(src.file, "an ImageNet dataset is a zip archive of class folders")
        return read_class_folders(src, "", [], labels_dir="labels/", subset_level=False)


register(Format("ImageNet 1.0", "ZIP", "1.0", export, read, slug="imagenet"))
