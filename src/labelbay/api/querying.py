"""CVAT-style list query parameters applied to a SQLAlchemy `Select`.

This module is deliberately free of any web framework: it takes the query string as a plain
mapping and returns a new statement (or raises `Invalid`). It understands

* plain equality parameters (``?name=x&project_id=3``) for the fields a view allows,
* ``search=`` -- case-insensitive substring search over a fixed set of fields,
* ``filter=`` -- the JSON Logic expressions the CVAT UI and cvat-sdk build,
* ``sort=a,-b`` -- ordering, always completed by an ``id`` tiebreaker,
* ``page`` / ``page_size`` -- parsed by `parse_page`, with `page_links` for next/previous URLs.

Filter semantics follow the CVAT server (a Django ORM translation of JSON Logic): a negation
(``!`` and ``!=``) keeps the rows whose value is NULL, ``==`` null means IS NULL, a bare
``{"var": f}`` means "is set" (not NULL and, for text, not the empty string), and
``{"in": ["text", {"var": f}]}`` is a case-insensitive substring test.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias, TypeVar
from urllib.parse import urlencode, urlsplit, urlunsplit

from sqlalchemy import (
    Select,
    and_,
    func,
    or_,
    select,
)
from sqlalchemy.orm import QueryableAttribute
from sqlalchemy.sql.elements import ColumnElement

from labelbay.api.jsonlogic import Condition, as_text, coerce_param, compile_filter
from labelbay.errors import AppError, Invalid

__all__ = [
    "InvalidPage",
    "ListSpec",
    "PageRequest",
    "apply_list_filters",
    "apply_list_query",
    "apply_list_sort",
    "apply_page",
    "check_page",
    "count_select",
    "page_links",
    "parse_page",
]

SelectT = TypeVar("SelectT", bound=Select)  # type: ignore[type-arg]

#: What a spec maps a public field name to: a SQL expression or an ORM attribute.
FieldExpr: TypeAlias = "ColumnElement[Any] | QueryableAttribute[Any]"

_INT_RE = re.compile(r"[+-]?[0-9]+")
_INT_MAX = 2**63 - 1


# --------------------------------------------------------------------------------------------
# The spec


@dataclass(frozen=True)
class ListSpec:
    """What a list endpoint lets clients filter, search and sort on.

    `fields` maps each public field name to the SQL expression it stands for; joins needed by
    those expressions (e.g. ``"owner" -> User.username`` through an outer join) are the
    caller's business. `search` and `simple` name fields of `fields`; `sortable` restricts
    ``sort=`` (None allows every field). `default_sort` uses the same syntax as ``sort=``.
    """

    fields: Mapping[str, FieldExpr]
    search: Sequence[str] = ()
    simple: Sequence[str] = ()
    default_sort: str = "-id"
    sortable: Sequence[str] | None = None

    def __post_init__(self) -> None:
        groups: list[tuple[str, Iterable[str]]] = [
            ("search", self.search),
            ("simple", self.simple),
            ("sortable", self.sortable or ()),
            ("default_sort", (name for name, _ in _sort_keys(self.default_sort))),
        ]
        for group, names in groups:
            for name in names:
                if name not in self.fields:
                    raise ValueError(f"ListSpec.{group} names {name!r}, which is not a field")

    def expr(self, name: str) -> ColumnElement[Any]:
        """The SQL expression behind public field `name` (KeyError if there is none)."""
        return _as_column(self.fields[name])


def _as_column(value: FieldExpr) -> ColumnElement[Any]:
    if isinstance(value, QueryableAttribute):
        clause = value.__clause_element__()
        if not isinstance(clause, ColumnElement):  # pragma: no cover - relationships
            raise TypeError(f"{value!r} is not a column expression")
        return clause
    return value


# --------------------------------------------------------------------------------------------
# Entry points


def apply_list_query(stmt: SelectT, spec: ListSpec, params: Mapping[str, str]) -> SelectT:
    """Apply simple equality params, ``search``, ``filter`` and ``sort`` to `stmt`.

    Unknown parameters are ignored (paging and organization params are handled elsewhere).
    Any ordering already on `stmt` is replaced. Raises `Invalid` for bad input.
    """
    return apply_list_sort(apply_list_filters(stmt, spec, params), spec, params)


def apply_list_filters(stmt: SelectT, spec: ListSpec, params: Mapping[str, str]) -> SelectT:
    """Only the WHERE part of `apply_list_query` (handy for a COUNT query)."""
    conditions: list[Condition] = []
    for name in spec.simple:
        raw = params.get(name)
        if raw is None or raw == "":
            continue
        expr = spec.expr(name)
        conditions.append(expr == coerce_param(name, expr.type, raw))
    search = params.get("search")
    if search:
        condition = _search_condition(spec, search)
        if condition is not None:
            conditions.append(condition)
    text = params.get("filter")
    if text is not None and text.strip():
        conditions.append(compile_filter(spec, text))
    return stmt.where(*conditions) if conditions else stmt


def apply_list_sort(stmt: SelectT, spec: ListSpec, params: Mapping[str, str]) -> SelectT:
    """Only the ORDER BY part of `apply_list_query`; replaces any existing ordering."""
    return stmt.order_by(None).order_by(*_order_by(spec, params.get("sort")))


def count_select(stmt: Select) -> Select:  # type: ignore[type-arg]
    """``SELECT count(*)`` over the rows `stmt` returns (its ordering and paging dropped)."""
    inner = stmt.order_by(None).limit(None).offset(None).subquery()
    return select(func.count()).select_from(inner)


# --------------------------------------------------------------------------------------------
# search=


def _search_terms(text: str) -> list[str]:
    """Split like DRF's SearchFilter: whitespace/commas separate terms, quotes keep phrases."""
    text = text.replace("\x00", "")
    terms: list[str] = []
    for match in re.finditer(r'"([^"]*)"|([^\s,"]+)', text):
        phrase, word = match.group(1), match.group(2)
        term = phrase if phrase is not None else word
        if term:
            terms.append(term)
    return terms


def _search_condition(spec: ListSpec, text: str) -> Condition | None:
    """Every term must occur (case-insensitively) in at least one of the search fields."""
    if not spec.search:
        return None
    terms = _search_terms(text)
    if not terms:
        return None
    exprs = [as_text(spec.expr(name)) for name in spec.search]
    per_term = [or_(*(expr.icontains(term, autoescape=True) for expr in exprs)) for term in terms]
    return and_(*per_term)


# --------------------------------------------------------------------------------------------
# sort=


def _sort_keys(text: str | None) -> list[tuple[str, bool]]:
    """``"a,-b"`` -> ``[("a", False), ("b", True)]`` (name, descending)."""
    keys: list[tuple[str, bool]] = []
    for token in (text or "").split(","):
        token = token.strip()
        if not token:
            continue
        descending = token.startswith("-")
        name = token[1:].strip() if descending else token
        if not name:
            continue
        keys.append((name, descending))
    return keys


def _order_by(spec: ListSpec, text: str | None) -> list[ColumnElement[Any]]:
    default_keys = _sort_keys(spec.default_sort)
    keys = _sort_keys(text)
    if keys:
        allowed = spec.fields.keys() if spec.sortable is None else set(spec.sortable)
        for name, _ in keys:
            if name not in spec.fields:
                raise Invalid(f"sort: unknown field {name!r}", param="sort", field=name)
            if name not in allowed:
                raise Invalid(f"sort: field {name!r} cannot be sorted on", param="sort", field=name)
    else:
        keys = default_keys

    clauses: list[ColumnElement[Any]] = []
    seen: set[str] = set()
    for name, descending in keys:
        if name in seen:
            continue
        seen.add(name)
        expr = spec.expr(name)
        # NULLs sort as the largest value on every backend (PostgreSQL's own default).
        clauses.append(expr.desc().nulls_first() if descending else expr.asc().nulls_last())

    if "id" in spec.fields and "id" not in seen:
        id_descending = next(
            (desc for name, desc in default_keys if name == "id"),
            default_keys[0][1] if default_keys else True,
        )
        id_expr = spec.expr("id")
        clauses.append(id_expr.desc() if id_descending else id_expr.asc())
    return clauses


# --------------------------------------------------------------------------------------------
# Paging


@dataclass(frozen=True)
class PageRequest:
    """A 1-based page number and a page size."""

    page: int
    page_size: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.page_size

    @property
    def limit(self) -> int:
        return self.page_size


class InvalidPage(AppError):
    """A page past the last one (DRF answers 404 "Invalid page.")."""

    status, code = 404, "invalid_page"

    def __init__(self, message: str = "Invalid page.") -> None:
        super().__init__(message)


def _positive_int(params: Mapping[str, str], name: str, default: int) -> int:
    raw = params.get(name)
    if raw is None or not raw.strip():
        return default
    if not _INT_RE.fullmatch(raw.strip()):
        raise Invalid(f"{name}: expected an integer, got {raw!r}", param=name)
    value = int(raw.strip())
    if value > _INT_MAX:
        raise Invalid(f"{name}: integer out of range, got {raw!r}", param=name)
    if value < 1:
        raise Invalid(f"{name}: must be at least 1, got {value}", param=name)
    return value


def parse_page(
    params: Mapping[str, str], *, default_size: int = 10, max_size: int = 1000
) -> PageRequest:
    """Read ``page`` (default 1) and ``page_size`` (default `default_size`, at most `max_size`;
    ``page_size=all`` means `max_size`). Non-integers and values below 1 raise `Invalid`."""
    page = _positive_int(params, "page", 1)
    raw_size = params.get("page_size")
    if raw_size is not None and raw_size.strip().lower() == "all":
        size = max_size
    else:
        size = _positive_int(params, "page_size", default_size)
    return PageRequest(page=page, page_size=max(1, min(size, max_size)))


def check_page(page: PageRequest, count: int) -> None:
    """Raise `InvalidPage` when `page` starts past the `count` rows (page 1 is always valid)."""
    if page.page > 1 and page.offset >= count:
        raise InvalidPage()


def apply_page(stmt: SelectT, page: PageRequest) -> SelectT:
    """LIMIT/OFFSET for `page`."""
    return stmt.limit(page.limit).offset(page.offset)


def page_links(
    base_url: str,
    params: Mapping[str, str] | list[tuple[str, str]],
    page: PageRequest,
    count: int,
) -> tuple[str | None, str | None]:
    """Absolute ``(next, previous)`` URLs for a page of `count` rows.

    Every parameter other than ``page`` is kept in order (pass a list of pairs to keep repeated
    keys). `base_url`'s own query string and fragment are replaced. Like DRF, the link back to
    page 1 carries no ``page`` parameter. ``next`` is None on the last page, ``previous`` on
    the first.
    """
    pairs = list(params.items()) if isinstance(params, Mapping) else list(params)
    parts = urlsplit(base_url)

    def link(number: int | None) -> str:
        query: list[tuple[str, str]] = []
        placed = number is None
        for key, value in pairs:
            if key == "page":
                if not placed:
                    query.append(("page", str(number)))
                    placed = True
                continue
            query.append((key, value))
        if not placed:
            query.append(("page", str(number)))
        return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), ""))

    next_url = link(page.page + 1) if page.page * page.page_size < count else None
    previous_url = None
    if page.page > 1:
        previous_url = link(page.page - 1 if page.page > 2 else None)
    return next_url, previous_url
