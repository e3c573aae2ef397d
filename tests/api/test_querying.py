"""`labelbay.api.querying` against SQLite, and PostgreSQL when LABELBAY_TEST_DATABASE_URL is set."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from sqlalchemy import (
    Engine,
    Enum,
    ForeignKey,
    String,
    create_engine,
    select,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column
from sqlalchemy.pool import StaticPool

from labelbay.api.querying import (
    InvalidPage,
    ListSpec,
    PageRequest,
    apply_list_filters,
    apply_list_query,
    apply_page,
    check_page,
    count_select,
    page_links,
    parse_page,
)
from labelbay.errors import AppError, Invalid

PG_URL = os.environ.get("LABELBAY_TEST_DATABASE_URL")
BACKENDS = ["sqlite", *(["postgresql"] if PG_URL else [])]


class Base(DeclarativeBase):
    pass


class Person(Base):
    __tablename__ = "querying_people"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    username: Mapped[str] = mapped_column(String(64))


class Item(Base):
    __tablename__ = "querying_items"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(32))
    size: Mapped[int | None]
    owner: Mapped[str | None] = mapped_column(String(64))
    created_date: Mapped[datetime]
    done: Mapped[bool]
    kind: Mapped[str] = mapped_column(
        Enum("image", "video", native_enum=False, name="querying_kind", length=16)
    )
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("querying_people.id"))


PEOPLE = [Person(id=1, username="ann"), Person(id=2, username="bob")]
# id, name, status, size, owner, day, done, kind, assignee
ROWS: list[tuple[int, str, str, int | None, str | None, int, bool, str, int | None]] = [
    (1, "alpha", "annotation", 1, "alice", 1, False, "image", 1),
    (2, "Beta_2", "validation", 3, None, 2, True, "image", None),
    (3, "gamma 100%", "annotation", 7, "bob", 3, False, "video", 2),
    (4, "delta", "acceptance", 5, "", 4, True, "image", None),
    (5, "ALPHA two", "annotation", None, "alice", 5, False, "video", 1),
    (6, "eps/ilon", "validation", 10, "carol", 6, False, "image", None),
]
ALL = [1, 2, 3, 4, 5, 6]

SPEC = ListSpec(
    fields={
        "id": Item.id,
        "name": Item.name,
        "status": Item.status,
        "size": Item.size,
        "owner": Item.owner,
        "created_date": Item.created_date,
        "done": Item.done,
        "kind": Item.kind,
        "assignee": Person.username,
    },
    search=("name", "owner", "assignee"),
    simple=("id", "name", "status", "size", "owner", "done", "kind", "assignee", "created_date"),
)


def _populate(engine: Engine) -> None:
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        session.add_all([Person(id=p.id, username=p.username) for p in PEOPLE])
        session.flush()
        for ident, name, status, size, owner, day, done, kind, assignee in ROWS:
            session.add(
                Item(
                    id=ident,
                    name=name,
                    status=status,
                    size=size,
                    owner=owner,
                    created_date=datetime(2024, 1, day),
                    done=done,
                    kind=kind,
                    assignee_id=assignee,
                )
            )
        session.commit()


@pytest.fixture(scope="module", params=BACKENDS)
def engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    if request.param == "sqlite":
        sqlite = create_engine("sqlite+pysqlite://", poolclass=StaticPool)
        _populate(sqlite)
        yield sqlite
        sqlite.dispose()
        return

    assert PG_URL is not None
    server = create_engine(PG_URL)
    schema = f"labelbay_querying_{uuid.uuid4().hex[:12]}"
    with server.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        scoped = server.execution_options(schema_translate_map={None: schema})
        _populate(scoped)
        yield scoped
    finally:
        with server.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        server.dispose()


def ids(engine: Engine, params: Mapping[str, str], spec: ListSpec = SPEC) -> list[int]:
    """Item ids in the order `apply_list_query` returns them."""
    stmt = select(Item.id).outerjoin(Person, Item.assignee_id == Person.id)
    with Session(engine) as session:
        return list(session.scalars(apply_list_query(stmt, spec, params)))


def matching(engine: Engine, logic: Any) -> list[int]:
    """Sorted ids of the items a JSON Logic filter (object or ready-made string) selects."""
    text_ = logic if isinstance(logic, str) else json.dumps(logic)
    return sorted(ids(engine, {"filter": text_}))


def var(name: str) -> dict[str, str]:
    return {"var": name}


# --------------------------------------------------------------------------------------------
# Simple equality parameters


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"name": "alpha"}, [1]),
        ({"name": "Alpha"}, []),  # case-sensitive
        ({"status": "annotation"}, [1, 3, 5]),
        ({"size": "5"}, [4]),
        ({"id": "3"}, [3]),
        ({"owner": "alice", "status": "annotation"}, [1, 5]),
        ({"done": "true"}, [2, 4]),
        ({"done": "False"}, [1, 3, 5, 6]),
        ({"kind": "video"}, [3, 5]),
        ({"assignee": "ann"}, [1, 5]),
        ({"created_date": "2024-01-03T00:00:00"}, [3]),
        ({"name": ""}, ALL),  # empty values are ignored
        ({"page": "2", "page_size": "1", "org": "x", "frobnicate": "1"}, ALL),
    ],
)
def test_simple_params(engine: Engine, params: dict[str, str], expected: list[int]) -> None:
    assert sorted(ids(engine, params)) == expected


def test_simple_params_only_for_listed_fields(engine: Engine) -> None:
    spec = ListSpec(fields=SPEC.fields, simple=("status",))
    assert sorted(ids(engine, {"name": "alpha"}, spec)) == ALL
    assert sorted(ids(engine, {"status": "validation"}, spec)) == [2, 6]


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"size": "abc"}, "size"),
        ({"id": "1.5"}, "id"),
        ({"size": "99999999999999999999999"}, "size"),
        ({"done": "maybe"}, "done"),
        ({"kind": "audio"}, "kind"),
        ({"created_date": "yesterday"}, "created_date"),
        ({"name": "a\x00b"}, "name"),
    ],
)
def test_simple_params_invalid(engine: Engine, params: dict[str, str], param: str) -> None:
    with pytest.raises(Invalid) as info:
        ids(engine, params)
    assert info.value.status == 400
    assert info.value.message.startswith(f"{param}:")
    assert info.value.detail["param"] == param


# --------------------------------------------------------------------------------------------
# search=


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        ("alpha", [1, 5]),
        ("ALPHA", [1, 5]),
        ("100%", [3]),
        ("%", [3]),
        ("_", [2]),
        ("a_2", [2]),
        ("/", [6]),
        ("s/i", [6]),
        ("\\", []),
        ("ann", [1, 5]),  # joined field
        ("BOB", [3]),  # both the owner and the assignee of item 3
        ("alpha two", [5]),  # every term must match
        ("alpha,two", [5]),
        ('"alpha two"', [5]),
        ("zzz", []),
        ("", ALL),
        ("   ", ALL),
    ],
)
def test_search(engine: Engine, search: str, expected: list[int]) -> None:
    assert sorted(ids(engine, {"search": search})) == expected


def test_search_without_search_fields_is_ignored(engine: Engine) -> None:
    spec = ListSpec(fields=SPEC.fields)
    assert sorted(ids(engine, {"search": "alpha"}, spec)) == ALL


def test_search_over_a_non_text_field(engine: Engine) -> None:
    spec = ListSpec(fields=SPEC.fields, search=("size",))
    assert sorted(ids(engine, {"search": "1"}, spec)) == [1, 6]
    assert sorted(ids(engine, {"search": "10"}, spec)) == [6]


# --------------------------------------------------------------------------------------------
# filter= (JSON Logic)


@pytest.mark.parametrize(
    ("logic", "expected"),
    [
        # ==
        ({"==": [var("status"), "annotation"]}, [1, 3, 5]),
        ({"==": ["annotation", var("status")]}, [1, 3, 5]),
        ({"==": [var("size"), 5]}, [4]),
        ({"==": [5, var("size")]}, [4]),
        ({"==": [var("size"), "5"]}, [4]),
        ({"==": [var("id"), 2.0]}, [2]),
        ({"==": [var("owner"), None]}, [2]),
        ({"==": [None, var("assignee")]}, [2, 4, 6]),
        ({"==": [var("owner"), ""]}, [4]),
        ({"==": [var("done"), True]}, [2, 4]),
        ({"==": [var("done"), False]}, [1, 3, 5, 6]),
        ({"==": [var("kind"), "video"]}, [3, 5]),
        ({"==": [var("assignee"), "ann"]}, [1, 5]),
        ({"===": [var("status"), "validation"]}, [2, 6]),
        ({"==": [var("owner"), var("assignee")]}, [2, 3]),
        # !=
        ({"!=": [var("status"), "annotation"]}, [2, 4, 6]),
        ({"!=": [var("owner"), "alice"]}, [2, 3, 4, 6]),  # NULL counts as "different"
        ({"!=": ["alice", var("owner")]}, [2, 3, 4, 6]),
        ({"!=": [var("owner"), None]}, [1, 3, 4, 5, 6]),
        ({"!=": [var("size"), 5]}, [1, 2, 3, 5, 6]),
        ({"!==": [var("assignee"), "ann"]}, [2, 3, 4, 6]),
        ({"!=": [var("owner"), var("assignee")]}, [1, 4, 5, 6]),
        # < <= > >=
        ({"<": [var("size"), 5]}, [1, 2]),
        ({"<": [5, var("size")]}, [3, 6]),
        ({"<=": [var("size"), 5]}, [1, 2, 4]),
        ({"<=": [5, var("size")]}, [3, 4, 6]),
        ({">": [var("size"), 5]}, [3, 6]),
        ({">": [5, var("size")]}, [1, 2]),
        ({">=": [var("size"), 5]}, [3, 4, 6]),
        ({">=": [5, var("size")]}, [1, 2, 4]),
        ({"<": [var("status"), "annotation"]}, [4]),
        ({">=": [var("id"), var("size")]}, [1]),
        # between (3 arguments)
        ({"<=": [3, var("size"), 7]}, [2, 3, 4]),
        ({"<": [3, var("size"), 10]}, [3, 4]),
        ({"<=": [3, var("size"), 2]}, []),
        # dates (ISO strings, offsets converted to UTC for naive columns)
        ({">=": [var("created_date"), "2024-01-04T00:00:00Z"]}, [4, 5, 6]),
        ({">=": [var("created_date"), "2024-01-04T02:00:00+02:00"]}, [4, 5, 6]),
        ({"<": [var("created_date"), "2024-01-03"]}, [1, 2]),
        (
            {"<=": ["2024-01-02T00:00:00.000Z", var("created_date"), "2024-01-03T00:00:00.000Z"]},
            [2, 3],
        ),
        # in: value in a list
        ({"in": [var("status"), ["validation", "acceptance"]]}, [2, 4, 6]),
        ({"in": [var("size"), [1, 10, 99]]}, [1, 6]),
        ({"in": [var("size"), []]}, []),
        ({"in": [var("size"), [None, 1]]}, [1, 5]),
        ({"in": [var("owner"), [None]]}, [2]),
        ({"in": [var("assignee"), ["ann", "nobody"]]}, [1, 5]),
        # in: substring of the field, ignoring case
        ({"in": ["ALP", var("name")]}, [1, 5]),
        ({"in": ["0%", var("name")]}, [3]),
        ({"in": ["%", var("name")]}, [3]),
        ({"in": ["_", var("name")]}, [2]),
        ({"in": ["a_", var("name")]}, [2]),
        ({"in": ["", var("owner")]}, [1, 3, 4, 5, 6]),
        ({"in": ["o", var("assignee")]}, [3]),
        ({"in": [10, var("size")]}, [6]),
        # ! and !!
        ({"!": {"==": [var("status"), "annotation"]}}, [2, 4, 6]),
        ({"!": [{"<": [var("size"), 5]}]}, [3, 4, 5, 6]),  # NULL size is "not < 5"
        ({"!": [{"!": [{"<": [var("size"), 5]}]}]}, [1, 2]),
        ({"!": {"var": "owner"}}, [2, 4]),  # NULL or empty
        ({"!": [{"var": "assignee"}]}, [2, 4, 6]),
        ({"!": {"in": [var("status"), ["annotation"]]}}, [2, 4, 6]),
        ({"!": {"and": [{"<": [var("size"), 5]}, {"==": [var("done"), True]}]}}, [1, 3, 4, 5, 6]),
        ({"!!": [{"var": "owner"}]}, [1, 3, 5, 6]),
        ({"!!": {"var": "size"}}, [1, 2, 3, 4, 6]),
        ({"!!": [{"==": [var("kind"), "image"]}]}, [1, 2, 4, 6]),
        # bare var: "is set"
        ({"var": "owner"}, [1, 3, 5, 6]),
        ({"var": ["size"]}, [1, 2, 3, 4, 6]),
        ({"var": "done"}, ALL),  # not NULL (false is a value)
        # and / or
        ({"and": [{"==": [var("status"), "annotation"]}, {"<": [var("size"), 5]}]}, [1]),
        ({"or": [{"==": [var("status"), "validation"]}, {"==": [var("size"), 7]}]}, [2, 3, 6]),
        (
            {
                "and": [
                    {"or": [{"==": [var("kind"), "video"]}, {"==": [var("done"), True]}]},
                    {"!": {"==": [var("status"), "acceptance"]}},
                ]
            },
            [2, 3, 5],
        ),
        ({"and": [{"var": "owner"}, {"var": "assignee"}]}, [1, 3, 5]),
        ({"and": []}, ALL),
        ({"or": []}, []),
        ({"and": [{"==": [var("status"), "annotation"]}]}, [1, 3, 5]),
        (True, ALL),
        (False, []),
    ],
)
def test_filter(engine: Engine, logic: Any, expected: list[int]) -> None:
    assert matching(engine, logic) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # Strings exactly as cvat-sdk / the CVAT UI serialize them.
        ('{"and":[{"==":[{"var":"status"},"annotation"]},{"<":[{"var":"size"},5]}]}', [1]),
        ('{"and":[{"==":[{"var":"assignee"},"ann"]}]}', [1, 5]),
        ('{"or":[{"==":[{"var":"status"},"validation"]},{"==":[{"var":"id"},4]}]}', [2, 4, 6]),
        ('{"!":{"var":"assignee"}}', [2, 4, 6]),
        ('{"in":["alpha",{"var":"name"}]}', [1, 5]),
        ('{"<=":[3,{"var":"size"},7]}', [2, 3, 4]),
        ('{"and":[{">=":[{"var":"created_date"},"2024-01-05T00:00:00.000Z"]}]}', [5, 6]),
        (' { "==" : [ { "var" : "kind" } , "video" ] } ', [3, 5]),
    ],
)
def test_filter_strings_from_cvat_clients(engine: Engine, raw: str, expected: list[int]) -> None:
    assert matching(engine, raw) == expected


def test_filter_combines_with_search_simple_and_sort(engine: Engine) -> None:
    params = {
        "filter": json.dumps({"!=": [var("status"), "acceptance"]}),
        "search": "a",
        "done": "false",
        "sort": "size",
    }
    assert ids(engine, params) == [1, 3, 6, 5]


def test_empty_filter_is_ignored(engine: Engine) -> None:
    assert sorted(ids(engine, {"filter": ""})) == ALL
    assert sorted(ids(engine, {"filter": "  "})) == ALL


@pytest.mark.parametrize(
    ("logic", "fragment"),
    [
        ('{"==": [{"var": "nope"}, 1]}', "'nope'"),
        ('{"var": "nope"}', "'nope'"),
        ('{"in": ["x", {"var": "secret"}]}', "'secret'"),
        ('{"==": [{"var": "status"}, "annotation"]', "malformed JSON"),
        ("not json", "malformed JSON"),
        ('{"==": [{"var": "size"}, NaN]}', "NaN"),
        ('{"like": [{"var": "name"}, "a"]}', "unknown operator 'like'"),
        ('{"+": [1, 2]}', "unknown operator '+'"),
        ('{"==": [{"var": "size"}, "abc"]}', "'size'"),
        ('{"==": [{"var": "done"}, "sometimes"]}', "'done'"),
        ('{"==": [{"var": "kind"}, "audio"]}', "'kind'"),
        ('{"==": [{"var": "name"}, true]}', "'name'"),
        ('{"==": [{"var": "size"}, 99999999999999999999999]}', "out of range"),
        ('{">": [{"var": "created_date"}, "last week"]}', "'created_date'"),
        ('{"==": [1, 1]}', "field"),
        ('{"==": [{"var": "size"}]}', "two arguments"),
        ('{">": [1, {"var": "size"}, 3]}', "two arguments"),
        ('{"<": [{"var": "size"}, null]}', "null"),
        ('{"==": [{"var": "size"}, [1, 2]]}', "expected a field or a value"),
        ('{"==": [{"var": "size"}, {"+": [1, 2]}]}', "unknown operator"),
        ('{"==": [{"var": "size"}, {"<": [1, 2]}]}', "expected a field or a value"),
        ('{"==": [{"var": "size"}, 1], "!=": [{"var": "size"}, 2]}', "exactly one operator"),
        ("{}", "exactly one operator"),
        ('{"var": 3}', "name a field"),
        ('{"in": [{"var": "size"}, [{"var": "id"}]]}', "values only"),
        ('{"in": [1, [1, 2]]}', "field"),
        ('{"in": [{"var": "name"}, "abc"]}', "'in'"),
        ('{"in": [true, {"var": "name"}]}', "text"),
        ('{"!": [{"var": "size"}, {"var": "id"}]}', "one argument"),
        ("[1, 2]", "list"),
        ('{"in": ["a\\u0000", {"var": "name"}]}', "NUL"),
        ("[" * 5000 + "]" * 5000, "nested too deeply"),
        ('{"!": ' * 100 + "true" + "}" * 100, "nested too deeply"),
    ],
)
def test_filter_invalid(engine: Engine, logic: str, fragment: str) -> None:
    with pytest.raises(Invalid) as info:
        ids(engine, {"filter": logic})
    assert info.value.status == 400
    assert info.value.message.startswith("filter: ")
    assert fragment in info.value.message
    assert info.value.detail["param"] == "filter"


def test_filter_unknown_field_detail(engine: Engine) -> None:
    with pytest.raises(Invalid) as info:
        ids(engine, {"filter": '{"==": [{"var": "nope"}, 1]}'})
    assert info.value.detail["field"] == "nope"


# --------------------------------------------------------------------------------------------
# sort=


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        (None, [6, 5, 4, 3, 2, 1]),
        ("", [6, 5, 4, 3, 2, 1]),
        ("id", [1, 2, 3, 4, 5, 6]),
        ("-id", [6, 5, 4, 3, 2, 1]),
        ("size", [1, 2, 4, 3, 6, 5]),  # NULLs last when ascending
        ("-size", [5, 6, 3, 4, 2, 1]),  # and first when descending
        ("status", [4, 5, 3, 1, 6, 2]),  # ties broken by -id
        ("status,-size", [4, 5, 3, 1, 6, 2]),
        ("status,size", [4, 1, 3, 5, 2, 6]),
        ("-status,size", [2, 6, 1, 3, 5, 4]),
        (" status , -size ,", [4, 5, 3, 1, 6, 2]),
        ("done,-id", [6, 5, 3, 1, 4, 2]),
        ("owner", [4, 5, 1, 3, 6, 2]),
        ("-assignee,id", [2, 4, 6, 3, 1, 5]),
        ("kind,created_date", [1, 2, 4, 6, 3, 5]),
        ("status,status", [4, 5, 3, 1, 6, 2]),
    ],
)
def test_sort(engine: Engine, sort: str | None, expected: list[int]) -> None:
    params = {} if sort is None else {"sort": sort}
    assert ids(engine, params) == expected


def test_sort_default_and_tiebreaker_follow_the_spec(engine: Engine) -> None:
    ascending = ListSpec(fields=SPEC.fields, default_sort="status")
    assert ids(engine, {}, ascending) == [4, 1, 3, 5, 2, 6]
    assert ids(engine, {"sort": "kind"}, ascending) == [1, 2, 4, 6, 3, 5]
    descending = ListSpec(fields=SPEC.fields, default_sort="-created_date")
    assert ids(engine, {"sort": "kind"}, descending) == [6, 4, 2, 1, 5, 3]
    explicit = ListSpec(fields=SPEC.fields, default_sort="-status,id")
    assert ids(engine, {"sort": "kind"}, explicit) == [1, 2, 4, 6, 3, 5]


def test_sort_replaces_existing_order(engine: Engine) -> None:
    stmt = select(Item.id).outerjoin(Person, Item.assignee_id == Person.id).order_by(Item.name)
    with Session(engine) as session:
        assert list(session.scalars(apply_list_query(stmt, SPEC, {}))) == [6, 5, 4, 3, 2, 1]


@pytest.mark.parametrize(
    ("sort", "name"),
    [("nope", "nope"), ("status,-nope", "nope"), ("-", None), ("name", "name")],
)
def test_sort_invalid(engine: Engine, sort: str, name: str | None) -> None:
    spec = ListSpec(fields=SPEC.fields, sortable=("id", "status", "size"))
    if name is None:  # a lone "-" is no key at all: default order
        assert ids(engine, {"sort": sort}, spec) == [6, 5, 4, 3, 2, 1]
        return
    with pytest.raises(Invalid) as info:
        ids(engine, {"sort": sort}, spec)
    assert info.value.message.startswith("sort: ")
    assert repr(name) in info.value.message
    assert info.value.detail == {"param": "sort", "field": name}


def test_spec_rejects_names_that_are_not_fields() -> None:
    fields = {"id": Item.id, "name": Item.name}
    with pytest.raises(ValueError, match="search"):
        ListSpec(fields=fields, search=("title",))
    with pytest.raises(ValueError, match="simple"):
        ListSpec(fields=fields, simple=("title",))
    with pytest.raises(ValueError, match="sortable"):
        ListSpec(fields=fields, sortable=("title",))
    with pytest.raises(ValueError, match="default_sort"):
        ListSpec(fields=fields, default_sort="-title")


# --------------------------------------------------------------------------------------------
# Paging


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, PageRequest(1, 10)),
        ({"page": "3", "page_size": "25"}, PageRequest(3, 25)),
        ({"page": " 2 "}, PageRequest(2, 10)),
        ({"page": "", "page_size": ""}, PageRequest(1, 10)),
        ({"page_size": "5000"}, PageRequest(1, 1000)),
        ({"page_size": "all"}, PageRequest(1, 1000)),
    ],
)
def test_parse_page(params: dict[str, str], expected: PageRequest) -> None:
    assert parse_page(params) == expected


def test_parse_page_limits() -> None:
    assert parse_page({}, default_size=50) == PageRequest(1, 50)
    assert parse_page({"page_size": "80"}, max_size=20) == PageRequest(1, 20)
    assert parse_page({}, default_size=50, max_size=20) == PageRequest(1, 20)


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"page": "abc"}, "page"),
        ({"page": "1.5"}, "page"),
        ({"page": "0"}, "page"),
        ({"page": "-2"}, "page"),
        ({"page": "9" * 30}, "page"),
        ({"page_size": "ten"}, "page_size"),
        ({"page_size": "0"}, "page_size"),
    ],
)
def test_parse_page_invalid(params: dict[str, str], param: str) -> None:
    with pytest.raises(Invalid) as info:
        parse_page(params)
    assert info.value.message.startswith(f"{param}:")
    assert info.value.detail == {"param": param}


def test_check_page() -> None:
    check_page(PageRequest(1, 10), 0)
    check_page(PageRequest(2, 10), 11)
    check_page(PageRequest(3, 5), 11)
    for page, count in [(PageRequest(2, 10), 10), (PageRequest(2, 10), 0), (PageRequest(4, 5), 15)]:
        with pytest.raises(InvalidPage) as info:
            check_page(page, count)
        error = info.value
        assert isinstance(error, AppError)
        assert (error.status, error.code, error.message) == (404, "invalid_page", "Invalid page.")


def _query(url: str | None) -> list[tuple[str, str]]:
    assert url is not None
    return parse_qsl(urlsplit(url).query, keep_blank_values=True)


def test_page_links_middle_page() -> None:
    logic = '{"and":[{"==":[{"var":"status"},"annotation"]}]}'
    params = [("org", "acme"), ("page", "2"), ("page_size", "2"), ("filter", logic)]
    nxt, prev = page_links("http://testserver/api/tasks", params, PageRequest(2, 2), 5)
    assert nxt is not None and nxt.startswith("http://testserver/api/tasks?")
    assert _query(nxt) == [("org", "acme"), ("page", "3"), ("page_size", "2"), ("filter", logic)]
    # Like DRF, the way back to page 1 drops the parameter.
    assert _query(prev) == [("org", "acme"), ("page_size", "2"), ("filter", logic)]


def test_page_links_edges() -> None:
    base = "https://example.org:8080/api/jobs"
    nxt, prev = page_links(base, {"page_size": "2"}, PageRequest(1, 2), 5)
    assert nxt == "https://example.org:8080/api/jobs?page_size=2&page=2"
    assert prev is None
    nxt, prev = page_links(base, {"page": "3", "page_size": "2"}, PageRequest(3, 2), 5)
    assert nxt is None
    assert prev == "https://example.org:8080/api/jobs?page=2&page_size=2"
    assert page_links(base, {}, PageRequest(1, 10), 10) == (None, None)
    assert page_links(base, {}, PageRequest(1, 10), 0) == (None, None)
    assert page_links(base, {}, PageRequest(1, 10), 11)[0] == base + "?page=2"


def test_page_links_keep_repeated_params_and_drop_base_query() -> None:
    params = [("label", "a"), ("label", "b c"), ("page", "1")]
    nxt, _ = page_links("http://h/api/x?stale=1#frag", params, PageRequest(1, 1), 3)
    assert nxt == "http://h/api/x?label=a&label=b+c&page=2"


def test_paging_end_to_end(engine: Engine) -> None:
    params = {"status": "annotation", "sort": "id", "page": "2", "page_size": "2"}
    base = select(Item.id).outerjoin(Person, Item.assignee_id == Person.id)
    stmt = apply_list_query(base, SPEC, params)
    page = parse_page(params)
    with Session(engine) as session:
        count = session.scalar(count_select(stmt))
        assert count == 3
        check_page(page, count)
        assert list(session.scalars(apply_page(stmt, page))) == [5]
        assert session.scalar(count_select(apply_list_filters(base, SPEC, params))) == 3
        assert session.scalar(count_select(apply_page(stmt, page))) == 3
    with pytest.raises(InvalidPage):
        check_page(PageRequest(3, 2), count)
