"""``--only KIND=NAME``: run some cells of a suite without writing another
suite file.

A check on one encoder of a five-encoder suite, or a rerun of the one cell
that failed, should not need a copy of the suite that drifts from it. The
cells kept are the suite's own (same config, same hash), so their rows are
the suite's rows, and a later full run skips them as already recorded.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from snnbench.api.contracts import KINDS
from snnbench.api.errors import SnnbenchError
from snnbench.api.records import Suite


@dataclasses.dataclass(frozen=True)
class CellFilter:
    """Names each kind must have (a cell is kept when, for every kind named,
    its component is one of the names given for that kind)."""

    wanted: tuple[tuple[str, frozenset[str]], ...]

    @classmethod
    def parse(cls, terms: Sequence[str]) -> CellFilter:
        wanted: dict[str, set[str]] = {}
        for term in terms:
            kind, _, name = term.partition("=")
            kind, name = kind.strip(), name.strip()
            if not name or kind not in KINDS:
                raise SnnbenchError(f"--only {term!r}: write KIND=NAME with KIND one of {', '.join(KINDS)}, "
                                    "e.g. --only encoder=rate")
            wanted.setdefault(kind, set()).add(name)
        return cls(tuple((kind, frozenset(names)) for kind, names in wanted.items()))

    def keeps(self, components: dict[str, str]) -> bool:
        return all(components[kind] in names for kind, names in self.wanted)

    def of(self, suite: Suite) -> Suite:
        """The cells of ``suite`` this filter keeps; an error naming the
        suite's components of a kind when a name matches none of its cells."""
        for kind, names in self.wanted:
            present = {cell.choice(kind).name for cell in suite.cells}
            missing = sorted(names - present)
            if missing:
                raise SnnbenchError(f"--only {kind}={missing[0]}: suite {suite.name} has no cell with that "
                                    f"{kind}; its {kind}s: {', '.join(sorted(present))}")
        cells = [cell for cell in suite.cells if self.keeps({kind: cell.choice(kind).name for kind in KINDS})]
        if not cells:
            raise SnnbenchError(f"--only {' '.join(self.describe())}: no cell of suite {suite.name} has all of these")
        skipped = [skip for skip in suite.skipped if self.keeps(skip.combination)]
        return dataclasses.replace(suite, cells=cells, skipped=skipped)

    def describe(self) -> list[str]:
        return [f"{kind}={name}" for kind, names in self.wanted for name in sorted(names)]
