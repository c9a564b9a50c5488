"""JSON in and out: request bodies into typed commands, results into JSON, both into JSON Schema.

``parse(cls, value)`` accepts only a JSON object whose keys are fields of the
command dataclass ``cls``, each of the declared type (``bool`` is not an
``int``); anything else is an ``Invalid`` naming the field. The command's own
``Checked.__post_init__`` then applies its limits. ``json_schema(cls)`` gives
the OpenAPI schema of the same dataclass, so the docs cannot drift from the
checks.
"""

from __future__ import annotations

import dataclasses
import types
from datetime import datetime
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

from chat.errors import Invalid
from chat.validation import Limits

T = TypeVar("T")

_MISSING = dataclasses.MISSING


def parse(cls: type[T], value: Any) -> T:
    if not isinstance(value, dict):
        raise Invalid("invalid_body", "the request body must be a JSON object")
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
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
        if "\x00" in value:
            raise Invalid("bad_format", f"{name} must not contain NUL characters", field=name)
        return value
    raise TypeError(f"unsupported field type {hint!r} for {name}")


def to_json(value: Any) -> Any:
    """Plain data (dataclasses, lists, datetimes) into JSON-ready values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, datetime):
        return value.isoformat()
    return value


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
    simple = {str: "string", int: "integer", bool: "boolean", float: "number"}
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
