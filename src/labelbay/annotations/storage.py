"""Annotation rows in bulk: insert (with ids allocated up front), load, overwrite, purge.

One ``annotations`` row per tag, shape or track (``kind``); skeleton elements and the element
tracks of skeleton tracks are rows whose ``parent_id`` is their skeleton; the keyframes of every
track (element tracks too) are ``tracked_shapes`` rows. A read is two queries whatever the size;
a write is one bulk insert per level (objects, elements, keyframes), and a purge three
statements. ``points`` and ``attributes`` go through orjson, not the JSON column type's per-value
json module: 100k shapes are read or written in about a second.

Rows travel as ``OBJECT_COLUMNS`` / ``KEYFRAME_COLUMNS`` tuples (``Objects``), which
``rendering.py`` turns into ``LabeledData``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
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

from labelbay.annotations.models import Annotation, TrackedShape
from labelbay.annotations.schemas import (
    AnnotationBase,
    AttributeValue,
    LabeledDataWrite,
    ShapeWrite,
    SubShapeWrite,
    SubTrackWrite,
    TrackedShapeWrite,
    TrackWrite,
)

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


@dataclass(slots=True)
class Objects:
    """Rows (``OBJECT_COLUMNS``/``KEYFRAME_COLUMNS`` tuples) to render: top-level objects in
    response order, elements by parent id, keyframes by track id."""

    tops: list[Row] = field(default_factory=list)
    elements: dict[int, list[Row]] = field(default_factory=dict)
    keyframes: dict[int, list[Row]] = field(default_factory=dict)


# Selections --------------------------------------------------------------------------------


def in_range(scope: FrameRange | None) -> Where | None:
    """Top-level objects on the frames of ``scope`` (all of them when it is None)."""
    if scope is None:
        return None
    low, high = scope
    return lambda t: t.c.frame.between(low, high)


def with_ids(ids: Sequence[int], scope: FrameRange | None) -> Where:
    """Top-level objects with these ids (and on the frames of ``scope``, if given)."""

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


def chunks(ids: Sequence[int]) -> Iterator[Sequence[int]]:
    """``ids`` in slices short enough for an ``IN (...)`` list."""
    for start in range(0, len(ids), _CHUNK):
        yield ids[start : start + _CHUNK]


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


def _group(rows: Iterable[Row]) -> dict[int, list[Row]]:
    """Rows by their second column (an element's parent, a keyframe's track)."""
    grouped: dict[int, list[Row]] = {}
    for row in rows:
        grouped.setdefault(row[1], []).append(row)
    return grouped


# Inserting ---------------------------------------------------------------------------------


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


def _insert_parts(
    session: Session, task_id: int, parents: Sequence[tuple[dict[str, Any], AnnotationBase]]
) -> Objects:
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
    return Objects(
        tops=[as_object(row) for row, _obj in parents],
        elements=_group(map(as_object, element_rows)),
        keyframes=_group(map(itemgetter(*KEYFRAME_COLUMNS), keyframes)),
    )


def _top_rows(task_id: int, data: LabeledDataWrite) -> list[tuple[dict[str, Any], AnnotationBase]]:
    """(row, object) for the payload's tags, shapes and tracks, in that order."""
    listed: tuple[tuple[str, Sequence[AnnotationBase]], ...] = (
        ("tag", data.tags), ("shape", data.shapes), ("track", data.tracks),
    )  # fmt: skip
    return [
        (_row(task_id, kind, obj, frame=obj.frame), obj)
        for kind, objects in listed
        for obj in objects
    ]


def insert_objects(session: Session, task_id: int, data: LabeledDataWrite) -> Objects:
    """Inserts every object of ``data`` as new rows (ids in it are ignored)."""
    pairs = _top_rows(task_id, data)
    _insert(session, WRITE_ANNOTATIONS, [row for row, _obj in pairs])
    return _insert_parts(session, task_id, pairs)


def overwrite_objects(session: Session, task_id: int, data: LabeledDataWrite) -> Objects:
    """Each object of ``data`` replaces the stored one with its id (the caller has checked that
    they exist): the row is updated in place, its elements and keyframes are written anew."""
    pairs = _top_rows(task_id, data)
    ids = [cast(int, obj.id) for _row, obj in pairs]
    for chunk in chunks(ids):
        purge(session, task_id, with_ids(chunk, None), keep_tops=True)
    if pairs:
        table = WRITE_ANNOTATIONS
        rows = _serialized([{**row, "object_id": obj.id} for row, obj in pairs])
        session.execute(update(table).where(table.c.id == bindparam("object_id")), rows)
        for row, obj in pairs:
            row["id"] = obj.id
    return _insert_parts(session, task_id, pairs)


# Reading and deleting ----------------------------------------------------------------------


def kinds(
    session: Session, task_id: int, ids: Sequence[int], scope: FrameRange | None
) -> dict[int, str]:
    """{id: kind} of those of ``ids`` that are top-level objects of the task (within
    ``scope``)."""
    found: dict[int, str] = {}
    for chunk in chunks(ids):
        stmt = select(ANNOTATIONS.c.id, ANNOTATIONS.c.kind).where(
            ANNOTATIONS.c.task_id == task_id,
            ANNOTATIONS.c.parent_id.is_(None),
            with_ids(chunk, scope)(ANNOTATIONS),
        )
        found.update((object_id, kind) for object_id, kind in session.execute(stmt))
    return found


def _read_columns(table: Table, names: Sequence[str]) -> list[ColumnElement[Any]]:
    """The columns, JSON ones as their text (parsed by orjson, much faster than the column's
    own processing with the json module)."""
    return [cast_(table.c[name], Text) if name in JSON_COLUMNS else table.c[name] for name in names]


def _parsed(rows: Iterable[Row]) -> Iterator[Row]:
    """Rows whose last two columns (points, attributes) are JSON text, with them parsed."""
    for row in rows:
        *head, points, attributes = row
        yield (*head, loads(points), loads(attributes))


def load(session: Session, task_id: int, where: Where | None) -> Objects:
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
    return Objects(tops, elements, _group(_parsed(keyframes.all())))


def purge(session: Session, task_id: int, where: Where | None, *, keep_tops: bool = False) -> None:
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
