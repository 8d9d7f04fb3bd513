"""The plugins' numba kernels run on torch's thread count, whatever numba's
pool was set to before: a cell on one thread keeps its kernels on one core."""

from __future__ import annotations

import numba
import pytest
import torch
from snnbench_plugins.neurons.fused_lif import FusedLIF, FusedLIFParams
from snnbench_plugins.spike_time_conv import fire_times


def fused_lif():
    FusedLIF(FusedLIFParams(backend="numba"))(torch.rand(3, 2, 4))


def event_conv():
    fire_times(torch.randint(0, 6, (1, 2, 6, 6)), torch.rand(3, 2, 3, 3), 1, 5, 1.0)


@pytest.mark.parametrize("kernel", [fused_lif, event_conv])
@pytest.mark.parametrize("threads", [1, 2])
def test_kernels_take_torchs_thread_count(kernel, threads):
    most = numba.config.NUMBA_NUM_THREADS
    if threads > most:
        pytest.skip(f"numba has {most} thread(s) on this machine")
    before = torch.get_num_threads()
    # numba's count first: under its OpenMP layer, setting it also sets torch's
    numba.set_num_threads(most if threads == 1 else 1)
    torch.set_num_threads(threads)
    try:
        kernel()
        assert numba.get_num_threads() == threads
    finally:
        torch.set_num_threads(before)
