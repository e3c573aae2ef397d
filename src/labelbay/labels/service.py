"""Labels of projects and tasks, with attribute specs and skeleton sublabels."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from labelbay.errors import Conflict, Invalid, NotFound
from labelbay.labels.models import AttributeSpec, Label
from labelbay.labels.schemas import AttributeWrite, LabelWrite, SublabelWrite

PALETTE = (
    "#33ddff", "#fa3253", "#34d1b7", "#ff007c", "#ddff33", "#24b353", "#b83df5", "#66ff66",
    "#32b7fa", "#ffcc33", "#83e070", "#fafa37", "#5986b3", "#8c78f0", "#ff6a4d", "#f078f0",
    "#2a7dd1", "#b25050", "#cc3366", "#cc9933", "#aaf0d1", "#ff00cc", "#3df53d", "#fa32b7",
)  # fmt: skip
COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")


def _check_attribute(spec: AttributeWrite, where: str) -> None:
    if spec.input_type == "number":
        if len(spec.values) != 3:
            raise Invalid(f"{where}: a number attribute needs values [min, max, step]")
        try:
            low, high, step = (float(v) for v in spec.values)
        except ValueError as exc:
            raise Invalid(f"{where}: number values must be numbers") from exc
        if low > high or step <= 0:
            raise Invalid(f"{where}: number values need min <= max and step > 0")
    if spec.input_type in ("select", "radio") and not spec.values:
        raise Invalid(f"{where}: a {spec.input_type} attribute needs at least one value")
    if spec.input_type == "checkbox" and any(v not in ("true", "false") for v in spec.values):
        raise Invalid(f"{where}: checkbox values must be 'true' or 'false'")


def _default_value(spec: AttributeWrite) -> str:
    if spec.default_value is not None:
        return spec.default_value
    if spec.input_type == "checkbox":
        return spec.values[0] if spec.values else "false"
    if spec.input_type == "text":
        return spec.values[0] if spec.values else ""
    return spec.values[0] if spec.values else ""


def _add_attributes(
    session: Session, label: Label, specs: Sequence[AttributeWrite], where: str
) -> None:
    names: set[str] = set()
    for i, spec in enumerate(specs):
        at = f"{where}.attributes[{i}]"
        _check_attribute(spec, at)
        if spec.name in names:
            raise Invalid(f"{at}: duplicate attribute name {spec.name!r}")
        names.add(spec.name)
        session.add(
            AttributeSpec(
                label_id=label.id,
                name=spec.name,
                mutable=spec.mutable,
                input_type=spec.input_type,
                default_value=_default_value(spec),
                values=list(spec.values),
            )
        )


def _pick_color(used: set[str]) -> str:
    for color in PALETTE:
        if color not in used:
            return color
    return PALETTE[len(used) % len(PALETTE)]


def _owner_filter(project_id: int | None, task_id: int | None) -> Select[Label]:
    stmt = select(Label).where(Label.parent_id.is_(None))
    if project_id is not None:
        return stmt.where(Label.project_id == project_id)
    return stmt.where(Label.task_id == task_id)


def _new_label(
    session: Session,
    spec: LabelWrite | SublabelWrite,
    where: str,
    *,
    project_id: int | None,
    task_id: int | None,
    parent: Label | None,
    used_colors: set[str],
) -> Label:
    if spec.name is None:
        raise Invalid(f"{where}.name: this field is required")
    color = spec.color or _pick_color(used_colors)
    if not COLOR.match(color):
        raise Invalid(f"{where}.color: use #rrggbb, not {color!r}")
    used_colors.add(color.lower())
    kind = spec.type or ("points" if parent else "any")
    label = Label(
        project_id=project_id,
        task_id=task_id,
        parent_id=parent.id if parent else None,
        name=spec.name,
        color=color,
        type=kind,
        svg=(getattr(spec, "svg", None) or "") if kind == "skeleton" else "",
    )
    session.add(label)
    session.flush()  # attributes and sublabels need the id
    _add_attributes(session, label, spec.attributes, where)
    if isinstance(spec, LabelWrite):
        if spec.sublabels and kind != "skeleton":
            raise Invalid(f"{where}.sublabels: only skeleton labels have sublabels")
        if kind == "skeleton" and not spec.sublabels:
            raise Invalid(f"{where}.sublabels: a skeleton needs at least one point")
        seen: set[str] = set()
        for j, sub in enumerate(spec.sublabels):
            if sub.name in seen:
                raise Invalid(f"{where}.sublabels[{j}]: duplicate name {sub.name!r}")
            seen.add(sub.name)
            _new_label(
                session,
                sub,
                f"{where}.sublabels[{j}]",
                project_id=project_id,
                task_id=task_id,
                parent=label,
                used_colors=used_colors,
            )
    return label


def create_labels(
    session: Session,
    specs: Sequence[LabelWrite],
    *,
    project_id: int | None = None,
    task_id: int | None = None,
) -> None:
    """Adds labels; ``specs`` with ``id`` update or delete existing ones (PATCH semantics)."""
    existing = list(session.scalars(_owner_filter(project_id, task_id)))
    by_id = {label.id: label for label in existing}
    names = {label.name for label in existing}
    used = {label.color.lower() for label in existing}
    for i, spec in enumerate(specs):
        where = f"labels[{i}]"
        if spec.id is not None:
            label = by_id.get(spec.id)
            if label is None:
                raise Invalid(f"{where}.id: label {spec.id} is not a label here")
            if spec.deleted:
                names.discard(label.name)
                session.delete(label)
                continue
            update_label(session, label, spec, where=where, taken=names - {label.name})
            names.add(label.name)
            continue
        if spec.name in names:
            raise Conflict(f"{where}.name: a label named {spec.name!r} already exists")
        label = _new_label(
            session, spec, where, project_id=project_id, task_id=task_id, parent=None,
            used_colors=used,
        )  # fmt: skip
        names.add(label.name)
    session.flush()


def update_label(
    session: Session, label: Label, spec: LabelWrite, *, where: str, taken: set[str]
) -> None:
    if spec.name is not None and spec.name != label.name:
        if spec.name in taken:
            raise Conflict(f"{where}.name: a label named {spec.name!r} already exists")
        label.name = spec.name
    if spec.color is not None:
        if not COLOR.match(spec.color):
            raise Invalid(f"{where}.color: use #rrggbb, not {spec.color!r}")
        label.color = spec.color
    if spec.type is not None and spec.type != label.type:
        label.type = spec.type
    if spec.svg is not None and label.type == "skeleton":
        label.svg = spec.svg
    attrs = {a.id: a for a in session.scalars(select(AttributeSpec).where(
        AttributeSpec.label_id == label.id))}  # fmt: skip
    fresh: list[AttributeWrite] = []
    for k, attr in enumerate(spec.attributes):
        at = f"{where}.attributes[{k}]"
        if attr.id is None:
            fresh.append(attr)
            continue
        row = attrs.get(attr.id)
        if row is None:
            raise Invalid(f"{at}.id: attribute {attr.id} is not an attribute of this label")
        if attr.deleted:
            session.delete(row)
            continue
        _check_attribute(attr, at)
        row.name, row.mutable, row.input_type = attr.name, attr.mutable, attr.input_type
        row.values = list(attr.values)
        row.default_value = _default_value(attr)
    _add_attributes(session, label, fresh, where)
    if label.type == "skeleton" and spec.sublabels:
        subs = {s.name: s for s in session.scalars(select(Label).where(
            Label.parent_id == label.id))}  # fmt: skip
        used = {s.color.lower() for s in subs.values()}
        for j, sub in enumerate(spec.sublabels):
            if sub.id is None and sub.name not in subs:
                _new_label(
                    session, sub, f"{where}.sublabels[{j}]", project_id=label.project_id,
                    task_id=label.task_id, parent=label, used_colors=used,
                )  # fmt: skip


def get_label(session: Session, label_id: int) -> Label:
    label = session.get(Label, label_id)
    if label is None:
        raise NotFound("label", label_id)
    return label


def labels_of(session: Session, *, project_id: int | None, task_id: int | None) -> list[Label]:
    return list(session.scalars(_owner_filter(project_id, task_id).order_by(Label.id)))


def owner_query(*, project_id: int | None, task_id: int | None) -> Select[Label]:
    return _owner_filter(project_id, task_id)


def render_labels(session: Session, labels: Sequence[Label]) -> list[dict[str, Any]]:
    """Label responses with attributes and sublabels, in two queries however many labels."""
    if not labels:
        return []
    ids = [label.id for label in labels]
    subs = list(session.scalars(select(Label).where(Label.parent_id.in_(ids)).order_by(Label.id)))
    all_ids = ids + [s.id for s in subs]
    attrs: dict[int, list[dict[str, Any]]] = {}
    for a in session.scalars(
        select(AttributeSpec).where(AttributeSpec.label_id.in_(all_ids)).order_by(AttributeSpec.id)
    ):
        attrs.setdefault(a.label_id, []).append(
            {
                "id": a.id,
                "name": a.name,
                "mutable": a.mutable,
                "input_type": a.input_type,
                "default_value": a.default_value,
                "values": list(a.values),
            }
        )
    children: dict[int, list[dict[str, Any]]] = {}
    for s in subs:
        assert s.parent_id is not None
        children.setdefault(s.parent_id, []).append(
            {
                "id": s.id,
                "name": s.name,
                "color": s.color,
                "type": s.type,
                "attributes": attrs.get(s.id, []),
                "has_parent": True,
            }
        )
    out = []
    for label in labels:
        item: dict[str, Any] = {
            "id": label.id,
            "name": label.name,
            "color": label.color,
            "type": label.type,
            "attributes": attrs.get(label.id, []),
            "sublabels": children.get(label.id, []),
            "parent_id": label.parent_id,
            "has_parent": label.parent_id is not None,
        }
        if label.type == "skeleton":
            item["svg"] = label.svg
        if label.project_id is not None:
            item["project_id"] = label.project_id
        else:
            item["task_id"] = label.task_id
        out.append(item)
    return out


def label_index(
    session: Session, *, project_id: int | None, task_id: int | None
) -> dict[int, tuple[Label, set[int]]]:
    """Every label (sublabels too) with its attribute-spec ids, for validating annotations."""
    stmt = select(Label)
    stmt = (
        stmt.where(Label.project_id == project_id)
        if project_id is not None
        else stmt.where(Label.task_id == task_id)
    )
    labels = {label.id: (label, set[int]()) for label in session.scalars(stmt)}
    if labels:
        for spec_id, label_id in session.execute(
            select(AttributeSpec.id, AttributeSpec.label_id).where(
                AttributeSpec.label_id.in_(list(labels))
            )
        ):
            labels[label_id][1].add(spec_id)
    return labels
