"""How a component declares its params: a frozen dataclass whose fields are
exactly its TOML keys, each field's help text, range and choices declared
once in its metadata, where validation, ``snnbench ls`` and the docs all
read them.
"""

from __future__ import annotations

import dataclasses
from typing import Any


def params_to_dict(params: object) -> dict[str, object]:
    """The TOML-shaped dict of a params instance (tuples as lists)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(params).items()}


def hashed_params(params: object) -> dict[str, object]:
    """The part of :func:`params_to_dict` that enters a cell's config and hash:
    every key, except a field whose metadata says ``hashed_when_default =
    False`` while it holds its default. A param added after rows were recorded
    is marked so, and every existing cell keeps its hash (and its rows and
    baselines)."""
    fields = {f.name: f for f in dataclasses.fields(params)}
    return {key: value for key, value in params_to_dict(params).items()
            if fields[key].metadata.get("hashed_when_default", True) or value != _default(fields[key])}


def _default(field: dataclasses.Field) -> object:
    default = field.default_factory() if field.default_factory is not dataclasses.MISSING else field.default
    return list(default) if isinstance(default, tuple) else default


def param(default: Any = dataclasses.MISSING, help: str = "", *, gt: float | None = None, ge: float | None = None,
          lt: float | None = None, le: float | None = None, default_factory: Any = dataclasses.MISSING) -> Any:
    """A params field with its help text and range, declared once.

    ``gt``/``ge``/``lt``/``le`` bound the value (each item of a list);
    a suite's value outside them is an error naming the file, key, value and
    range, and ``snnbench ls`` and the docs show the range beside the help::

        beta: float = param(0.5, "membrane decay per step", gt=0, lt=1)
    """
    metadata = {"help": help} | {key: bound for key, bound in
                                 (("gt", gt), ("ge", ge), ("lt", lt), ("le", le)) if bound is not None}
    return dataclasses.field(default=default, default_factory=default_factory, metadata=metadata)


def bounds_of(field: dataclasses.Field) -> dict[str, float]:
    """The range a field declares: its ``gt``/``ge``/``lt``/``le`` metadata."""
    return {key: field.metadata[key] for key in ("gt", "ge", "lt", "le") if key in field.metadata}


def describe_bounds(bounds: dict[str, float]) -> str:
    """A range as people write it: ``(0, 1)``, ``[1, inf)``, ``> 0``."""
    if not bounds:
        return ""
    low = ("(", bounds["gt"]) if "gt" in bounds else ("[", bounds["ge"]) if "ge" in bounds else None
    high = (")", bounds["lt"]) if "lt" in bounds else ("]", bounds["le"]) if "le" in bounds else None
    if low and high:
        return f"{low[0]}{low[1]:g}, {high[1]:g}{high[0]}"
    if low:
        return f"{'>' if low[0] == '(' else '>='} {low[1]:g}"
    return f"{'<' if high[0] == ')' else '<='} {high[1]:g}"


def out_of_bounds(value: object, bounds: dict[str, float]) -> bool:
    """Whether ``value`` (a number, a list of them, or None) breaks ``bounds``."""
    if value is None or isinstance(value, (str, bool)):
        return False
    if isinstance(value, (list, tuple)):
        return any(out_of_bounds(item, bounds) for item in value)
    checks = {"gt": lambda b: value > b, "ge": lambda b: value >= b, "lt": lambda b: value < b,
              "le": lambda b: value <= b}
    return not all(checks[key](bound) for key, bound in bounds.items())
