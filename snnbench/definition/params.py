"""TOML tables to frozen dataclasses and back.

A component's params class is a frozen dataclass whose fields are exactly
its TOML keys. This module turns a table into an instance with every error
naming the key and the bad value, and describes a class for ``snnbench ls``.
A field's help text and range live in its metadata (:func:`snnbench.api.param`).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import Any, Literal

from snnbench.api.errors import did_you_mean
from snnbench.api.params import bounds_of, describe_bounds, out_of_bounds

#: the largest float32: a param beyond it overflows as soon as torch uses it
FLOAT32_MAX = 3.4028234663852886e38


class ParamError(ValueError):
    """One bad key; the caller adds the file and table it came from."""

    def __init__(self, key: str | None, value: object, message: str, hint: str | None = None):
        self.key, self.value, self.hint = key, value, hint
        super().__init__(message)


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _coerce(key: str, value: object, hint: Any) -> object:
    """``value`` as type ``hint``, or a ParamError saying what was expected."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _coerce(key, value, arg)
            except ParamError as error:
                errors.append(str(error))
        raise ParamError(key, value, " or ".join(errors))
    if origin is Literal:
        if value in args:
            return value
        suggestion = did_you_mean(str(value), [str(a) for a in args])
        raise ParamError(key, value, f"must be one of {', '.join(map(repr, args))}",
                         f"did you mean {suggestion!r}?" if suggestion else None)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ParamError(key, value, "must be a list")
        item = args[0] if args else Any
        return tuple(_coerce(key, v, item) for v in value)
    if hint is Any:
        return value
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise ParamError(key, value, "must be true or false")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ParamError(key, value, "must be an integer")
    if hint is float:
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise ParamError(key, value, "must be a number")
        if not abs(value) <= FLOAT32_MAX:  # TOML has inf and nan; torch computes in float32
            raise ParamError(key, value, f"must be a finite number, within float32's ±{FLOAT32_MAX:.4g}")
        return float(value)
    if hint is str:
        if isinstance(value, str):
            return value
        raise ParamError(key, value, "must be a string")
    raise TypeError(f"params field {key!r} has a type snnbench cannot read from TOML: {hint!r}")


def parse_params(cls: type, table: Mapping[str, object] | None) -> Any:
    """An instance of the frozen dataclass ``cls`` from a TOML table.

    Unknown keys, wrong types, values outside a field's declared range and
    values the class's ``__post_init__`` (cross-field rules) rejects all
    raise :class:`ParamError`.
    """
    table = dict(table or {})
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    hints = _hints(cls)
    for key, value in table.items():
        if key not in fields:
            suggestion = did_you_mean(key, fields)
            raise ParamError(key, value, "unknown key",
                             f"did you mean {suggestion!r}?" if suggestion
                             else f"valid keys: {', '.join(fields) or 'none'}")
    values = {key: _coerce(key, value, hints[key]) for key, value in table.items()}
    missing = [name for name, f in fields.items()
               if name not in values and f.default is dataclasses.MISSING
               and f.default_factory is dataclasses.MISSING]
    if missing:
        raise ParamError(missing[0], None, "is required")
    for key, value in values.items():
        bounds = bounds_of(fields[key])
        if out_of_bounds(value, bounds):
            each = "each item " if isinstance(value, tuple) else ""
            raise ParamError(key, table[key], f"{each}must lie in {describe_bounds(bounds)}" if len(bounds) > 1
                             else f"{each}must be {describe_bounds(bounds)}")
    try:
        return cls(**values)
    except (ValueError, TypeError) as error:
        raise ParamError(getattr(error, "key", None), None, str(error)) from None


def describe_params(cls: type) -> list[dict[str, str]]:
    """Rows of name, type, default, range (of each item, for a list) and help
    text for each key of ``cls``."""
    hints = _hints(cls)
    rows = []
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        default = f.default if f.default is not dataclasses.MISSING else (
            f.default_factory() if f.default_factory is not dataclasses.MISSING else "required")
        bounds = describe_bounds(bounds_of(f))
        if bounds and typing.get_origin(hints[f.name]) is tuple:
            bounds = f"each {bounds}"
        rows.append({"name": f.name, "type": _type_name(hints[f.name]), "default": repr(default),
                     "range": bounds, "help": f.metadata.get("help", "")})
    return rows


def _type_name(hint: Any) -> str:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Literal:
        return " | ".join(repr(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type_name(a) for a in args)
    if origin is tuple:
        return f"list[{_type_name(args[0])}]" if args else "list"
    if hint is type(None):
        return "none"
    return getattr(hint, "__name__", str(hint))
