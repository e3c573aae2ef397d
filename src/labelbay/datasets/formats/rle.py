"""Run-length encoded masks, shared by COCO and Datumaro.

COCO counts run column-major over the whole image, starting with zeros; its compressed form
is a string of 6-bit groups (``encode_rle_string``). The model's mask shape is CVAT's: runs
row-major over the mask's box, starting with zeros, then ``[left, top, right, bottom]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from labelbay.datasets.formats.jsonread import JsonFields

MAX_MASK_PIXELS = 1 << 27
"""The largest image (in pixels) an imported RLE mask may cover: decoding holds one byte per
pixel of it."""


def check_mask_size(height: int, width: int) -> None:
    """Raises ``ValueError`` for a mask size that is negative or too large to decode."""
    if height <= 0 or width <= 0:
        raise ValueError(f"size {[height, width]} is not a positive [height, width]")
    if height * width > MAX_MASK_PIXELS:
        raise ValueError(f"size {[height, width]} is larger than {MAX_MASK_PIXELS} pixels")


def runs_of(data: bytes | bytearray) -> list[int]:
    """Lengths of alternating runs of 0 and 1 bytes, starting with zeros (maybe 0 long)."""
    counts: list[int] = []
    pos, size, looking_for = 0, len(data), b"\x01"
    while pos < size:
        nxt = data.find(looking_for, pos)
        if nxt < 0:
            nxt = size
        counts.append(nxt - pos)
        pos = nxt
        looking_for = b"\x00" if looking_for == b"\x01" else b"\x01"
    return counts


def fill_runs(counts: Sequence[int], size: int) -> bytearray:
    """``size`` bytes of alternating runs of 0 and 1 (starting with 0s), cut or padded with
    0s to fit; ``ValueError`` for a negative run."""
    data = bytearray(size)
    pos, value = 0, 0
    for count in counts:
        count = int(count)
        if count < 0:
            raise ValueError("negative run length")
        end = min(pos + count, size)
        if value and end > pos:
            data[pos:end] = b"\x01" * (end - pos)
        pos += count
        value ^= 1
    return data


def encode_rle_string(counts: Sequence[int]) -> str:
    """COCO's compressed RLE text form of ``counts``."""
    out: list[str] = []
    for i, count in enumerate(counts):
        x = int(count)
        if i > 2:
            x -= int(counts[i - 2])
        more = True
        while more:
            c = x & 0x1F
            x >>= 5
            more = (x != -1) if (c & 0x10) else (x != 0)
            if more:
                c |= 0x20
            out.append(chr(c + 48))
    return "".join(out)


def decode_rle_string(text: str) -> list[int]:
    """The counts of COCO's compressed RLE text form."""
    counts: list[int] = []
    pos, size = 0, len(text)
    while pos < size:
        x, shift, more = 0, 0, True
        c = 0
        while more:
            if pos >= size:
                raise ValueError("truncated RLE string")
            c = ord(text[pos]) - 48
            if c < 0 or c > 63:
                raise ValueError(f"unexpected character {text[pos]!r} in RLE string")
            x |= (c & 0x1F) << (5 * shift)
            more = bool(c & 0x20)
            pos += 1
            shift += 1
        if c & 0x10:
            x |= -1 << (5 * shift)
        if len(counts) > 2:
            x += counts[-2]
        counts.append(x)
    return counts


def mask_to_coco_counts(points: Sequence[float], width: int, height: int) -> list[int]:
    """A mask shape's points (row-major runs over its box + ``[l, t, r, b]``) as COCO counts
    (column-major over the whole ``width`` x ``height`` image)."""
    *runs, left_f, top_f, right_f, bottom_f = points
    left, top, right, bottom = int(left_f), int(top_f), int(right_f), int(bottom_f)
    box_w, box_h = right - left + 1, bottom - top + 1
    region = fill_runs([int(r) for r in runs], box_w * box_h)
    full = bytearray(width * height)
    y0, y1 = max(top, 0), min(bottom, height - 1)
    if y1 >= y0:
        for x in range(max(left, 0), min(right, width - 1) + 1):
            column = region[x - left :: box_w]  # rows top..bottom of column x
            full[x * height + y0 : x * height + y1 + 1] = column[y0 - top : y1 - top + 1]
    return runs_of(full)


def coco_counts_to_mask(counts: Sequence[int], width: int, height: int) -> list[float] | None:
    """COCO counts (column-major over the image) as a mask shape's points; ``None`` if empty."""
    full = fill_runs(counts, width * height)
    first = full.find(b"\x01")
    if first < 0:
        return None
    last = full.rfind(b"\x01")
    left, right = first // height, last // height
    top, bottom = height, -1
    for x in range(left, right + 1):
        column = full[x * height : (x + 1) * height]
        a = column.find(b"\x01")
        if a >= 0:
            top = min(top, a)
            bottom = max(bottom, column.rfind(b"\x01"))
    region = bytearray()
    for y in range(top, bottom + 1):
        region += full[left * height + y : right * height + y + 1 : height]
    return [*(float(r) for r in runs_of(region)), left, top, right, bottom]


# --------------------------------------------------------------------------------------------
# Geometry


def read_rle(f: JsonFields, rle: Any, where: str) -> list[float] | None:
    """A JSON RLE object ``{"counts": <string or list>, "size": [h, w]}`` (at ``where``) as a
    mask shape's points; ``None`` when the mask is empty."""
    counts_raw = f.get(rle, "counts", where, (str, list))
    size = f.numbers(f.get(rle, "size", where, list), f"{where}.size")
    if len(size) != 2:
        raise f.fail(f"{where}.size", "expected [height, width]")
    h, w = int(size[0]), int(size[1])
    try:
        check_mask_size(h, w)
        counts = (
            decode_rle_string(counts_raw)
            if isinstance(counts_raw, str)
            else [int(c) for c in f.numbers(counts_raw, f"{where}.counts")]
        )
        if sum(counts) > w * h:
            raise ValueError(f"the runs cover {sum(counts)} pixels, the image {w * h}")
        return coco_counts_to_mask(counts, w, h)
    except ValueError as error:
        raise f.fail(f"{where}.counts", str(error)) from None
