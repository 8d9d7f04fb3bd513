"""The plugins' numba kernels run on torch's thread count, whatever numba's
pool was set to before: a cell on one thread keeps its kernels on one core."""

from __future__ import annotations

import os
import subprocess
import sys

import numba
import pytest
import torch
from snnbench_plugins.neurons.lif_fused import FusedLIF, FusedLIFParams
from snnbench_plugins.rstdp.spike_time_conv import fire_times


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


def test_starting_numba_leaves_torchs_thread_count_alone():
    """In a fresh process on one torch thread (numba's pool starts there), the
    first kernel must not raise torch's count to numba's pool size."""
    script = ("import torch\n"
              "from snnbench_plugins.rstdp.spike_time_conv import fire_times\n"
              "fire_times(torch.randint(0, 6, (1, 2, 6, 6)), torch.rand(3, 2, 3, 3), 1, 5, 1.0)\n"
              "print(torch.get_num_threads())\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-1] == "1"
