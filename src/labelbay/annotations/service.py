"""Annotations of a task or of a job's frames: read, replace, create, update, delete.

Storage: one ``annotations`` row per tag, shape or track (``kind``); skeleton elements and the
element tracks of skeleton tracks are rows whose ``parent_id`` is their skeleton; the keyframes of
every track (element tracks too) are ``tracked_shapes`` rows. A read is two queries whatever the
size, assembled in Python; a write is one bulk insert per level (objects, elements, keyframes),
and a delete three statements. ``points`` and ``attributes`` go through orjson, not the JSON
column type's per-value json module: 100k shapes are read or written in about a second.

A job sees the tags and shapes on its frames and the tracks that start on them.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import chain
from operator import itemgetter
from typing import Any, Final, cast

import psycopg
from orjson import dumps, loads
from psycopg import sql
from sqlalchemy import (
    JSON,
    Column,
    ColumnElement,
    FromClause,
    MetaData,
    Table,
    Text,
    and_,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy import cast as cast_
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeDecorator

from labelbay.annotations.errors import AnnotationInvalid, AnnotationNotFound, UnknownAction
from labelbay.annotations.models import Annotation, TrackedShape
from labelbay.annotations.schemas import (
    AnnotationBase,
    AttributeValue,
    GeometryBase,
    LabeledDataWrite,
    ShapeWrite,
    SubShapeWrite,
    SubTrackWrite,
    TrackedShapeWrite,
    TrackWrite,
)
from labelbay.db import later_than
from labelbay.jobs.models import Job
from labelbay.labels import service as labels_service
from labelbay.media.models import TaskData
from labelbay.tasks import service as tasks_service
from labelbay.tasks.models import Task

log = logging.getLogger(__name__)

ANNOTATIONS: Final = cast(Table, Annotation.__table__)
KEYFRAMES: Final = cast(Table, TrackedShape.__table__)
JSON_COLUMNS: Final = ("points", "attributes")


class _SerializedJSON(TypeDecorator[str]):
    """A JSON column written as text that orjson already produced (the column's own processing
    runs the standard json module per value, too slow for 100k shapes)."""

    impl = JSON
    cache_ok = True

    def bind_processor(self, dialect: Dialect) -> None:
        return None


def _writable(table: Table) -> Table:
    """``table`` with its JSON columns taking serialized text, for bulk writes."""
    columns = [
        Column(c.name, _SerializedJSON() if c.name in JSON_COLUMNS else c.type,
               primary_key=c.primary_key)
        for c in table.columns
    ]  # fmt: skip
    return Table(table.name, MetaData(), *columns)


WRITE_ANNOTATIONS: Final = _writable(ANNOTATIONS)
WRITE_KEYFRAMES: Final = _writable(KEYFRAMES)
_CHUNK: Final = 500  # ids per IN (...) list

FrameRange = tuple[int, int]
Row = Sequence[Any]
# Column order of the rows that are read and rendered.
OBJECT_COLUMNS: Final = (
    "id", "parent_id", "kind", "frame", "label_id", "group", "source", "type", "occluded",
    "outside", "z_order", "rotation", "score", "points", "attributes",
)  # fmt: skip
KEYFRAME_COLUMNS: Final = (
    "id", "track_id", "frame", "type", "occluded", "outside", "z_order", "rotation", "points",
    "attributes",
)  # fmt: skip
# Selects top-level objects: given the annotations table (or an alias), a condition on it.
Where = Callable[[FromClause], ColumnElement[bool]]

_POINTS: Final[dict[str, tuple[Callable[[int], bool], str]]] = {
    "rectangle": (lambda n: n == 4, "4 numbers [x1, y1, x2, y2]"),
    "ellipse": (lambda n: n == 4, "4 numbers [cx, cy, cx+rx, cy-ry]"),
    "polygon": (lambda n: n >= 6 and n % 2 == 0, "an even count of at least 6 numbers"),
    "polyline": (lambda n: n >= 4 and n % 2 == 0, "an even count of at least 4 numbers"),
    "points": (lambda n: n >= 2 and n % 2 == 0, "an even count of at least 2 numbers"),
    "cuboid": (lambda n: n == 16, "16 numbers"),
    "mask": (lambda n: n >= 5, "run lengths and then [left, top, right, bottom]"),
    "skeleton": (lambda n: n == 0, "no points (they are its elements')"),
}


# Scope -------------------------------------------------------------------------------------


def job_frames(job: Job) -> FrameRange:
    return job.start_frame, job.stop_frame


def task_of_job(session: Session, job: Job) -> Task:
    return session.get_one(Task, job.task_id)


def _scope(frame_range: FrameRange | None, job: Job | None) -> FrameRange | None:
    if frame_range is not None:
        return frame_range
    return job_frames(job) if job is not None else None


def _in_range(scope: FrameRange | None) -> Where | None:
    if scope is None:
        return None
    low, high = scope
    return lambda t: t.c.frame.between(low, high)


def _with_ids(ids: Sequence[int], scope: FrameRange | None) -> Where:
    def where(t: FromClause) -> ColumnElement[bool]:
        cond = t.c.id.in_(ids)
        return cond if scope is None else and_(cond, t.c.frame.between(*scope))

    return where


def _objects(t: FromClause, task_id: int, where: Where | None) -> ColumnElement[bool]:
    """Rows of ``t`` that are selected top-level objects or elements of one."""
    if where is None:
        return t.c.task_id == task_id
    top = ANNOTATIONS.alias("top")
    tops = select(top.c.id).where(top.c.task_id == task_id, top.c.parent_id.is_(None), where(top))
    return and_(
        t.c.task_id == task_id,
        or_(and_(t.c.parent_id.is_(None), where(t)), t.c.parent_id.in_(tops)),
    )


def _chunks(ids: Sequence[int]) -> Iterator[Sequence[int]]:
    for start in range(0, len(ids), _CHUNK):
        yield ids[start : start + _CHUNK]


# Validation --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Label:
    """What validation needs of a label (plain attributes: ORM ones are slow per shape)."""

    id: int
    parent_id: int | None
    type: str
    specs: frozenset[int]


@dataclass(slots=True)
class _Checker:
    """Checks a payload against a task's labels and frames; errors name the field."""

    labels: dict[int, _Label]
    size: int
    scope: FrameRange | None

    def frame(self, frame: int, path: str, *, scoped: bool = True) -> None:
        if frame >= self.size:
            if self.size == 0:
                raise AnnotationInvalid(path, "the task has no frames yet")
            raise AnnotationInvalid(
                path, f"frame {frame} is outside the task's frames 0-{self.size - 1}"
            )
        if scoped and self.scope is not None and not self.scope[0] <= frame <= self.scope[1]:
            low, high = self.scope
            raise AnnotationInvalid(path, f"frame {frame} is outside the job's frames {low}-{high}")

    def label(self, label_id: int, path: str, parent: _Label | None) -> _Label:
        label = self.labels.get(label_id)
        if label is None:
            raise AnnotationInvalid(path, f"label {label_id} is not a label of this task")
        if parent is None and label.parent_id is not None:
            raise AnnotationInvalid(
                path, f"label {label_id} is a skeleton point; use it in a skeleton's elements"
            )
        if parent is not None and label.parent_id != parent.id:
            raise AnnotationInvalid(
                path, f"label {label_id} is not a point of skeleton label {parent.id}"
            )
        return label

    def attributes(self, values: list[AttributeValue], label: _Label, path: str) -> None:
        seen: set[int] = set()
        for i, value in enumerate(values):
            if value.spec_id not in label.specs:
                raise AnnotationInvalid(
                    f"{path}.attributes[{i}].spec_id",
                    f"attribute {value.spec_id} is not an attribute of label {label.id}",
                )
            if value.spec_id in seen:
                raise AnnotationInvalid(
                    f"{path}.attributes[{i}].spec_id", f"attribute {value.spec_id} is repeated"
                )
            seen.add(value.spec_id)

    def common(
        self, obj: AnnotationBase, path: str, *, frame: int, parent: _Label | None = None
    ) -> _Label:
        self.frame(frame, f"{path}.frame", scoped=parent is None)
        label = self.label(obj.label_id, f"{path}.label_id", parent)
        self.attributes(obj.attributes, label, path)
        return label

    def geometry(self, shape: GeometryBase, label: _Label, path: str, *, element: bool) -> None:
        if element:
            if shape.type != "points":
                raise AnnotationInvalid(f"{path}.type", "skeleton elements are points")
        elif label.type == "skeleton" and shape.type != "skeleton":
            raise AnnotationInvalid(
                f"{path}.type", f"label {label.id} is a skeleton label; its shapes are skeletons"
            )
        elif label.type != "skeleton" and shape.type == "skeleton":
            raise AnnotationInvalid(f"{path}.type", f"label {label.id} is not a skeleton label")
        points = shape.points
        fits, needs = _POINTS[shape.type]
        if not fits(len(points)):
            raise AnnotationInvalid(
                f"{path}.points", f"a {shape.type} needs {needs}, not {len(points)} numbers"
            )
        if not all(map(math.isfinite, points)):
            raise AnnotationInvalid(f"{path}.points", "numbers must be finite")
        if shape.type == "mask" and (points[-4] > points[-2] or points[-3] > points[-1]):
            raise AnnotationInvalid(
                f"{path}.points", "the mask's box [left, top, right, bottom] is inverted"
            )

    def shape(self, shape: ShapeWrite, path: str) -> None:
        label = self.common(shape, path, frame=shape.frame)
        self.geometry(shape, label, path, element=False)
        if shape.type != "skeleton":
            if shape.elements:
                raise AnnotationInvalid(f"{path}.elements", "only skeletons have elements")
            return
        if not shape.elements:
            raise AnnotationInvalid(f"{path}.elements", "a skeleton needs at least one element")
        seen: set[int] = set()
        for j, element in enumerate(shape.elements):
            at = f"{path}.elements[{j}]"
            if element.frame is not None and element.frame != shape.frame:
                raise AnnotationInvalid(
                    f"{at}.frame", f"elements are on their skeleton's frame {shape.frame}"
                )
            self.element_label(element, seen, at)
            sublabel = self.common(element, at, frame=shape.frame, parent=label)
            self.geometry(element, sublabel, at, element=True)

    def element_label(self, element: AnnotationBase, seen: set[int], path: str) -> None:
        if element.label_id in seen:
            raise AnnotationInvalid(
                f"{path}.label_id", f"label {element.label_id} appears twice in this skeleton"
            )
        seen.add(element.label_id)

    def track(self, track: TrackWrite, path: str) -> None:
        label = self.common(track, path, frame=track.frame)
        self.keyframes(track.shapes, label, f"{path}.shapes", element=False)
        if label.type != "skeleton":
            if track.elements:
                raise AnnotationInvalid(f"{path}.elements", "only skeleton tracks have elements")
            return
        if not track.elements:
            raise AnnotationInvalid(f"{path}.elements", "a skeleton track needs elements")
        seen: set[int] = set()
        for j, element in enumerate(track.elements):
            at = f"{path}.elements[{j}]"
            self.element_label(element, seen, at)
            frame = track.frame if element.frame is None else element.frame
            sublabel = self.common(element, at, frame=frame, parent=label)
            self.keyframes(element.shapes, sublabel, f"{at}.shapes", element=True)

    def keyframes(
        self, shapes: list[TrackedShapeWrite], label: _Label, path: str, *, element: bool
    ) -> None:
        if not shapes:
            raise AnnotationInvalid(path, "a track needs at least one shape")
        frames: set[int] = set()
        for k, shape in enumerate(shapes):
            at = f"{path}[{k}]"
            self.frame(shape.frame, f"{at}.frame", scoped=False)
            if shape.frame in frames:
                raise AnnotationInvalid(f"{at}.frame", f"the track has two shapes on {shape.frame}")
            frames.add(shape.frame)
            if shape.type != shapes[0].type:
                raise AnnotationInvalid(
                    f"{at}.type", f"a track keeps one type ({shapes[0].type}), not {shape.type}"
                )
            self.geometry(shape, label, at, element=element)
            self.attributes(shape.attributes, label, at)

    def check(self, data: LabeledDataWrite) -> None:
        for i, tag in enumerate(data.tags):
            self.common(tag, f"tags[{i}]", frame=tag.frame)
        for i, shape in enumerate(data.shapes):
            self.shape(shape, f"shapes[{i}]")
        for i, track in enumerate(data.tracks):
            self.track(track, f"tracks[{i}]")


def _checker(session: Session, task: Task, scope: FrameRange | None) -> _Checker:
    index = labels_service.label_index(session, project_id=task.project_id, task_id=task.id)
    labels = {
        label_id: _Label(label.id, label.parent_id, label.type, frozenset(specs))
        for label_id, (label, specs) in index.items()
    }
    size = 0
    if task.data_id is not None:
        size = session.scalar(select(TaskData.size).where(TaskData.id == task.data_id)) or 0
    return _Checker(labels=labels, size=size, scope=scope)


def _listed(data: LabeledDataWrite) -> Iterator[tuple[str, str, AnnotationBase]]:
    """(kind, path, object) for every top-level object of a payload."""
    for kind, objects in (("tag", data.tags), ("shape", data.shapes), ("track", data.tracks)):
        for i, obj in enumerate(objects):
            yield kind, f"{kind}s[{i}]", obj


def _ids(data: LabeledDataWrite, verb: str) -> dict[int, tuple[str, str]]:
    """{id: (kind, path)} of a payload whose objects must all carry an id."""
    found: dict[int, tuple[str, str]] = {}
    for kind, path, obj in _listed(data):
        if obj.id is None:
            raise AnnotationInvalid(f"{path}.id", f"an id is needed to {verb} a {kind}")
        if obj.id in found:
            raise AnnotationInvalid(f"{path}.id", f"{kind} {obj.id} is listed twice")
        found[obj.id] = (kind, path)
    return found


# Rows --------------------------------------------------------------------------------------


def _attributes(values: list[AttributeValue]) -> list[dict[str, Any]]:
    return [{"spec_id": v.spec_id, "value": v.value} for v in values]


def _row(
    task_id: int, kind: str, obj: AnnotationBase, *, frame: int, parent_id: int | None = None
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "task_id": task_id,
        "parent_id": parent_id,
        "kind": kind,
        "frame": frame,
        "label_id": obj.label_id,
        "group": obj.group or 0,
        "source": obj.source,
        "attributes": _attributes(obj.attributes),
        "type": None,
        "occluded": False,
        "outside": False,
        "z_order": 0,
        "rotation": 0.0,
        "score": None,
        "points": [],
    }
    if kind == "shape":
        shape = cast(ShapeWrite | SubShapeWrite, obj)
        row["type"] = shape.type
        row["occluded"] = shape.occluded
        row["outside"] = shape.outside
        row["z_order"] = shape.z_order
        row["rotation"] = shape.rotation
        row["score"] = shape.score
        row["points"] = shape.points
    return row


def _keyframe_row(track_id: int, shape: TrackedShapeWrite) -> dict[str, Any]:
    return {
        "track_id": track_id,
        "frame": shape.frame,
        "type": shape.type,
        "occluded": shape.occluded,
        "outside": shape.outside,
        "z_order": shape.z_order,
        "rotation": shape.rotation,
        "points": shape.points,
        "attributes": _attributes(shape.attributes),
    }


def _serialized(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows with their JSON columns as text, for ``_writable`` tables."""
    return [
        {**row, "points": dumps(row["points"]).decode(),
         "attributes": dumps(row["attributes"]).decode()}
        for row in rows
    ]  # fmt: skip


def _new_ids(session: Session, table: Table, count: int) -> Sequence[int] | None:
    """``count`` fresh ids for ``table``, ascending, or None where the database cannot say.

    Rows then go in with plain executemany: SQLite cannot return the ids of a batch in order
    (SQLAlchemy would insert row by row), and on PostgreSQL the batched INSERT ... RETURNING
    statements are huge and slow to prepare."""
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        # The transaction holds SQLite's only write lock (BEGIN IMMEDIATE), so numbering on
        # from the highest id ever used (AUTOINCREMENT keeps it in sqlite_sequence; explicit
        # ids advance it) is what SQLite itself does, and the primary key would refuse a clash.
        last = session.scalar(select(func.max(table.c.id))) or 0
        if session.scalar(text("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'")):
            used = text("SELECT seq FROM sqlite_sequence WHERE name = :name")
            last = max(last, session.scalar(used, {"name": table.name}) or 0)
        return range(last + 1, last + count + 1)
    if dialect == "postgresql":
        allocate = text(
            "SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :n)"
        )
        return sorted(session.scalars(allocate, {"table": table.name, "n": count}))
    return None


def _insert(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    """Inserts ``rows`` (``table`` is a ``_writable`` one) in bulk and stores each new id in
    its row: COPY on PostgreSQL, the driver's executemany on SQLite (SQLAlchemy's own
    executemany spends longer preparing parameters than SQLite spends writing them)."""
    if not rows:
        return
    ids = _new_ids(session, table, len(rows))
    if ids is None:
        stmt = insert(table).returning(table.c.id, sort_by_parameter_order=True)
        ids = session.execute(stmt, _serialized(rows)).scalars().all()
        for row, new_id in zip(rows, ids, strict=True):
            row["id"] = new_id
        return
    for row, new_id in zip(rows, ids, strict=True):
        row["id"] = new_id
    names = [name for name in rows[0] if name not in JSON_COLUMNS]
    plain = itemgetter(*names)
    values = [
        (*plain(row), dumps(row["points"]).decode(), dumps(row["attributes"]).decode())
        for row in rows
    ]
    names += JSON_COLUMNS
    dialect = session.get_bind().dialect
    if dialect.name == "postgresql":
        _copy(session, table.name, names, values)
        return
    quote = dialect.identifier_preparer.quote
    statement = (
        f"INSERT INTO {quote(table.name)} ({', '.join(map(quote, names))}) "
        f"VALUES ({', '.join('?' for _ in names)})"
    )
    session.connection().exec_driver_sql(statement, values)


def _copy(session: Session, table: str, names: list[str], values: list[tuple[Any, ...]]) -> None:
    """PostgreSQL's COPY: a quarter of the time of an executemany of INSERTs."""
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, names))
    )
    dbapi = cast(psycopg.Connection[Any], session.connection().connection.dbapi_connection)
    with dbapi.cursor() as cursor, cursor.copy(statement) as copy:
        for row in values:
            copy.write_row(row)


def _group(rows: Iterable[Row]) -> dict[int, list[Row]]:
    """Rows by their second column (an element's parent, a keyframe's track)."""
    grouped: dict[int, list[Row]] = {}
    for row in rows:
        grouped.setdefault(row[1], []).append(row)
    return grouped


@dataclass(slots=True)
class _Objects:
    """Rows (``OBJECT_COLUMNS``/``KEYFRAME_COLUMNS`` tuples) to render: top-level objects in
    response order, elements by parent id, keyframes by track id."""

    tops: list[Row]
    elements: dict[int, list[Row]]
    keyframes: dict[int, list[Row]]


def _insert_parts(
    session: Session, task_id: int, parents: Sequence[tuple[dict[str, Any], AnnotationBase]]
) -> _Objects:
    """Inserts the elements and keyframes of saved top-level objects."""
    element_rows: list[dict[str, Any]] = []
    elements: list[AnnotationBase] = []
    for row, obj in parents:
        if row["kind"] == "shape":
            for shape in cast(ShapeWrite, obj).elements:
                element_rows.append(
                    _row(task_id, "shape", shape, frame=row["frame"], parent_id=row["id"])
                )
                elements.append(shape)
        elif row["kind"] == "track":
            for sub in cast(TrackWrite, obj).elements:
                frame = row["frame"] if sub.frame is None else sub.frame
                element_rows.append(_row(task_id, "track", sub, frame=frame, parent_id=row["id"]))
                elements.append(sub)
    _insert(session, WRITE_ANNOTATIONS, element_rows)
    keyframes = [
        _keyframe_row(row["id"], shape)
        for row, obj in chain(parents, zip(element_rows, elements, strict=True))
        if row["kind"] == "track"
        for shape in cast(TrackWrite | SubTrackWrite, obj).shapes
    ]
    _insert(session, WRITE_KEYFRAMES, keyframes)
    as_object = itemgetter(*OBJECT_COLUMNS)
    return _Objects(
        tops=[as_object(row) for row, _obj in parents],
        elements=_group(map(as_object, element_rows)),
        keyframes=_group(map(itemgetter(*KEYFRAME_COLUMNS), keyframes)),
    )


def _top_rows(task_id: int, data: LabeledDataWrite) -> list[tuple[dict[str, Any], AnnotationBase]]:
    return [(_row(task_id, kind, obj, frame=obj.frame), obj) for kind, _path, obj in _listed(data)]


def _insert_objects(session: Session, task_id: int, data: LabeledDataWrite) -> _Objects:
    pairs = _top_rows(task_id, data)
    _insert(session, WRITE_ANNOTATIONS, [row for row, _obj in pairs])
    return _insert_parts(session, task_id, pairs)


def _read_columns(table: Table, names: Sequence[str]) -> list[ColumnElement[Any]]:
    """The columns, JSON ones as their text (parsed by orjson, much faster than the column's
    own processing with the json module)."""
    return [cast_(table.c[name], Text) if name in JSON_COLUMNS else table.c[name] for name in names]


def _parsed(rows: Iterable[Row]) -> Iterator[Row]:
    """Rows whose last two columns (points, attributes) are JSON text, with them parsed."""
    for row in rows:
        *head, points, attributes = row
        yield (*head, loads(points), loads(attributes))


def _load(session: Session, task_id: int, where: Where | None) -> _Objects:
    """Two queries: the selected objects with their elements, then their keyframes."""
    cond = _objects(ANNOTATIONS, task_id, where)
    rows = session.execute(
        select(*_read_columns(ANNOTATIONS, OBJECT_COLUMNS)).where(cond).order_by(ANNOTATIONS.c.id)
    )
    keyframes = session.execute(
        select(*_read_columns(KEYFRAMES, KEYFRAME_COLUMNS))
        .join(ANNOTATIONS, ANNOTATIONS.c.id == KEYFRAMES.c.track_id)
        .where(cond)
        .order_by(KEYFRAMES.c.id)
    )
    tops: list[Row] = []
    elements: dict[int, list[Row]] = {}
    for row in _parsed(rows.all()):
        if row[1] is None:
            tops.append(row)
        else:
            elements.setdefault(row[1], []).append(row)
    return _Objects(tops, elements, _group(_parsed(keyframes.all())))


def _purge(session: Session, task_id: int, where: Where | None, *, keep_tops: bool = False) -> None:
    """Deletes the selected top-level objects (all when ``where`` is None) with their elements
    and keyframes, in three statements; ``keep_tops`` keeps the objects' own rows."""
    objects = ANNOTATIONS.alias("objects")
    session.execute(
        delete(KEYFRAMES).where(
            KEYFRAMES.c.track_id.in_(select(objects.c.id).where(_objects(objects, task_id, where)))
        )
    )
    if where is None:
        children = and_(ANNOTATIONS.c.task_id == task_id, ANNOTATIONS.c.parent_id.is_not(None))
    else:
        # By parent alone: with task_id too, PostgreSQL may AND the task's whole index into
        # every probe (seen: 40 s for 25k objects when statistics lag a bulk insert).
        top = ANNOTATIONS.alias("top")
        tops = select(top.c.id).where(
            top.c.task_id == task_id, top.c.parent_id.is_(None), where(top)
        )
        children = ANNOTATIONS.c.parent_id.in_(tops)
    session.execute(delete(ANNOTATIONS).where(children))
    if not keep_tops:
        tops_cond = and_(ANNOTATIONS.c.task_id == task_id, ANNOTATIONS.c.parent_id.is_(None))
        if where is not None:
            tops_cond = and_(tops_cond, where(ANNOTATIONS))
        session.execute(delete(ANNOTATIONS).where(tops_cond))


# Rendering (rows are OBJECT_COLUMNS / KEYFRAME_COLUMNS tuples) -------------------------------


def _common(row: Row) -> dict[str, Any]:
    object_id, _parent, _kind, frame, label_id, group, source, *_rest, attributes = row
    return {
        "id": object_id,
        "frame": frame,
        "label_id": label_id,
        "group": group or 0,
        "source": source or "manual",
        "attributes": attributes,
    }


def _shape(row: Row, elements: Sequence[Row] | None) -> dict[str, Any]:
    (object_id, _parent, _kind, frame, label_id, group, source, shape_type, occluded, outside,
     z_order, rotation, score, points, attributes) = row  # fmt: skip
    out = {
        "id": object_id,
        "frame": frame,
        "label_id": label_id,
        "group": group or 0,
        "source": source or "manual",
        "attributes": attributes,
        "type": shape_type,
        "occluded": occluded,
        "outside": outside,
        "z_order": z_order,
        "rotation": rotation,
        "points": points,
    }
    if score is not None:
        out["score"] = score
    if elements is not None:
        out["elements"] = [_shape(element, None) for element in elements]
    return out


def _keyframe(row: Row) -> dict[str, Any]:
    (keyframe_id, _track, frame, shape_type, occluded, outside, z_order, rotation, points,
     attributes) = row  # fmt: skip
    return {
        "id": keyframe_id,
        "type": shape_type,
        "frame": frame,
        "occluded": occluded,
        "outside": outside,
        "z_order": z_order,
        "rotation": rotation,
        "points": points,
        "attributes": attributes,
    }


def _track(row: Row, objects: _Objects, *, element: bool) -> dict[str, Any]:
    out = _common(row)
    out["shapes"] = [_keyframe(k) for k in objects.keyframes.get(row[0], ())]
    if not element:
        out["elements"] = [
            _track(sub, objects, element=True) for sub in objects.elements.get(row[0], ())
        ]
    return out


def _render(objects: _Objects, version: int) -> dict[str, Any]:
    tags: list[dict[str, Any]] = []
    shapes: list[dict[str, Any]] = []
    tracks: list[dict[str, Any]] = []
    no_elements: list[Row] = []
    for row in objects.tops:
        kind = row[2]
        if kind == "shape":
            shapes.append(_shape(row, objects.elements.get(row[0], no_elements)))
        elif kind == "tag":
            tags.append(_common(row))
        else:
            tracks.append(_track(row, objects, element=False))
    return {"version": version, "tags": tags, "shapes": shapes, "tracks": tracks, "intervals": []}


# Use cases ---------------------------------------------------------------------------------


def _touch(session: Session, task: Task, job: Job | None) -> None:
    """Advances the version and ``updated_date`` of the task and of the job (or of every job of
    the task, for a task-wide change): clients cache datasets on them."""
    tasks_service.touch_task(session, task)
    task.annotations_version += 1
    jobs = [job] if job is not None else session.scalars(select(Job).where(Job.task_id == task.id))
    for each in jobs:
        each.updated_date = later_than(each.updated_date)


def get_annotations(
    session: Session,
    task: Task,
    *,
    frame_range: FrameRange | None = None,
    job: Job | None = None,
) -> dict[str, Any]:
    """``LabeledData`` of the task, or of a frame range (the job's when ``job`` is given)."""
    objects = _load(session, task.id, _in_range(_scope(frame_range, job)))
    return _render(objects, task.annotations_version)


def replace_annotations(
    session: Session,
    task: Task,
    data: LabeledDataWrite,
    *,
    frame_range: FrameRange | None = None,
    job: Job | None = None,
) -> dict[str, Any]:
    """PUT: the task's (or range's) annotations become ``data``; ids in it are ignored."""
    scope = _scope(frame_range, job)
    _checker(session, task, scope).check(data)
    _purge(session, task.id, _in_range(scope))
    objects = _insert_objects(session, task.id, data)
    _touch(session, task, job)
    log.info("task %s: %s annotations saved (frames %s)", task.id, len(objects.tops), scope)
    return _render(objects, task.annotations_version)


def create_annotations(
    session: Session,
    task: Task,
    data: LabeledDataWrite,
    *,
    frame_range: FrameRange | None = None,
    job: Job | None = None,
) -> dict[str, Any]:
    """PATCH action=create: adds the objects (ids ignored) and returns them with their ids."""
    scope = _scope(frame_range, job)
    _checker(session, task, scope).check(data)
    objects = _insert_objects(session, task.id, data)
    _touch(session, task, job)
    log.info("task %s: %s annotations created", task.id, len(objects.tops))
    return _render(objects, task.annotations_version)


def update_annotations(
    session: Session,
    task: Task,
    data: LabeledDataWrite,
    *,
    frame_range: FrameRange | None = None,
    job: Job | None = None,
) -> dict[str, Any]:
    """PATCH action=update: each object replaces the one with its id, elements and keyframes
    included; an id this task (or job) does not have is an error."""
    scope = _scope(frame_range, job)
    _checker(session, task, scope).check(data)
    wanted = _ids(data, "update")
    found: dict[int, str] = {}
    ids = list(wanted)
    for chunk in _chunks(ids):
        stmt = select(ANNOTATIONS.c.id, ANNOTATIONS.c.kind).where(
            ANNOTATIONS.c.task_id == task.id,
            ANNOTATIONS.c.parent_id.is_(None),
            _with_ids(chunk, scope)(ANNOTATIONS),
        )
        found.update((object_id, kind) for object_id, kind in session.execute(stmt))
    for object_id, (kind, path) in wanted.items():
        if found.get(object_id) != kind:
            raise AnnotationNotFound(f"{path}.id", kind, object_id)
    for chunk in _chunks(ids):
        _purge(session, task.id, _with_ids(chunk, None), keep_tops=True)
    pairs = _top_rows(task.id, data)
    if pairs:
        table = WRITE_ANNOTATIONS
        rows = _serialized([{**row, "object_id": obj.id} for row, obj in pairs])
        session.execute(update(table).where(table.c.id == bindparam("object_id")), rows)
        for row, obj in pairs:
            row["id"] = obj.id
    objects = _insert_parts(session, task.id, pairs)
    _touch(session, task, job)
    log.info("task %s: %s annotations updated", task.id, len(pairs))
    return _render(objects, task.annotations_version)


def delete_annotations(
    session: Session,
    task: Task,
    data: LabeledDataWrite,
    *,
    frame_range: FrameRange | None = None,
    job: Job | None = None,
) -> dict[str, Any]:
    """PATCH action=delete: removes the objects with the given ids and returns them. Only ids
    are read; ids that are already gone (or outside the job) are skipped."""
    scope = _scope(frame_range, job)
    wanted = _ids(data, "delete")
    deleted = _Objects([], {}, {})
    ids = list(wanted)
    for chunk in _chunks(ids):
        found = _load(session, task.id, _with_ids(chunk, scope))
        tops = [row for row in found.tops if wanted[row[0]][0] == row[2]]
        gone = [row[0] for row in tops]
        if gone:
            _purge(session, task.id, _with_ids(gone, None))
        deleted.tops.extend(tops)
        deleted.elements.update(found.elements)
        deleted.keyframes.update(found.keyframes)
    missing = len(wanted) - len(deleted.tops)
    if missing:
        log.debug("task %s: %s ids to delete were not found", task.id, missing)
    _touch(session, task, job)
    log.info("task %s: %s annotations deleted", task.id, len(deleted.tops))
    return _render(deleted, task.annotations_version)


def patch_annotations(
    session: Session,
    task: Task,
    data: LabeledDataWrite,
    *,
    action: str | None,
    frame_range: FrameRange | None = None,
    job: Job | None = None,
) -> dict[str, Any]:
    """PATCH with ``?action=create|update|delete``; any other action is a 400."""
    handlers = {
        "create": create_annotations,
        "update": update_annotations,
        "delete": delete_annotations,
    }
    handler = handlers.get(action or "")
    if handler is None:
        raise UnknownAction(action)
    return handler(session, task, data, frame_range=frame_range, job=job)


def delete_all(
    session: Session, task: Task, *, frame_range: FrameRange | None = None, job: Job | None = None
) -> None:
    """DELETE: removes every annotation of the task (or of the range / the job's frames)."""
    scope = _scope(frame_range, job)
    _purge(session, task.id, _in_range(scope))
    _touch(session, task, job)
    log.info("task %s: annotations deleted (frames %s)", task.id, scope)
