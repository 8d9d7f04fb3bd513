"""Numba's parallel kernels take as many threads as torch may use.

Numba sizes its thread pool from the machine's cores, not from torch's
setting, so a cell run on one thread (``OMP_NUM_THREADS=1``, or a Ray worker
given one CPU) would still spread every numba kernel over all cores, onto
the cores other cells own. The plugins' numba kernels call this before each
launch (about 2 us).
"""

from __future__ import annotations

import numba
import torch


def follow_torch() -> None:
    numba.set_num_threads(max(1, min(torch.get_num_threads(), numba.config.NUMBA_NUM_THREADS)))
