"""Mask shapes as polygons, for imports with ``conv_mask_to_poly`` (spec 8.3, 8.4).

A CVAT mask's points are run lengths over its box (row by row, starting with a run of 0s)
followed by the box ``[left, top, right, bottom]``, both ends included. Each connected region
of the mask (8-connected) becomes one polygon: its outer contour traced by OpenCV, simplified
by at most half a pixel. Holes are lost, as in CVAT. Vertices are the image coordinates of
the outline's pixels (what CVAT gives), except for a region too thin to have an outline of
three points (a single pixel, a one-pixel-wide straight line): that one becomes the rectangle
along its pixels' outer edges, so no region is dropped.

OpenCV (``opencv-python-headless``) is imported on first use: only imports that convert masks
pay for loading it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

EPSILON = 0.5
"""How far (pixels) a simplified outline may stray from the traced one."""


class MaskError(ValueError):
    """The points are not a mask (too few numbers, an inverted box, runs that do not fit)."""


def decode(points: list[float]) -> tuple[int, int, npt.NDArray[np.uint8]]:
    """``(left, top, bitmap)``: the mask's box as a ``height x width`` array of 0 and 1."""
    import numpy as np

    if len(points) < 5:
        raise MaskError("a mask needs run lengths and then [left, top, right, bottom]")
    left, top, right, bottom = (round(v) for v in points[-4:])
    width, height = right - left + 1, bottom - top + 1
    if width <= 0 or height <= 0:
        raise MaskError(f"the box [{left}, {top}, {right}, {bottom}] is inverted")
    runs = np.asarray([round(v) for v in points[:-4]], dtype=np.int64)
    if (runs < 0).any():
        raise MaskError("a run length is negative")
    total = int(runs.sum())
    if total > width * height:
        raise MaskError(f"the runs cover {total} pixels, the {width}x{height} box {width * height}")
    values = np.arange(len(runs), dtype=np.int64) % 2  # 0s first, then 1s, and so on
    bits = np.zeros(width * height, dtype=np.uint8)
    bits[:total] = np.repeat(values, runs).astype(np.uint8)
    return left, top, bits.reshape(height, width)


def polygons(points: list[float]) -> list[list[float]]:
    """The mask's regions as polygons (flat ``[x1, y1, x2, y2, ...]`` in image coordinates),
    largest region first; ``[]`` for an empty mask. Raises ``MaskError`` for bad points."""
    import cv2

    left, top, bitmap = decode(points)
    if not bitmap.any():
        return []
    found: Any = cv2.findContours(bitmap, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    contours = found[-2]  # (contours, hierarchy) in OpenCV 4 and 5
    out: list[tuple[float, list[float]]] = []
    for contour in contours:
        simple = cv2.approxPolyDP(contour, EPSILON, True)
        outline = simple if len(simple) >= 3 else contour
        if len(outline) >= 3:
            xy = outline.reshape(-1, 2)
            area = abs(float(cv2.contourArea(outline)))
        else:
            xy = _pixel_box(contour.reshape(-1, 2))
            area = 0.0
        flat = [float(v) for x, y in xy.tolist() for v in (x + left, y + top)]
        out.append((area, flat))
    out.sort(key=lambda item: -item[0])
    return [flat for _area, flat in out]


def _pixel_box(xy: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """The rectangle along the outer edges of the pixels of a thin region."""
    import numpy as np

    x0, y0 = xy.min(axis=0).tolist()
    x1, y1 = (xy.max(axis=0) + 1).tolist()
    return np.asarray([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])
