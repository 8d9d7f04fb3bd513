"""Large tensors on the CPU reuse freed memory instead of fresh pages.

glibc's malloc hands out every block above its mmap threshold (32 MiB at
most) as a fresh mapping and gives it back to the kernel when it is freed.
A model whose activations are larger than that pays, for every layer of
every batch, a page fault and a zeroed page for each 4 KiB it writes.
Spikformer at the suites' ``eval_batch_size = 500`` is such a model (80 MB
a tensor): on a 2-core AMD EPYC its forward pass at batch 500 spent a third
of its time in the kernel and ran 2.2x as fast with those blocks from the
heap, while at batch 100, under the threshold, nothing changed; training at
batch 64 spends under 1% of its time in the kernel either way
(``benchmarks/host_memory.py``, docs/speed.md).

So a process that trains and measures cells asks malloc to serve every
block from its heap and to keep up to 2 GiB freed at the heap's top. The
cost is bounded growth: the first few blocks of one size each leave a hole
a little too small for the next (posix_memalign pads its request), so the
heap grows by up to seven such blocks before it reuses them. Only the
``snnbench`` command and its Ray workers ask: a program that imports
snnbench keeps its own allocator settings. Where the C library is not
glibc (macOS, musl, Windows) nothing changes.
"""

from __future__ import annotations

import ctypes

#: mallopt's parameter numbers (glibc's malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
#: freed bytes the heap's top may hold before malloc returns them: the largest int mallopt takes
_KEPT_AT_TOP = 2**31 - 1


def reuse_freed_host_memory() -> bool:
    """Serve every block from malloc's heap from now on; whether the C library
    took the setting (False where it is not glibc)."""
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library the interpreter runs on
    except (OSError, AttributeError, TypeError):  # no mallopt there, or (Windows) no such handle
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return mallopt(_M_MMAP_MAX, 0) == 1 and mallopt(_M_TRIM_THRESHOLD, _KEPT_AT_TOP) == 1
