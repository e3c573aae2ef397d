"""ImageNet 1.0: image tags as class folders (also the reader of Ultralytics classification).

With images: ``<class>/<frame path>`` (an image with several tags is in several folders, one
without tags in ``no_label/``). Without images: ``labels/<frame path without extension>.txt``
with the frame's class names, one a line. Every class has a folder entry (``<class>/``), so
the archive declares its labels even when a class is unused. Tags only.

Subsets: when every frame is in the subset ``default`` the layout is the plain one above
(CVAT's). Otherwise each subset gets a folder, as Datumaro's ``imagenet_with_subset_dirs``
lays it out: ``<subset>/<class>/<frame path>``, ``<subset>/no_label/...`` and, without
images, ``labels/<subset>/<frame path without extension>.txt``; every subset folder has an
entry for each class and for ``no_label/`` (even when empty). Reading, an archive has subset
folders when a top folder is named ``train``, ``val`` or ``test`` (Datumaro's convention; a
plain archive cannot use these as classes) or holds a ``no_label/`` folder (what Labelbay
writes); the same frame name in two subsets is two frames.
"""

from __future__ import annotations

import posixpath
import zipfile
from collections.abc import Callable
from pathlib import Path

from labelbay.datasets.formats.common import (
    IMAGE_EXTS,
    Input,
    fail,
    image_ext,
    label_specs,
    path_stem,
    safe_path,
    subset_dir,
)
from labelbay.datasets.model import DatasetSource, ImportedDataset, Tag, subset_runs
from labelbay.datasets.registry import Format, register

NO_LABEL = "no_label"
_SUBSET_FOLDERS = ("train", "val", "test")


def export(source: DatasetSource, out: zipfile.ZipFile, *, save_images: bool) -> None:
    names = [label.name for label in source.labels]
    subsets = list(dict.fromkeys(frame.subset for frame in source.frames))
    nested = any(subset != "default" for subset in subsets)
    classes = list(dict.fromkeys(safe_path(name) for name in names))
    if nested:
        folders = list(dict.fromkeys([*classes, NO_LABEL]))
        entries = [f"{s}/{f}/" for s in dict.fromkeys(map(subset_dir, subsets)) for f in folders]
    else:
        entries = [f"{folder}/" for folder in classes]
    for entry in entries:
        out.writestr(zipfile.ZipInfo(entry), b"")
    write_class_folders(
        source, out, save_images=save_images, no_label=NO_LABEL,
        base=lambda subset: f"{subset_dir(subset)}/" if nested else "",
    )  # fmt: skip


def write_class_folders(
    source: DatasetSource,
    out: zipfile.ZipFile,
    *,
    save_images: bool,
    base: Callable[[str], str],
    no_label: str | None,
) -> None:
    """With images, each frame's image in the folder of each of its classes,
    ``<base(subset)><class>/<frame path>``; a frame without classes in the ``no_label``
    folder. Otherwise (and for a frame without classes when there is no ``no_label``) its
    classes one a line in ``labels/<base(subset)><frame path without extension>.txt``."""
    known = {label.name for label in source.labels}
    for subset, run in subset_runs(source.frame_annotations(), lambda item: item[0]):
        prefix = base(subset)
        for frame, _shapes, tags in run:
            labels = list(dict.fromkeys(t.label for t in tags if t.label in known))
            folders = labels or ([no_label] if no_label else [])
            rel = path_stem(frame.name)
            found = source.image(frame) if save_images and folders else None
            if found is None:
                out.writestr(f"labels/{prefix}{rel}.txt", "".join(f"{x}\n" for x in labels))
                continue
            ext = posixpath.splitext(found[0])[1] or image_ext(frame)
            for folder in folders:
                out.writestr(f"{prefix}{safe_path(folder)}/{rel}{ext}", found[1])


def read(path: Path) -> ImportedDataset:
    with Input(path) as src:
        if not src.is_zip:
            raise fail(src.file, "an ImageNet dataset is a zip archive of class folders")
        nested = _has_subset_folders(src)
        return read_class_folders(src, "", [], labels_dir="labels/", subset_level=nested)


def _has_subset_folders(src: Input) -> bool:
    for path in [*src.dirs(), *src.names()]:
        parts = path.split("/")
        if parts[0] == "labels" or len(parts) < 2:
            continue
        if parts[0] in _SUBSET_FOLDERS or parts[1] == NO_LABEL:
            return True
    return False


def read_class_folders(
    src: Input, prefix: str, names: list[str], *, labels_dir: str, subset_level: bool
) -> ImportedDataset:
    """Tags from ``[<subset>/]<class>/<image>`` folders and ``<labels_dir>[<subset>/]<stem>
    .txt`` lists of class names (``names``, when given, are the only classes allowed).
    Frames are a subset (with ``subset_level``) and a name, in sorted order; with
    ``subset_level`` their subsets are recorded (``frame_subsets``)."""
    declared = list(names)
    strict = bool(names)
    frames: dict[tuple[str, str], list[str]] = {}
    depth = 1 if subset_level else 0
    for folder in src.dirs():
        if folder.startswith(prefix):
            parts = folder[len(prefix) :].split("/")
            if (
                len(parts) == depth + 1
                and parts[0] + "/" != labels_dir
                and parts[depth] not in declared
                and parts[depth] != NO_LABEL
            ):
                declared.append(parts[depth])
    for member in sorted(src.names()):
        if not member.startswith(prefix):
            continue
        rel = member[len(prefix) :]
        ext = posixpath.splitext(rel)[1].lower()
        if rel.startswith(labels_dir) and ext == ".txt":
            parts = rel[len(labels_dir) :].split("/", depth)
            if len(parts) <= depth:
                continue
            subset = parts[0] if subset_level else ""
            labels = frames.setdefault((subset, parts[-1][: -len(".txt")]), [])
            shown = src.shown(member)
            for line, text in src.lines(member):
                if strict and text not in names:
                    raise fail(shown, f"class {text!r} is unknown", line=line)
                if text not in declared:
                    declared.append(text)
                if text not in labels:
                    labels.append(text)
        elif ext in IMAGE_EXTS:
            parts = rel.split("/", depth + 1)
            if len(parts) <= depth + 1:
                continue
            subset = parts[0] if subset_level else ""
            label, name = parts[depth], parts[depth + 1]
            labels = frames.setdefault((subset, name), [])
            if label == NO_LABEL:
                continue
            if strict and label not in names:
                raise fail(src.shown(member), f"class folder {label!r} is unknown")
            if label not in declared:
                declared.append(label)
            if label not in labels:
                labels.append(label)
    data = ImportedDataset(labels=label_specs(declared))
    ordered = sorted(frames.items(), key=lambda item: (item[0][0], path_stem(item[0][1])))
    for number, ((subset, name), labels) in enumerate(ordered):
        data.frame_names[number] = name
        if subset_level:
            data.frame_subsets[number] = subset
        data.tags.extend(Tag(frame=number, label=label) for label in labels)
    return data


register(Format("ImageNet 1.0", "ZIP", "1.0", export, read, slug="imagenet"))
