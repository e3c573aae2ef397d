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

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NoReturn, TypeAlias, TypeVar
from urllib.parse import urlencode, urlsplit, urlunsplit

from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    Enum,
    Integer,
    Numeric,
    Select,
    String,
    TypeDecorator,
    and_,
    cast,
    false,
    func,
    not_,
    or_,
    select,
    true,
)
from sqlalchemy.orm import QueryableAttribute
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import TypeEngine

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
Condition: TypeAlias = "ColumnElement[bool]"

_MAX_FILTER_DEPTH = 64
_INT_RE = re.compile(r"[+-]?[0-9]+")
_INT_MIN, _INT_MAX = -(2**63), 2**63 - 1
_TRUE_WORDS = frozenset({"true", "1", "yes", "on"})
_FALSE_WORDS = frozenset({"false", "0", "no", "off"})


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
        conditions.append(expr == _coerce_param(name, expr.type, raw))
    search = params.get("search")
    if search:
        condition = _search_condition(spec, search)
        if condition is not None:
            conditions.append(condition)
    text = params.get("filter")
    if text is not None and text.strip():
        conditions.append(_FilterCompiler(spec).compile_text(text))
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
    exprs = [_as_text(spec.expr(name)) for name in spec.search]
    per_term = [or_(*(expr.icontains(term, autoescape=True) for expr in exprs)) for term in terms]
    return and_(*per_term)


def _as_text(expr: ColumnElement[Any]) -> ColumnElement[Any]:
    kind = _kind(expr.type)
    return expr if kind in ("str", "enum") else cast(expr, String)


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
# Column types and value coercion


def _kind(type_: TypeEngine[Any]) -> str:
    """A coarse classification of a column type, used to coerce incoming values."""
    if isinstance(type_, TypeDecorator):
        return _kind(type_.impl_instance)
    if isinstance(type_, Boolean):
        return "bool"
    if isinstance(type_, Enum):
        return "enum"
    if isinstance(type_, Integer):
        return "int"
    if isinstance(type_, Numeric):
        return "num"
    if isinstance(type_, DateTime):
        return "datetime"
    if isinstance(type_, Date):
        return "date"
    if isinstance(type_, String):
        return "str"
    return "other"


def _has_timezone(type_: TypeEngine[Any]) -> bool:
    if isinstance(type_, TypeDecorator):
        return _has_timezone(type_.impl_instance)
    return bool(getattr(type_, "timezone", False))


def _enum_values(type_: TypeEngine[Any]) -> list[str]:
    if isinstance(type_, TypeDecorator):
        return _enum_values(type_.impl_instance)
    return list(getattr(type_, "enums", []))


def _parse_datetime(text: str, type_: TypeEngine[Any]) -> datetime:
    value = datetime.fromisoformat(text.strip())
    if _has_timezone(type_):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def _coerce(value: object, type_: TypeEngine[Any], fail: Callable[[str], NoReturn]) -> Any:
    """Turn a JSON or query-string value into what a column of `type_` compares against.

    `fail` raises the caller's `Invalid` with a reason such as "expected an integer".
    """
    kind = _kind(type_)
    if kind == "int":
        if isinstance(value, bool):
            fail("expected an integer")
        if isinstance(value, str) and _INT_RE.fullmatch(value.strip()):
            value = int(value.strip())
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, int):
            if not _INT_MIN <= value <= _INT_MAX:
                fail("integer out of range")
            return value
        if isinstance(value, float):
            return value
        fail("expected an integer")
    if kind == "num":
        if isinstance(value, bool):
            fail("expected a number")
        if isinstance(value, int | float):
            return value
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        fail("expected a number")
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        if isinstance(value, str):
            word = value.strip().lower()
            if word in _TRUE_WORDS:
                return True
            if word in _FALSE_WORDS:
                return False
        fail("expected true or false")
    if kind in ("datetime", "date"):
        if isinstance(value, str):
            try:
                parsed = _parse_datetime(value, type_)
            except ValueError:
                pass
            else:
                return parsed.date() if kind == "date" else parsed
        fail("expected an ISO 8601 date")
    if kind == "enum":
        allowed = _enum_values(type_)
        if isinstance(value, str) and value in allowed:
            return value
        fail("expected one of " + ", ".join(repr(v) for v in allowed))
    if kind == "str":
        if isinstance(value, bool):
            fail("expected a string")
        if isinstance(value, int | float):
            value = str(value)
        if isinstance(value, str):
            if "\x00" in value:
                fail("contains a NUL character")
            return value
        fail("expected a string")
    return value


def _coerce_param(param: str, type_: TypeEngine[Any], raw: str) -> Any:
    def fail(reason: str) -> NoReturn:
        raise Invalid(f"{param}: {reason}, got {raw!r}", param=param)

    return _coerce(raw, type_, fail)


# --------------------------------------------------------------------------------------------
# filter= (JSON Logic)

_MIRRORED = {"==": "==", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}
_ALIASES = {"===": "==", "!==": "!="}
_KNOWN_OPS = frozenset({*_MIRRORED, *_ALIASES, "!", "!!", "in", "and", "or", "var"})


def _filter_error(message: str, *, field: str | None = None) -> NoReturn:
    if field is None:
        raise Invalid(f"filter: {message}", param="filter")
    raise Invalid(f"filter: {message}", param="filter", field=field)


def _describe(value: object) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 80 else text[:77] + "..."


@dataclass(frozen=True)
class _Var:
    name: str
    expr: ColumnElement[Any]


@dataclass(frozen=True)
class _Lit:
    value: object


_Operand: TypeAlias = "_Var | _Lit"


def _reject_constant(name: str) -> NoReturn:
    _filter_error(f"{name} is not a valid JSON value")


class _FilterCompiler:
    """Translate one JSON Logic document into a SQLAlchemy condition."""

    def __init__(self, spec: ListSpec) -> None:
        self.spec = spec

    def compile_text(self, text: str) -> Condition:
        try:
            tree = json.loads(text, parse_constant=_reject_constant)
        except json.JSONDecodeError as exc:
            _filter_error(f"malformed JSON ({exc.msg} at position {exc.pos})")
        except RecursionError:
            _filter_error("the expression is nested too deeply")
        return self.truth(tree, 0)

    # -- structure ---------------------------------------------------------------------------

    def _operator(self, node: dict[str, Any], depth: int) -> tuple[str, Any]:
        if depth > _MAX_FILTER_DEPTH:
            _filter_error("the expression is nested too deeply")
        if len(node) != 1:
            _filter_error(f"expected an object with exactly one operator, got {_describe(node)}")
        ((op, args),) = node.items()
        if op not in _KNOWN_OPS:
            _filter_error(f"unknown operator {op!r}")
        return _ALIASES.get(op, op), args

    @staticmethod
    def _arg_list(args: Any) -> list[Any]:
        """JSON Logic lets a single argument skip its list: ``{"!": x}`` == ``{"!": [x]}``."""
        return args if isinstance(args, list) else [args]

    def _unary(self, op: str, args: Any) -> Any:
        items = self._arg_list(args)
        if len(items) != 1:
            _filter_error(f"{op!r} takes one argument, got {len(items)}")
        return items[0]

    def _field(self, args: Any) -> _Var:
        name = args[0] if isinstance(args, list) and args else args
        if not isinstance(name, str):
            _filter_error(f"a variable must name a field, got {_describe(args)}")
        if name not in self.spec.fields:
            _filter_error(f"unknown field {name!r}", field=name)
        return _Var(name, self.spec.expr(name))

    def operand(self, node: Any, depth: int) -> _Operand:
        if isinstance(node, dict):
            op, args = self._operator(node, depth)
            if op != "var":
                _filter_error(f"expected a field or a value, got the expression {_describe(node)}")
            return self._field(args)
        if node is None or isinstance(node, bool | int | float | str):
            return _Lit(node)
        _filter_error(f"expected a field or a value, got {_describe(node)}")

    # -- truth -------------------------------------------------------------------------------

    def truth(self, node: Any, depth: int) -> Condition:
        """The rows for which `node` is truthy."""
        if not isinstance(node, dict):
            if isinstance(node, list):
                _filter_error(f"expected an expression, got the list {_describe(node)}")
            return true() if node else false()
        op, args = self._operator(node, depth)
        if op == "var":
            return self._is_set(self._field(args))
        if op in ("and", "or"):
            parts = [self.truth(item, depth + 1) for item in self._arg_list(args)]
            if not parts:
                return true() if op == "and" else false()
            return and_(*parts) if op == "and" else or_(*parts)
        if op == "!":
            return _negate(self.truth(self._unary(op, args), depth + 1))
        if op == "!!":
            return self.truth(self._unary(op, args), depth + 1)
        if op == "in":
            return self._in(args, depth)
        return self._comparison(op, args, depth)

    @staticmethod
    def _is_set(var: _Var) -> Condition:
        if _kind(var.expr.type) == "str":
            return and_(var.expr.is_not(None), var.expr != "")
        return var.expr.is_not(None)

    # -- comparisons -------------------------------------------------------------------------

    def _comparison(self, op: str, args: Any, depth: int) -> Condition:
        items = self._arg_list(args)
        operands = [self.operand(item, depth + 1) for item in items]
        if len(operands) == 2:
            return self._compare(op, operands[0], operands[1])
        if len(operands) == 3 and op in ("<", "<="):
            low, middle, high = operands
            return and_(self._compare(op, low, middle), self._compare(op, middle, high))
        if op in ("<", "<="):
            _filter_error(f"{op!r} takes two or three arguments, got {len(operands)}")
        _filter_error(f"{op!r} takes two arguments, got {len(operands)}")

    def _compare(self, op: str, left: _Operand, right: _Operand) -> Condition:
        if isinstance(left, _Lit):
            if isinstance(right, _Lit):
                _filter_error(f"{op!r} needs a field on one side")
            left, right, op = right, left, _MIRRORED[op]
        if isinstance(right, _Var):
            return self._compare_fields(op, left.expr, right.expr)

        value = right.value
        expr = left.expr
        if value is None:
            if op == "==":
                return expr.is_(None)
            if op == "!=":
                return expr.is_not(None)
            _filter_error(f"cannot compare {left.name!r} with null using {op!r}")
        value = self._coerce(left, value)
        if op == "==":
            return expr == value
        if op == "!=":
            # Django's exclude() semantics: rows without a value are "not equal" too.
            return or_(expr != value, expr.is_(None))
        if op == "<":
            return expr < value
        if op == "<=":
            return expr <= value
        if op == ">":
            return expr > value
        return expr >= value

    @staticmethod
    def _compare_fields(op: str, left: ColumnElement[Any], right: ColumnElement[Any]) -> Condition:
        if op == "==":
            return left.is_not_distinct_from(right)
        if op == "!=":
            return left.is_distinct_from(right)
        if op == "<":
            return left < right
        if op == "<=":
            return left <= right
        if op == ">":
            return left > right
        return left >= right

    @staticmethod
    def _coerce(var: _Var, value: object) -> Any:
        def fail(reason: str) -> NoReturn:
            _filter_error(f"{var.name!r}: {reason}, got {_describe(value)}", field=var.name)

        return _coerce(value, var.expr.type, fail)

    # -- in ----------------------------------------------------------------------------------

    def _in(self, args: Any, depth: int) -> Condition:
        items = self._arg_list(args)
        if len(items) != 2:
            _filter_error(f"'in' takes two arguments, got {len(items)}")
        needle, haystack = items
        if isinstance(haystack, list):
            # {"in": [{"var": f}, [v1, v2, ...]]}: the field's value is one of the values.
            var = self.operand(needle, depth + 1)
            if not isinstance(var, _Var):
                _filter_error("'in' with a list needs a field as its first argument")
            values = [self.operand(item, depth + 1) for item in haystack]
            if any(isinstance(item, _Var) for item in values):
                _filter_error("'in' lists may hold values only")
            literals = [item.value for item in values if isinstance(item, _Lit)]
            present = [self._coerce(var, item) for item in literals if item is not None]
            parts: list[Condition] = []
            if present:
                parts.append(var.expr.in_(present))
            if len(present) != len(literals):
                parts.append(var.expr.is_(None))
            return or_(*parts) if parts else false()

        # {"in": ["text", {"var": f}]}: the text occurs in the field, ignoring case.
        text = self.operand(needle, depth + 1)
        var = self.operand(haystack, depth + 1)
        if not isinstance(var, _Var) or not isinstance(text, _Lit):
            _filter_error("'in' needs either a field and a list of values, or a text and a field")
        if isinstance(text.value, bool) or not isinstance(text.value, str | int | float):
            _filter_error(f"'in' needs a text to look for in {var.name!r}", field=var.name)
        fragment = str(text.value)
        if "\x00" in fragment:
            _filter_error("the text contains a NUL character", field=var.name)
        return _as_text(var.expr).icontains(fragment, autoescape=True)


def _negate(condition: Condition) -> Condition:
    """NOT that also keeps rows where `condition` is NULL (e.g. compares a NULL column)."""
    return not_(func.coalesce(condition, false()))


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
