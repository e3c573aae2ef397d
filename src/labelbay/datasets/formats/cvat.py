"""CVAT XML 1.1: the "CVAT for images 1.1" and "CVAT for video 1.1" exporters and the
"CVAT 1.1" importer (alias "CVAT XML 1.1"), which reads both layouts.

An export is ``annotations.xml`` at the root of the zip and, with ``save_images``, the frames'
original files under ``images/`` (``images/<subset>/`` when the frames span several subsets).
``<meta>`` lists the labels and every subset of the frames (``<subsets>``, one per line).

* images (:mod:`.cvat_images`): ``<image id name subset width height>`` per frame holding its
  shapes and tags; tracks become plain shapes on the frames where they are visible.
* video (:mod:`.cvat_video`): ``<track id label subset>`` with one shape per frame
  (``frame``, ``keyframe``, ``outside``); standalone shapes become short tracks.
* reading (:mod:`.cvat_read`): either layout, subsets into ``frame_subsets``.

Shared pieces are in :mod:`.cvat_xml`; track interpolation in :mod:`labelbay.datasets.tracks`.
"""

from __future__ import annotations

from labelbay.datasets.formats.cvat_images import export_images
from labelbay.datasets.formats.cvat_read import read
from labelbay.datasets.formats.cvat_video import export_video
from labelbay.datasets.registry import Format, register

register(
    Format(
        "CVAT for images 1.1",
        ext="ZIP",
        version="1.1",
        exporter=export_images,
        slug="cvat_for_images",
    )
)
register(
    Format(
        "CVAT for video 1.1",
        ext="ZIP",
        version="1.1",
        exporter=export_video,
        slug="cvat_for_video",
    )
)
register(
    Format(
        "CVAT 1.1",
        ext="XML, ZIP",
        version="1.1",
        importer=read,
        aliases=("CVAT XML 1.1",),
        slug="cvat",
    )
)
