"""Attribute values between the model (strings) and JSON formats (typed), for COCO and
Datumaro; and what the shapes of one import share to save memory: equal attribute dicts
(:class:`SharedAttributes`) and one empty list of elements (:data:`NO_ELEMENTS`).

An imported dataset is read, not changed (``apply`` copies what it needs), so sharing is safe;
code that wants to change an imported shape's attributes or elements must copy them first.
"""

from __future__ import annotations

from typing import Any

import orjson

from labelbay.datasets.model import LabelSpec, Shape

NO_ELEMENTS: list[Shape] = []
"""The elements of every imported shape that is not a skeleton (never appended to)."""


def typed_attributes(label: LabelSpec | None, attributes: dict[str, str]) -> dict[str, Any]:
    """Attribute values as JSON types by the attribute's input type."""
    found: dict[str, Any] = {}
    for name, value in attributes.items():
        spec = label.attribute(name) if label is not None else None
        kind = spec.input_type if spec is not None else "text"
        if kind == "checkbox":
            found[name] = value.strip().lower() == "true"
        elif kind == "number":
            try:
                number = float(value)
                found[name] = int(number) if number.is_integer() else number
            except ValueError:
                found[name] = value
        else:
            found[name] = value
    return found


def text_value(value: Any) -> str:
    """A JSON attribute value as the model's string."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, int):
        return str(value)
    return orjson.dumps(value).decode()


class SharedAttributes:
    """One dict per distinct set of attributes (names and short values interned): 100,000
    imported shapes usually carry a handful of different ones, and a dict each would cost
    about 15 MB."""

    def __init__(self) -> None:
        self._known: dict[tuple[tuple[str, str], ...], dict[str, str]] = {}
        self._strings: dict[str, str] = {}

    def __call__(self, attributes: dict[str, str]) -> dict[str, str]:
        key = tuple(attributes.items())
        found = self._known.get(key)
        if found is None:
            if len(self._known) >= 10_000:  # free text everywhere: stop remembering
                return attributes
            strings = self._strings
            found = {
                strings.setdefault(k, k): strings.setdefault(v, v) if len(v) <= 64 else v
                for k, v in attributes.items()
            }
            self._known[key] = found
        return found
