"""Output buffers a layer hands out again once nobody holds them.

A freshly allocated array of tens of megabytes is fresh pages: the first
write to each one is a page fault the kernel pays to zero it. For the fused
LIF at T=25, B=64, N=4096 that was about 1000 faults and 8-10 ms per
forward+backward on the 2-core EPYC, as much as the two kernels themselves,
whenever an earlier output was still alive (as it is in training). Writing
into arrays the layer has already touched avoids it.

A pooled array is handed out again only when nothing made from it is left:
the pool lends a view of it and keeps a weak reference to that view, which
``torch.from_numpy`` keeps alive through the tensor's storage for as long as
any tensor or view of it exists (the membrane saved by a graph kept with
``retain_graph`` included). So reuse never overwrites data anyone can still
read. (Weak references rather than ``sys.getrefcount``, whose counts change
between Python versions.)

Only a layer in training keeps buffers. In evaluation a layer's output lives
until the next layer has read it, and the memory freed is the next layer's;
a pool per layer would instead hold every layer's outputs at the largest
batch at once: Spikformer with the SPS encoder at evaluation batch 500 grew
to 13 GB and was killed for memory on a 24 GB machine. (The ``snnbench``
command keeps freed memory for reuse, so evaluation faults no fresh pages
in either case: ``snnbench.running.host_memory``.)
"""

from __future__ import annotations

import weakref
from typing import Callable

import numpy as np


def _never_lent() -> None:
    """Stands for the weak reference of an array not lent yet: it is free."""
    return None


class BufferPool:
    """At most ``capacity`` arrays are kept; when all are lent, ``take``
    allocates an array the pool does not keep, so holding on to many outputs
    (recording every batch's spikes, say) never grows the pool."""

    def __init__(self, capacity: int = 4):
        self.capacity = capacity
        self.keeping = True
        #: each kept array, and a weak reference to the view of it last lent
        self._pool: list[tuple[np.ndarray, Callable[[], object]]] = []

    def keep(self, keeping: bool) -> None:
        """Keep arrays for reuse (a layer in training), or none (evaluation:
        module docstring); turned off, the pool lets go of what it held."""
        self.keeping = keeping
        if not keeping:
            self._pool = []

    def take(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        """An uninitialised array of ``shape`` and ``dtype``."""
        dtype = np.dtype(dtype)
        if not self.keeping:
            return np.empty(shape, dtype)

        def fits(array: np.ndarray) -> bool:
            return array.shape == shape and array.dtype == dtype

        index = next((i for i, (array, lent) in enumerate(self._pool) if fits(array) and lent() is None), None)
        if index is None:
            # arrays of another shape (the last, smaller batch; evaluation) make room when free
            self._pool = [(array, lent) for array, lent in self._pool if fits(array) or lent() is not None]
            if len(self._pool) >= self.capacity:
                return np.empty(shape, dtype)
            self._pool.append((np.empty(shape, dtype), _never_lent))
            index = len(self._pool) - 1
        array = self._pool[index][0]
        view = array.view()
        self._pool[index] = (array, weakref.ref(view))
        return view
