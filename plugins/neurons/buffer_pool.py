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
"""

from __future__ import annotations

import weakref

import numpy as np


class BufferPool:
    """At most ``capacity`` arrays are kept; when all are lent, ``take``
    allocates an array the pool does not keep, so holding on to many outputs
    (recording every batch's spikes, say) never grows the pool."""

    def __init__(self, capacity: int = 4):
        self.capacity = capacity
        self._arrays: list[np.ndarray] = []
        self._lent: list[weakref.ref | None] = []

    def _free(self, index: int) -> bool:
        lent = self._lent[index]
        return lent is None or lent() is None

    def take(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        """An uninitialised array of ``shape`` and ``dtype``."""
        dtype = np.dtype(dtype)
        fits = [i for i, array in enumerate(self._arrays) if array.shape == shape and array.dtype == dtype]
        free = next((i for i in fits if self._free(i)), None)
        if free is None:
            # arrays of another shape (the last, smaller batch; evaluation) make room when free
            kept = [i for i in range(len(self._arrays)) if i in fits or not self._free(i)]
            self._arrays = [self._arrays[i] for i in kept]
            self._lent = [self._lent[i] for i in kept]
            if len(self._arrays) >= self.capacity:
                return np.empty(shape, dtype)
            self._arrays.append(np.empty(shape, dtype))
            self._lent.append(None)
            free = len(self._arrays) - 1
        view = self._arrays[free].view()
        self._lent[free] = weakref.ref(view)
        return view
