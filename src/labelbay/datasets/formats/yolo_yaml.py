"""The small subset of YAML that Ultralytics' ``data.yaml`` needs, written and read without a
YAML library: top-level keys with scalars, flow lists and mappings, block sequences and block
mappings one level deep (comments and quoted strings included)."""

from __future__ import annotations

import json

from labelbay.datasets.formats.common import fail


def _quote(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def write_yaml(values: dict[str, object]) -> str:
    """Top-level keys with scalars, lists of scalars (flow style) or ``int -> scalar|list``
    mappings (block style): what data.yaml needs."""
    lines: list[str] = []
    for key, value in values.items():
        if isinstance(value, dict):
            lines.append(f"{key}:")
            for k, v in value.items():
                lines.append(f"  {k}: {_flow(v)}")
        else:
            lines.append(f"{key}: {_flow(value)}")
    return "\n".join(lines) + "\n"


def _flow(value: object) -> str:
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_flow(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return _quote(str(value))


def parse_yaml(text: str, file: str) -> dict[str, object]:
    """The top-level keys of a simple YAML mapping: scalars, flow lists and mappings, block
    sequences and block mappings one level deep. Enough for data.yaml."""
    result: dict[str, object] = {}
    key: str | None = None
    for number, raw in enumerate(text.splitlines(), 1):
        line = _uncomment(raw).rstrip()
        if not line.strip() or line.strip() in ("---", "..."):
            continue
        indented = line[0] in " \t"
        body = line.strip()
        if not indented:
            k, sep, rest = _split_key(body)
            if not sep:
                raise fail(file, f"expected 'key: value', got {body!r}", line=number)
            key = k
            rest = rest.strip()
            result[key] = _scalar_or_flow(rest, file, number) if rest else None
            continue
        if key is None:
            raise fail(file, f"unexpected indented line {body!r}", line=number)
        current = result.get(key)
        if body.startswith("- ") or body == "-":
            item = _scalar_or_flow(body[1:].strip(), file, number)
            if current is None:
                current = result[key] = []
            if not isinstance(current, list):
                raise fail(file, f"{key}: mixes a list and a mapping", line=number)
            current.append(item)
        else:
            k, sep, rest = _split_key(body)
            if not sep:
                raise fail(file, f"expected 'key: value' under {key}, got {body!r}", line=number)
            if current is None:
                current = result[key] = {}
            if not isinstance(current, dict):
                raise fail(file, f"{key}: mixes a list and a mapping", line=number)
            current[_scalar(k, file, number)] = _scalar_or_flow(rest.strip(), file, number)
    return result


def _uncomment(line: str) -> str:
    quote = ""
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1] in " \t"):
            return line[:i]
    return line


def _split_key(body: str) -> tuple[str, str, str]:
    if body[:1] in "\"'":
        end = body.find(body[0], 1)
        if end > 0 and body[end + 1 : end + 2] == ":":
            return body[: end + 1], ":", body[end + 2 :]
    k, sep, rest = body.partition(": ")
    if not sep and body.endswith(":"):
        return body[:-1], ":", ""
    return k, sep.strip(), rest


def _scalar(text: str, file: str, line: int) -> object:
    text = text.strip()
    if not text:
        return ""
    if text[0] == '"':
        try:
            return json.loads(text)
        except ValueError:
            raise fail(file, f"bad quoted string {text}", line=line) from None
    if text[0] == "'":
        if len(text) < 2 or text[-1] != "'":
            raise fail(file, f"bad quoted string {text}", line=line)
        return text[1:-1].replace("''", "'")
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def _scalar_or_flow(text: str, file: str, line: int) -> object:
    if text.startswith("[") or text.startswith("{"):
        close = "]" if text[0] == "[" else "}"
        if not text.endswith(close):
            raise fail(file, f"unterminated {text[0]}", line=line)
        items = _split_flow(text[1:-1], file, line)
        if text[0] == "[":
            return [_scalar_or_flow(item, file, line) for item in items]
        mapping: dict[object, object] = {}
        for item in items:
            k, sep, rest = _split_key(item)
            if not sep:
                raise fail(file, f"expected 'key: value' in {text}", line=line)
            mapping[_scalar(k, file, line)] = _scalar_or_flow(rest.strip(), file, line)
        return mapping
    return _scalar(text, file, line)


def _split_flow(text: str, file: str, line: int) -> list[str]:
    items, depth, quote, start = [], 0, "", 0
    for i, ch in enumerate(text):
        if quote:
            if ch == "\\" and quote == '"':
                continue
            if ch == quote and (quote != '"' or text[i - 1] != "\\"):
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        elif ch == "," and depth == 0:
            items.append(text[start:i].strip())
            start = i + 1
    if quote or depth:
        raise fail(file, "unbalanced brackets or quotes", line=line)
    last = text[start:].strip()
    if last:
        items.append(last)
    return items


def yaml_names(data: dict[str, object], file: str) -> list[str]:
    names = data.get("names")
    if isinstance(names, list):
        return [str(n) for n in names]
    if isinstance(names, dict):
        result: list[str] = []
        for k in sorted(names, key=lambda k: k if isinstance(k, int) else -1):
            if not isinstance(k, int) or k != len(result):
                raise fail(file, f"names: keys must be 0, 1, 2, ... (got {k!r})")
            result.append(str(names[k]))
        return result
    raise fail(file, "names: missing or not a list or mapping")
