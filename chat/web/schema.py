"""JSON in and out: request bodies into typed commands, results into JSON, both into JSON Schema.

``parse(cls, value)`` accepts only a JSON object whose keys are fields of the
command dataclass ``cls``, each of the declared type (``bool`` is not an
``int``); anything else is an ``Invalid`` naming the field. The command's own
``Checked.__post_init__`` then applies its limits. ``json_schema(cls)`` gives
the OpenAPI schema of the same dataclass, so the docs cannot drift from the
checks.

``loads(raw)`` is the one JSON reader of untrusted text (REST bodies and
websocket frames): strict JSON (no ``NaN``), at most :data:`MAX_DEPTH` levels
of nesting, integers beyond 64 bits read as out of range without the
quadratic cost of converting thousands of digits, and no lone UTF-16
surrogate anywhere (``"\\ud800"`` is valid JSON syntax but no text: nothing
downstream could encode it).
"""

from __future__ import annotations

import dataclasses
import json
import re
import types
from collections.abc import Iterator
from datetime import datetime
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

from chat.errors import Invalid
from chat.validation import INT64_MAX, INT64_MIN, Limits
from chat.validation import to_json as to_json  # results into JSON: defined below every layer that needs it

T = TypeVar("T")

_MISSING = dataclasses.MISSING

_SURROGATE = re.compile("[\ud800-\udfff]")
MAX_DEPTH = 32  # commands nest two levels (an object holding a list); 32 is generous
_INT64_DIGITS = len(str(INT64_MAX))
_BEYOND_INT64 = 2**64  # any value outside the 64-bit range: Checked answers out_of_range


class JsonError(ValueError):
    """Text that is not JSON this server reads (syntax, depth); the message says why."""


def _parse_int(digits: str) -> int:
    if len(digits.lstrip("-").lstrip("0")) > _INT64_DIGITS:
        return -_BEYOND_INT64 if digits.startswith("-") else _BEYOND_INT64
    return int(digits)


def _no_constant(name: str) -> Any:
    raise JsonError(f"{name} is not JSON")


def loads(raw: str | bytes) -> Any:
    """Untrusted JSON text into Python values; ``JsonError`` on bad syntax or nesting deeper than
    :data:`MAX_DEPTH`. Call :func:`refuse_surrogates` on the result before using any string."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        value = json.loads(text, parse_int=_parse_int, parse_constant=_no_constant)
    except UnicodeDecodeError:
        raise JsonError("not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise JsonError(str(exc)) from None
    except RecursionError:
        raise JsonError(f"nested deeper than {MAX_DEPTH} levels") from None
    for item, depth, _top in _walk(value):
        if depth >= MAX_DEPTH and isinstance(item, dict | list):  # depth: the containers around it
            raise JsonError(f"nested deeper than {MAX_DEPTH} levels")
    return value


def refuse_surrogates(value: Any) -> None:
    """``Invalid("bad_format")`` for a lone surrogate in any string or key (``field``: the top-level key)."""
    for item, _depth, top in _walk(value):
        texts = [item] if isinstance(item, str) else list(item) if isinstance(item, dict) else []
        if any(_SURROGATE.search(text) for text in texts):
            where = {"field": top} if top is not None else {}
            raise Invalid("bad_format", f"{top or 'the JSON'} has a lone UTF-16 surrogate: not text", **where)


def _walk(value: Any) -> Iterator[tuple[Any, int, str | None]]:
    """Every value of a JSON tree with its depth and the top-level key it sits under, without recursion."""
    todo: list[tuple[Any, int, str | None]] = [(value, 0, None)]
    while todo:
        item, depth, top = todo.pop()
        yield item, depth, top
        if isinstance(item, dict):
            todo.extend((child, depth + 1, key if top is None else top) for key, child in item.items())
        elif isinstance(item, list):
            todo.extend((child, depth + 1, top) for child in item)


def parse(cls: type[T], value: Any) -> T:
    if not isinstance(value, dict):
        raise Invalid("invalid_body", "the request body must be a JSON object")
    hints, fields = _shape(cls)
    unknown = sorted(set(value) - set(fields))
    if unknown:
        raise Invalid("unknown_field", f"unknown field: {unknown[0]}", field=unknown[0])
    kwargs: dict[str, Any] = {}
    for name, f in fields.items():
        if name not in value:
            if f.default is _MISSING and f.default_factory is _MISSING:
                raise Invalid("missing_field", f"{name} is required", field=name)
            continue
        kwargs[name] = _coerce(name, hints[name], value[name])
    return cls(**kwargs)


_Shape = tuple[dict[str, Any], dict[str, "dataclasses.Field[Any]"]]
_SHAPES: dict[type[Any], _Shape] = {}


def _shape(cls: type[Any]) -> _Shape:
    """A command class's field types and fields, read once (``get_type_hints`` costs more than a parse)."""
    shape = _SHAPES.get(cls)
    if shape is None:
        shape = _SHAPES[cls] = (get_type_hints(cls), {f.name: f for f in dataclasses.fields(cls)})
    return shape


def _coerce(name: str, hint: Any, value: Any) -> Any:
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        options = get_args(hint)
        if value is None and type(None) in options:
            return None
        errors: list[Invalid] = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _coerce(name, option, value)
            except Invalid as exc:
                errors.append(exc)
        raise errors[0]
    if origin is Literal:
        if value not in get_args(hint) or isinstance(value, bool) != any(isinstance(a, bool) for a in get_args(hint)):
            allowed = ", ".join(repr(a) for a in get_args(hint))
            raise Invalid("wrong_value", f"{name} must be one of {allowed}", field=name)
        return value
    if origin in (list, tuple):
        (item,) = get_args(hint)[:1]
        if not isinstance(value, list):
            raise Invalid("wrong_type", f"{name} must be a list", field=name)
        items = [_coerce(name, item, v) for v in value]
        return items if origin is list else tuple(items)
    if hint is bool:
        if not isinstance(value, bool):
            raise Invalid("wrong_type", f"{name} must be true or false", field=name)
        return value
    if hint is int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise Invalid("wrong_type", f"{name} must be an integer", field=name)
        return value
    if hint is str:
        if not isinstance(value, str):
            raise Invalid("wrong_type", f"{name} must be a string", field=name)
        return value  # NUL characters and surrogates: Checked refuses them in every field
    raise TypeError(f"unsupported field type {hint!r} for {name}")


def json_schema(hint: Any, components: dict[str, Any] | None = None) -> dict[str, Any]:
    """The JSON Schema of a type; dataclasses become ``$ref``s collected in ``components``."""
    comps = components if components is not None else {}
    origin = get_origin(hint)
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        name = hint.__name__
        if name not in comps:
            comps[name] = {}  # placeholder against recursion
            hints = get_type_hints(hint)
            props: dict[str, Any] = {}
            required: list[str] = []
            for f in dataclasses.fields(hint):
                prop = json_schema(hints[f.name], comps)
                lim: Limits | None = f.metadata.get("limits")
                if lim is not None:
                    prop = {**prop, **_limit_schema(lim)}
                props[f.name] = prop
                if f.default is _MISSING and f.default_factory is _MISSING:
                    required.append(f.name)
            schema: dict[str, Any] = {"type": "object", "properties": props, "additionalProperties": False}
            if required:
                schema["required"] = required
            if hint.__doc__ and not hint.__doc__.startswith(f"{name}("):
                schema["description"] = " ".join(hint.__doc__.split())
            comps[name] = schema
        return {"$ref": f"#/components/schemas/{name}"}
    if origin in (Union, types.UnionType):
        options = [a for a in get_args(hint) if a is not type(None)]
        nullable = len(options) < len(get_args(hint))
        schemas = [json_schema(a, comps) for a in options]
        if nullable:
            schemas.append({"type": "null"})
        return schemas[0] if len(schemas) == 1 else {"anyOf": schemas}
    if origin is Literal:
        return {"enum": list(get_args(hint))}
    if origin in (list, tuple):
        args = [a for a in get_args(hint) if a is not Ellipsis]
        return {"type": "array", "items": json_schema(args[0], comps) if args else {}}
    if origin is dict:
        return {"type": "object"}
    if hint is int:  # every integer field is 64-bit (Checked)
        return {"type": "integer", "minimum": INT64_MIN, "maximum": INT64_MAX}
    simple = {str: "string", bool: "boolean", float: "number"}
    if hint in simple:
        return {"type": simple[hint]}
    if hint is datetime:
        return {"type": "string", "format": "date-time"}
    if hint is Any:
        return {}
    raise TypeError(f"no JSON schema for {hint!r}")


def _limit_schema(lim: Limits) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, attr in (
        ("minLength", "min_len"),
        ("maxLength", "max_len"),
        ("pattern", "pattern"),
        ("minimum", "minimum"),
        ("maximum", "maximum"),
        ("maxItems", "max_items"),
        ("minItems", "min_items"),
    ):
        value = getattr(lim, attr)
        if value is not None:
            out[key] = value
    if lim.description:
        out["description"] = lim.description
    return out
