"""JSON Logic filters (``filter=``) as the CVAT UI and cvat-sdk build them, compiled to SQL.

Semantics follow the CVAT server (a Django ORM translation of JSON Logic): a negation (``!``
and ``!=``) keeps the rows whose value is NULL, ``==`` null means IS NULL, a bare
``{"var": f}`` means "is set" (not NULL and, for text, not the empty string), and
``{"in": ["text", {"var": f}]}`` is a case-insensitive substring test. Values are coerced to
the column's type, so a bad value is a 400 naming the field, never a database error.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NoReturn, TypeAlias

from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    Enum,
    Integer,
    Numeric,
    String,
    TypeDecorator,
    and_,
    cast,
    false,
    func,
    not_,
    or_,
    true,
)
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import TypeEngine

from labelbay.errors import Invalid

if TYPE_CHECKING:
    from labelbay.api.querying import ListSpec

Condition: TypeAlias = "ColumnElement[bool]"

_MAX_FILTER_DEPTH = 64
_INT_RE = re.compile(r"[+-]?[0-9]+")
_TRUE_WORDS = frozenset({"true", "1", "yes", "on"})
_FALSE_WORDS = frozenset({"false", "0", "no", "off"})
_INT_MIN, _INT_MAX = -(2**63), 2**63 - 1


def compile_filter(spec: ListSpec, text: str) -> Condition:
    """The SQL condition for one ``filter=`` JSON Logic document."""
    return _FilterCompiler(spec).compile_text(text)


def as_text(expr: ColumnElement[Any]) -> ColumnElement[Any]:
    kind = _kind(expr.type)
    return expr if kind in ("str", "enum") else cast(expr, String)


def coerce_param(param: str, type_: TypeEngine[Any], raw: str) -> Any:
    """A plain query parameter's value as the column's type (400 naming ``param`` if not)."""
    return _coerce_param(param, type_, raw)


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
        return as_text(var.expr).icontains(fragment, autoescape=True)


def _negate(condition: Condition) -> Condition:
    """NOT that also keeps rows where `condition` is NULL (e.g. compares a NULL column)."""
    return not_(func.coalesce(condition, false()))
