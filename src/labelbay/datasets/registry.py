"""The formats Labelbay reads and writes: one small registry, one file per format family.

Each format is a pair of pure functions over :mod:`labelbay.datasets.model`: an exporter
``export(source, out_zip, *, save_images)`` and an importer ``read(path) -> ImportedDataset``.
``/api/server/annotation/formats`` lists exactly what is registered here.
"""

from __future__ import annotations

import inspect
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labelbay.datasets.model import DatasetSource, ImportedDataset
from labelbay.errors import Invalid

Exporter = Callable[[DatasetSource, zipfile.ZipFile], None]
Importer = Callable[[Path], ImportedDataset]


@dataclass(frozen=True, slots=True)
class Format:
    name: str
    """The display name clients send, as CVAT spells it: ``"COCO 1.0"``."""
    ext: str
    version: str
    exporter: Callable[..., None] | None = None
    importer: Importer | None = None
    dimension: str = "2D"
    aliases: tuple[str, ...] = ()
    """Other names clients use for the importer (``"CVAT XML 1.1"`` for ``"CVAT 1.1"``)."""
    slug: str = ""
    """For file names: ``coco``."""

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "ext": self.ext,
            "version": self.version,
            "enabled": True,
            "dimension": self.dimension,
        }


_exporters: dict[str, Format] = {}
_importers: dict[str, Format] = {}


def register(fmt: Format) -> Format:
    if fmt.exporter is not None:
        _exporters[fmt.name] = fmt
    if fmt.importer is not None:
        for name in (fmt.name, *fmt.aliases):
            _importers[name] = fmt
    return fmt


def exporter(name: str) -> Format:
    _load()
    found = _exporters.get(name)
    if found is None:
        raise Invalid(f"format: no exporter is called {name!r}", field="format")
    return found


def importer(name: str) -> Format:
    _load()
    found = _importers.get(name)
    if found is None:
        raise Invalid(f"format: no importer is called {name!r}", field="format")
    return found


def read(fmt: Format, path: Path, frame_sizes: Mapping[str, tuple[int, int]]) -> ImportedDataset:
    """Runs ``fmt``'s importer; formats with normalised coordinates (YOLO) also get the
    target's frame sizes by frame name (an importer asks for them with a ``frame_sizes``
    keyword)."""
    if fmt.importer is None:
        raise Invalid(f"format: {fmt.name} cannot be imported", field="format")
    if "frame_sizes" in inspect.signature(fmt.importer).parameters:
        return fmt.importer(path, frame_sizes=frame_sizes)  # type: ignore[call-arg]
    return fmt.importer(path)


def listing() -> dict[str, list[dict[str, Any]]]:
    """The body of ``GET /api/server/annotation/formats``."""
    _load()
    importers = {f.name: f for f in _importers.values()}
    return {
        "importers": [f.describe() for f in sorted(importers.values(), key=lambda f: f.name)],
        "exporters": [f.describe() for f in sorted(_exporters.values(), key=lambda f: f.name)],
    }


def _load() -> None:
    # Importing the format modules registers them (once).
    from labelbay.datasets import formats  # noqa: F401
