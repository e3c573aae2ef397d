"""CVAT for images 1.1: one ``<image>`` per frame holding its shapes and tags.

Every ``<image id name subset width height>`` carries its frame's subset. Tracks are written
as plain shapes on every frame where they are visible (see :mod:`labelbay.datasets.tracks`
for the interpolation); they carry no track id.
"""

from __future__ import annotations

import zipfile

from labelbay.datasets.formats.cvat_xml import (
    XmlWriter,
    text_member,
    write_header,
    write_images,
    write_shape,
    write_tag,
    xml_attrs,
)
from labelbay.datasets.model import DatasetSource
from labelbay.datasets.tracks import frame_shapes


def export_images(source: DatasetSource, out: zipfile.ZipFile, *, save_images: bool) -> None:
    """CVAT for images 1.1: ``annotations.xml`` (and the frames' files under ``images/``)."""
    with text_member(out, "annotations.xml") as stream:
        w = XmlWriter(stream)
        write_header(w, source, "annotation")
        for frame, shapes, tags in frame_shapes(source):
            pairs = [
                ("id", str(frame.number)),
                ("name", frame.name),
                ("subset", frame.subset),
                ("width", str(frame.width)),
                ("height", str(frame.height)),
            ]
            w.line(1, f"<image{xml_attrs(pairs)}>")
            for shape in shapes:
                write_shape(w, 2, shape, ())
            for tag in tags:
                write_tag(w, 2, tag, ())
            w.line(1, "</image>")
        w.line(0, "</annotations>")
    if save_images:
        write_images(source, out)
