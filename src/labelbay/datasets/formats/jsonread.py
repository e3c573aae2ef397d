"""Streaming JSON reading for the dataset importers (ijson, backend yajl2_c).

A COCO or Datumaro file is a JSON object with a few small sections (COCO's ``categories`` and
``images``, Datumaro's ``categories``) and one huge array (COCO's ``annotations``, Datumaro's
``items``). :func:`read_sections` reads the small sections whole and hands the elements of the
array to a callback one at a time, so an import never holds the parsed array.

JSON allows any key order (the official COCO files put ``categories`` last), so the stream is
read from its start (``seek(0)``, which a zip member allows too) a few times, each only as far
as needed: the top-level layout up to the array, each small section up to its end, then the
array's elements to the end. When the small sections come first, as Labelbay and CVAT write
them, the extra reads stop early.

Bad input is an :class:`Invalid` naming the file and the place: the field path
(:class:`JsonFields`) or, for malformed JSON, the line and column (worked out from the text
yajl quotes around the error; when that text cannot be found, the byte range being parsed).
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Sequence
from typing import IO, Any

import ijson

from labelbay.errors import Invalid

CHUNK_SIZE = 64 * 1024
"""Bytes read from the stream (and given to the parsers) at a time."""

ElementHandler = Callable[[Any, int], None]
"""Called with each element of the big array and its index."""


class JsonFields:
    """Typed access to JSON fields, failing with the file and field path.

    ``note`` (say ``" (annotation id 7)"``) is added to every message while it is set.
    """

    def __init__(self, file: str) -> None:
        self.file = file
        self.note = ""

    def fail(self, where: str, problem: str) -> Invalid:
        return Invalid(f"{self.file}: {where}: {problem}{self.note}", file=self.file, field=where)

    def get(self, obj: Any, key: str, where: str, kind: type | tuple[type, ...]) -> Any:
        if not isinstance(obj, dict):
            raise self.fail(where, "expected an object")
        if key not in obj:
            raise self.fail(f"{where}.{key}", "is missing")
        return self.check(obj[key], f"{where}.{key}", kind)

    def check(self, value: Any, where: str, kind: type | tuple[type, ...]) -> Any:
        if type(value) is kind:  # the common case, quickly
            return value
        if kind in (int, float, (int, float)):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise self.fail(where, f"expected a number, got {value!r:.40}")
            if kind is int and not float(value).is_integer():
                raise self.fail(where, f"expected an integer, got {value!r}")
            return int(value) if kind is int else float(value)
        if not isinstance(value, kind):
            wanted = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
            names = {"dict": "an object", "list": "a list", "str": "a string"}
            raise self.fail(where, f"expected {names.get(wanted, wanted)}")
        return value

    def numbers(self, value: Any, where: str) -> list[float]:
        """A list of numbers as floats (integral ones shared: see :func:`as_float`)."""
        self.check(value, where, list)
        if all(type(v) is float or type(v) is int for v in value):
            return [as_float(v) for v in value]
        return [self.check(v, f"{where}[{i}]", (int, float)) for i, v in enumerate(value)]


_SMALL_FLOATS = tuple(float(i) for i in range(4096))


def as_float(value: float) -> float:
    """``float(value)``, the same object for each integral value 0-4095: pixel coordinates
    often are, and 100,000 imported shapes hold about a million of them (24 bytes each)."""
    if type(value) is int:
        return _SMALL_FLOATS[value] if 0 <= value < 4096 else float(value)
    if 0.0 <= value < 4096.0 and value.is_integer():
        return _SMALL_FLOATS[int(value)]
    return float(value)


# --------------------------------------------------------------------------------------------
# Reading in sections
# --------------------------------------------------------------------------------------------


def read_sections(
    file: str,
    stream: IO[bytes],
    *,
    small: Sequence[str],
    big: str,
    start: Callable[[dict[str, Any]], ElementHandler],
    big_required: bool = False,
) -> None:
    """Reads the JSON object in ``stream``: the values of its top-level keys ``small`` whole,
    the elements of the array under the key ``big`` one at a time.

    ``start`` is called once with the small values found (a key the file lacks is absent),
    before any element and also when the array is empty or missing; it returns the handler
    for the elements. ``Invalid`` when the document is not an object, ``big`` is not an array
    (or is missing while ``big_required``), or the JSON is malformed or cut short.

    (ijson's generators, which run in C, are used pass after pass: they are about twice as
    fast as its coroutines fed one pass together.)
    """
    f = JsonFields(file)
    text = _Chunks(stream)
    try:
        has_big = _layout(f, text, big)
        if big_required and not has_big:
            raise f.fail(f"top level.{big}", "is missing")
        found: dict[str, Any] = {}
        for key in small:
            text.rewind()
            for value in ijson.items(text, key, use_float=True, buf_size=CHUNK_SIZE):
                found[key] = value
                break
        handler = start(found)
        text.rewind()
        elements = ijson.items(text, f"{big}.item", use_float=True, buf_size=CHUNK_SIZE)
        for index, element in enumerate(elements):
            handler(element, index)
    except ijson.JSONError as error:
        raise _malformed(file, error, text) from None


def _layout(f: JsonFields, text: _Chunks, big: str) -> bool:
    """Checks that the document is an object and its ``big`` (if there) an array; reads only
    up to the array's start. Whether the document has ``big``."""
    events = ijson.parse(text, use_float=True, buf_size=CHUNK_SIZE)
    for _prefix, event, _value in events:
        if event != "start_map":
            raise f.fail("top level", "expected an object")
        break
    awaiting = False
    for prefix, event, value in events:
        if awaiting:
            if event != "start_array":
                raise f.fail(f"top level.{big}", "expected a list")
            return True
        awaiting = event == "map_key" and prefix == "" and value == big
    return False


# --------------------------------------------------------------------------------------------
# Where a syntax error is
# --------------------------------------------------------------------------------------------


class _Chunks:
    """A binary stream as ijson reads it, in chunks, remembering where the current chunk
    begins (for the line and column of a syntax error)."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.stream = stream
        self.rewind(seek=False)

    def rewind(self, *, seek: bool = True) -> None:
        if seek:
            self.stream.seek(0)
        self.chunk = b""
        self.offset = 0  # of the current chunk in the stream
        self.lines = 0  # line breaks before it
        self.column = 0  # bytes after the last line break before it

    def read(self, size: int = -1) -> bytes:
        """What ijson reads through (it asks for ``read(0)`` first, to see bytes or text)."""
        if size == 0:
            return b""
        self._past()
        self.chunk = self.stream.read(size)
        return self.chunk

    def _past(self) -> None:
        chunk = self.chunk
        breaks = chunk.count(b"\n")
        if breaks:
            self.lines += breaks
            self.column = len(chunk) - chunk.rfind(b"\n") - 1
        else:
            self.column += len(chunk)
        self.offset += len(chunk)
        self.chunk = b""

    def line_column(self, at: int) -> tuple[int, int]:
        """The line and column (from 1; the column counts bytes) of byte ``at`` of the current
        chunk."""
        head = self.chunk[:at]
        breaks = head.count(b"\n")
        if breaks:
            return self.lines + breaks + 1, at - head.rfind(b"\n")
        return self.lines + 1, self.column + at + 1


_CARET = 40
"""yajl quotes up to 30 bytes either side of an error, padded so that the error's byte is in
this column (under the caret of its ``(right here) ------^`` line), line breaks as spaces."""


def _message_bytes(error: Exception) -> bytes:
    text = str(error)
    if text[:2] in ("b'", 'b"'):  # ijson gives the repr when the quote is not UTF-8
        try:
            found = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            return text.encode()
        if isinstance(found, bytes):
            return found
    return text.encode()


def _locate(quote: bytes, chunk: bytes) -> int | None:
    """The offset in ``chunk`` of the error yajl quoted as ``quote``, when only one fits."""
    flat = chunk.replace(b"\n", b" ").replace(b"\r", b" ")
    fits: set[int] = set()
    for at in range(min(30, len(flat) + 1)):  # near the chunk's start: more padding
        if quote == b" " * (_CARET - at) + flat[: at + 30]:
            fits.add(at)
    body = quote[10:]
    if quote.startswith(b" " * 10) and len(body) >= 30:
        found = flat.find(body)
        while found >= 0 and len(fits) < 2:
            at = found + 30
            if len(body) == min(at + 30, len(flat)) - found:
                fits.add(at)
            found = flat.find(body, found + 1)
    return fits.pop() if len(fits) == 1 else None


def _malformed(file: str, error: Exception, text: _Chunks) -> Invalid:
    lines = _message_bytes(error).split(b"\n")
    reason = lines[0].decode(errors="replace")
    for prefix in ("parse error: ", "lexical error: "):
        reason = reason.removeprefix(prefix)
    reason = reason.rstrip(".")
    if reason == "premature EOF":
        line, column = text.line_column(len(text.chunk))
        return Invalid(
            f"{file}: line {line}, column {column}: the JSON ends too early "
            "(the file may be truncated)",
            file=file,
            line=line,
        )
    at = _locate(lines[1], text.chunk) if len(lines) > 2 else None
    if at is None:
        end = text.offset + len(text.chunk)
        return Invalid(
            f"{file}: malformed JSON ({reason}) between bytes {text.offset} and {end}", file=file
        )
    line, column = text.line_column(max(at - 1, 0))  # yajl stops just past the bad byte
    return Invalid(
        f"{file}: line {line}, column {column}: malformed JSON ({reason})", file=file, line=line
    )
