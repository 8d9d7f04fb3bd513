"""Shards: the K-th of N disjoint parts of a suite, for schedulers without Ray.

A Slurm job array (or any batch system) runs ``snnbench run SUITE --shard
K/N --db shard-K.db`` as N independent tasks that share nothing, not even a
file system for the store; ``snnbench merge`` then combines their stores.
For that, each task must pick its cells on its own and all N must agree:
cells are ordered by a digest of their identity (suite, config hash, seed)
and dealt out in turn, so shard K holds the same cells whatever order the
suite lists them in and whichever cells are already done (a shard that is
run again resumes its own cells), the N shards are disjoint and cover the
suite, and their sizes differ by at most one. Incompatible combinations are
dealt out the same way by their config hash, so each skip is recorded once.

The deal depends on the set of cells: every task must run the same suite
file with the same ``--seeds`` (and caps), or the shards no longer fit
together.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from snnbench.api.errors import SnnbenchError
from snnbench.api.records import Suite

T = TypeVar("T")

_SPEC = re.compile(r"\s*(\d+)\s*/\s*(\d+)\s*")


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` (from 1) of ``count``."""

    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        """``K/N`` with 1 <= K <= N, as Slurm's ``$((SLURM_ARRAY_TASK_ID+1))/N`` gives it."""
        match = _SPEC.fullmatch(text)
        if match is None:
            raise SnnbenchError(f"{text!r}: give it as K/N, e.g. 1/4 for the first of four shards")
        index, count = int(match[1]), int(match[2])
        if count < 1:
            raise SnnbenchError(f"{text!r}: N must be at least 1")
        if not 1 <= index <= count:
            raise SnnbenchError(f"{text!r}: K must lie between 1 and N (the shards are 1/{count} to "
                                f"{count}/{count})")
        return cls(index, count)

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def of(self, suite: Suite) -> Suite:
        """The part of ``suite`` this shard runs: its cells and its skips."""
        return dataclasses.replace(
            suite,
            cells=self._deal(suite.cells, lambda cell: f"{cell.suite}\0{cell.config_hash}\0{cell.seed}"),
            skipped=self._deal(suite.skipped, lambda skipped: f"{suite.name}\0{skipped.config_hash}"))

    def _deal(self, items: Sequence[T], identity: Callable[[T], str]) -> list[T]:
        """Every ``count``-th of ``items`` in the order of their identity's
        digest, starting at ``index``; kept in the suite's own order."""
        order = sorted(range(len(items)), key=lambda i: hashlib.sha256(identity(items[i]).encode()).digest())
        mine = set(order[self.index - 1::self.count])
        return [item for i, item in enumerate(items) if i in mine]
