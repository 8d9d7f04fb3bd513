"""Energy tables: what one operation costs, for the estimated energy of a cell.

A suite picks a table by name, or writes one of its own, in ``[energy]``::

    [energy]
    table = "horowitz-45nm-int8"      # a built-in table

    [energy]
    table = "my-28nm-sram"            # a table of one's own: every constant, in pJ
    mac_pj = 1.2
    ac_pj = 0.2
    neuron_op_pj = 0.2
    byte_pj = 5.0
    source = "our synthesis, 28 nm, 0.9 V"

Without ``[energy]`` a suite gets :data:`DEFAULT` (Horowitz's 45 nm fp32
figures, which most SNN papers quote). The built-in tables are Horowitz's
45 nm arithmetic (ISSCC 2014): a MAC is a multiplication and an addition,
an AC an addition; a neuron operation is charged as an addition, which
under-charges the leak's one multiplication an update (docs/energy.md); a
byte of memory traffic costs SpikingJelly 2.0's 24.96 pJ (3.12 pJ a bit,
the figure its simple energy model takes from STEP), whatever the precision.

A table's name and constants are recorded with every row; a table other
than the default also enters the cell's config (:class:`snnbench.api.records.Cell`),
so rows priced under other constants are other cells.
"""

from __future__ import annotations

import math
from typing import Any

from snnbench.api.errors import SnnbenchError, did_you_mean
from snnbench.api.records import EnergyTable

#: the constants every table gives, in picojoules
CONSTANTS = ("mac_pj", "ac_pj", "neuron_op_pj", "byte_pj")
KEYS = ("table", *CONSTANTS, "source")

_HOROWITZ = ("M. Horowitz, Computing's energy problem (and what we can do about it), ISSCC 2014, "
             "45 nm: {mult} pJ multiply + {add} pJ add; memory 24.96 pJ/byte as SpikingJelly 2.0's "
             "simple energy model (3.12 pJ/bit)")


def _horowitz(precision: str, mult: float, add: float) -> EnergyTable:
    return EnergyTable(f"horowitz-45nm-{precision}", mac_pj=round(mult + add, 6), ac_pj=add, neuron_op_pj=add,
                       byte_pj=24.96, source=_HOROWITZ.format(mult=mult, add=add))


BUILT_IN: dict[str, EnergyTable] = {table.name: table for table in (
    _horowitz("fp32", 3.7, 0.9),
    _horowitz("fp16", 1.1, 0.4),
    _horowitz("int8", 0.2, 0.03),
)}
DEFAULT = BUILT_IN["horowitz-45nm-fp32"]


class EnergyTableError(SnnbenchError):
    """A bad ``[energy]`` table: ``key`` and ``value`` name what is wrong."""

    def __init__(self, message: str, key: str, value: Any = None, hint: str | None = None):
        super().__init__(message)
        self.key, self.value, self.hint = key, value, hint


def energy_table(table: dict[str, Any]) -> EnergyTable | None:
    """The table a suite's ``[energy]`` asks for; None for the default (or
    no ``[energy]``), which keeps the suite's cells as they were."""
    for key, value in table.items():
        if key not in KEYS:
            suggestion = did_you_mean(key, KEYS)
            raise EnergyTableError("unknown key", key, value,
                                   f"did you mean {suggestion!r}?" if suggestion else f"keys: {', '.join(KEYS)}")
    given = [c for c in CONSTANTS if c in table]
    if "table" not in table:
        if not table:
            return None
        raise EnergyTableError("a table of your own needs a name", "table",
                               hint='add table = "NAME" (a name other than the built-in tables)')
    name = table["table"]
    if not isinstance(name, str) or not name.strip():
        raise EnergyTableError("must be a non-empty string", "table", name)
    if name in BUILT_IN:
        if given or "source" in table:
            raise EnergyTableError(f"{name!r} is a built-in table; its constants cannot be changed",
                                   (given or ["source"])[0], table.get((given or ["source"])[0]),
                                   "give your table its own name")
        return None if BUILT_IN[name] == DEFAULT else BUILT_IN[name]
    if not given:
        suggestion = did_you_mean(name, BUILT_IN)
        raise EnergyTableError("unknown energy table", "table", name,
                               f"did you mean {suggestion!r}?" if suggestion else
                               f"built-in tables: {', '.join(BUILT_IN)}; or give every constant "
                               f"({', '.join(CONSTANTS)}) for a table of your own")
    missing = [c for c in CONSTANTS if c not in table]
    if missing:
        raise EnergyTableError(f"energy table {name!r} lacks {', '.join(missing)}", "table", name,
                               f"a table of your own gives every constant in pJ: {', '.join(CONSTANTS)}")
    for constant in CONSTANTS:
        value = table[constant]
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
            raise EnergyTableError("must be a finite number of picojoules >= 0", constant, value)
    source = table.get("source", "")
    if not isinstance(source, str):
        raise EnergyTableError("must be a string", "source", source)
    return EnergyTable(name, **{c: float(table[c]) for c in CONSTANTS}, source=source)
