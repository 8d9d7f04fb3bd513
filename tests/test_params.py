"""Every params range is declared once, in its field's metadata, and holds.

Parametrized over the params classes of every registered component (and the
``[training]`` table), found through the plugin registries, so a component
added later is checked without touching this file.
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing

import pytest

from snnbench.api import TrainingConfig
from snnbench.api.contracts import PLUGIN_KINDS
from snnbench.api.params import bounds_of, describe_bounds, hashed_params, out_of_bounds
from snnbench.definition.params import ParamError, describe_params, parse_params
from snnbench.definition.plugins import load_plugins


def _params_classes() -> dict[str, type]:
    registries = load_plugins().registries
    classes = {"training": TrainingConfig}
    for kind in PLUGIN_KINDS:
        for entry in registries[kind]:
            classes.setdefault(f"{kind}.{entry.name}", entry.spec.params)
    return classes


PARAMS = _params_classes()
BOUNDED = [(name, field.name) for name, cls in PARAMS.items()
           for field in dataclasses.fields(cls) if bounds_of(field)]


def _number_type(hint) -> type:
    """The number type a field holds (each item's, for a list)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is tuple:
        return _number_type(args[0])
    if origin in (typing.Union, types.UnionType):
        return next(_number_type(arg) for arg in args if arg is not type(None))
    return hint


def _just_outside(bound: str, limit: float, number: type) -> float:
    """The nearest value of type ``number`` that breaks one bound."""
    if bound in ("gt", "lt"):
        return number(limit)
    step = -1 if bound == "ge" else 1
    return limit + step if number is int else math.nextafter(limit, step * math.inf)


def test_the_meta_test_sees_every_family():
    assert {name.split(".")[0] for name, _ in BOUNDED} >= {
        "training", "dataset", "encoder", "neuron", "architecture", "learning_rule"}
    assert len(BOUNDED) >= 60


@pytest.mark.parametrize("component, key", BOUNDED, ids=[f"{c}.{k}" for c, k in BOUNDED])
def test_a_value_just_outside_each_bound_is_refused_by_name(component, key):
    cls = PARAMS[component]
    field = next(f for f in dataclasses.fields(cls) if f.name == key)
    hint = typing.get_type_hints(cls)[key]
    bounds = bounds_of(field)
    for bound, limit in bounds.items():
        value = _just_outside(bound, limit, _number_type(hint))
        table = {key: [value] if typing.get_origin(hint) is tuple else value}
        with pytest.raises(ParamError) as error:
            parse_params(cls, table)
        assert error.value.key == key and error.value.value == table[key]
        assert describe_bounds(bounds) in str(error.value), (bound, value, str(error.value))


@pytest.mark.parametrize("component", PARAMS)
def test_defaults_lie_inside_their_bounds(component):
    cls = PARAMS[component]
    defaults = cls()
    for field in dataclasses.fields(cls):
        assert not out_of_bounds(getattr(defaults, field.name), bounds_of(field)), field.name


@pytest.mark.parametrize("component", PARAMS)
def test_an_overridden_field_keeps_its_parents_bounds(component):
    """A subclass that redeclares a field (a new default or help text) must not
    drop the range its parent declared: the check would silently vanish."""
    cls = PARAMS[component]
    for field in dataclasses.fields(cls):
        for base in cls.__mro__[1:]:
            inherited = getattr(base, "__dataclass_fields__", {}).get(field.name)
            if inherited is not None:
                assert bounds_of(inherited).items() <= bounds_of(field).items(), (base.__name__, field.name)


def test_ls_rows_show_the_range_of_each_item():
    rows = {row["name"]: row for row in describe_params(PARAMS["architecture.nmnist-resnet"])}
    assert rows["dropout"]["range"] == "[0, 1)"
    assert rows["channels"]["range"] == "each >= 1"
    assert rows["slope"]["range"] == "> 0"


def test_cross_field_rules_stay_with_the_class():
    with pytest.raises(ParamError, match="alpha must be larger than beta"):
        parse_params(PARAMS["neuron.snntorch-alpha"], {"alpha": 0.5, "beta": 0.6})
    with pytest.raises(ParamError, match="kernel_sizes needs one kernel per conv block"):
        parse_params(PARAMS["architecture.nmnist-cnn"], {"channels": [8], "kernel_sizes": [3, 3]})
    with pytest.raises(ParamError, match="multistep' needs lr_milestones"):
        parse_params(TrainingConfig, {"lr_schedule": "multistep"})


@pytest.mark.parametrize("name", sorted(PARAMS))
def test_defaults_hash_the_same_after_a_round_trip_through_json(name):
    """A cell's identity is the hash of its params as JSON. A default whose
    values are not of the declared type (an int where the field holds floats)
    hashes differently from the same value written in a suite file or read
    back from a kept model, whose parsing coerces it: one cell, two hashes,
    and its kept model would not rebuild."""
    cls = PARAMS[name]
    written = hashed_params(cls())
    parsed = parse_params(cls, json.loads(json.dumps(written)))
    assert json.dumps(hashed_params(parsed), sort_keys=True) == json.dumps(written, sort_keys=True)
