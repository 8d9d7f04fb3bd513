"""Numba's parallel kernels take as many threads as torch may use.

Numba sizes its thread pool from the machine's cores, not from torch's
setting, so a cell run on one thread (``OMP_NUM_THREADS=1``, or a Ray worker
given one CPU) would still spread every numba kernel over all cores, onto
the cores other cells own. The plugins' numba kernels call this before each
launch (about 2 us).

It guards the other way too: under numba's OpenMP layer, starting numba's
pool raised torch's own count to the machine's cores, so a one-thread R-STDP
run went on with two torch threads and, on a busy machine, ten times slower.
"""

from __future__ import annotations

import torch


def follow_torch_threads() -> None:
    import numba  # here, not at the top: importing the API must not start numba

    threads = torch.get_num_threads()
    numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
    if torch.get_num_threads() != threads:
        # numba's OpenMP layer shares torch's OpenMP runtime, and starting it
        # sets the count to numba's pool size: put torch's back
        torch.set_num_threads(threads)
