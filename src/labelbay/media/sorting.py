"""Ordering of a task's files into frames, following CVAT's `sorting_method` values."""

from __future__ import annotations

import posixpath
import random
from typing import Final

from natsort import natsorted, ns

from labelbay.errors import Invalid

SORTING_METHODS: Final[tuple[str, ...]] = ("lexicographical", "natural", "predefined", "random")


def sort_names(
    names: list[str],
    method: str,
    *,
    order: list[str] | None = None,
    seed: int | None = None,
) -> list[str]:
    """Return `names` (relative posix paths) in frame order for `method`.

    - "lexicographical": plain string order.
    - "natural": human order, path-aware ("img2" before "img10", folders first by folder).
    - "predefined": the order of `order`, whose entries are full relative names or base
      names; every name must match exactly one entry and every entry exactly one name.
    - "random": shuffled, reproducible for the same names and `seed`.

    Raises `Invalid` naming `sorting_method` or `upload_file_order` for bad input.
    """
    if method == "lexicographical":
        return sorted(names)
    if method == "natural":
        return natsorted(names, alg=ns.PATH)
    if method == "predefined":
        return _predefined(names, order)
    if method == "random":
        shuffled = sorted(names)  # the outcome must not depend on the input order
        random.Random(seed).shuffle(shuffled)
        return shuffled
    raise Invalid(
        f"sorting_method must be one of {', '.join(SORTING_METHODS)}, not {method!r}",
        field="sorting_method",
    )


def _predefined(names: list[str], order: list[str] | None) -> list[str]:
    order = order or []
    positions: dict[str, list[int]] = {}
    for index, entry in enumerate(order):
        key = posixpath.normpath(entry.strip().replace("\\", "/")).lstrip("/")
        positions.setdefault(key, []).append(index)

    owner: dict[int, str] = {}
    for name in names:
        found = positions.get(name)
        if found is None:
            found = positions.get(posixpath.basename(name))
        if found is None:
            raise _order_error(f"upload_file_order does not list {name}", name)
        if len(found) > 1:
            raise _order_error(f"upload_file_order lists {name} more than once", name)
        index = found[0]
        previous = owner.get(index)
        if previous is not None:
            raise _order_error(
                f"upload_file_order entry {order[index]!r} matches both {previous} and {name}; "
                "use full relative paths",
                name,
            )
        owner[index] = name

    if len(owner) != len(order):
        index = next(i for i in range(len(order)) if i not in owner)
        raise _order_error(
            f"upload_file_order lists {order[index]}, which is not among the uploaded files",
            order[index],
        )
    return [owner[index] for index in sorted(owner)]


def _order_error(message: str, file: str) -> Invalid:
    return Invalid(message, field="upload_file_order", file=file)
