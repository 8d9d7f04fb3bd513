"""The snnbench command's allocator setting (snnbench.running.host_memory):
a large CPU tensor, freed and allocated again, reuses the heap instead of
faulting in fresh pages. Each case runs in a process of its own, since the
setting holds for the whole process."""

from __future__ import annotations

import platform
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
                                reason="the allocator setting exists on Linux with glibc only")

#: 64 MiB, above glibc's largest mmap threshold (32 MiB): 16,384 pages of 4 KiB
PAGES = 64 * 2**20 // 4096

CHILD = """
import resource, sys, torch
from snnbench import cli
from snnbench.running.host_memory import reuse_freed_host_memory
if sys.argv[1] == "reuse":
    assert reuse_freed_host_memory()
elif sys.argv[1] == "snnbench command":
    sys.argv = ["snnbench", "ls", "encoder"]
    assert cli.console_main() == 0

def faults_of_a_fresh_tensor():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    torch.ones(%d, dtype=torch.uint8)  # written in full, freed at once
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

for _ in range(12):  # the heap grows until the holes fit (see the test)
    faults_of_a_fresh_tensor()
print(faults_of_a_fresh_tensor())
""" % (PAGES * 4096)


def page_faults(mode: str) -> int:
    done = subprocess.run([sys.executable, "-c", CHILD, mode], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return int(done.stdout.split()[-1])


def huge_pages_always() -> bool:
    """With transparent huge pages on for every mapping, a fresh block faults
    512 times less, and glibc's own behaviour no longer shows."""
    setting = Path("/sys/kernel/mm/transparent_hugepage/enabled")
    return setting.exists() and "[always]" in setting.read_text()


@pytest.mark.parametrize("mode", ["reuse", "snnbench command"])
def test_a_freed_large_block_is_reused_without_page_faults(mode):
    """After a warm-up: the first few blocks of one size each leave a hole
    too small for the next (posix_memalign pads its request) until glibc's
    per-size cache of small leftovers is full (7), and the heap grows by a
    block each time; from then on the holes are reused."""
    assert page_faults(mode) < PAGES / 100


def test_without_the_setting_every_large_block_faults_its_pages_in_again():
    """The control: what the setting saves (and proof that the test above can fail)."""
    if huge_pages_always():
        pytest.skip("transparent huge pages are 'always' on this machine: fresh blocks fault per 2 MiB")
    assert page_faults("default") >= PAGES * 0.9
