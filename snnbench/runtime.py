"""Facts about where a run happens: device, seeds, data root, versions, commit."""

from __future__ import annotations

import importlib.metadata as metadata
import os
import platform
import random
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import torch

from snnbench.api.errors import SnnbenchError

#: Libraries whose versions every leaderboard row records.
RECORDED_LIBRARIES = ("snnbench", "torch", "torchvision", "snntorch", "spikingjelly", "numpy")


def resolve_device(requested: str = "auto") -> torch.device:
    """CUDA when present, else CPU; ``requested`` overrides ("cpu", "cuda", "cuda:1")."""
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(requested)
    except RuntimeError as error:
        raise SnnbenchError(f"--device {requested!r}: {error}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SnnbenchError(f"--device {requested!r}: CUDA is not available on this machine")
    return device


def device_name(device: torch.device) -> str:
    """The device's model. A Ray driver may have no GPU of its own while its
    cells run on CUDA workers; the rows it writes itself (skips, lost cells)
    then say so instead of naming a GPU."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device) if torch.cuda.is_available() else "CUDA, none in this process"
    return _cpu_model() or platform.processor() or platform.machine() or "cpu"


def _cpu_model() -> str | None:
    """The CPU's marketing name on Linux (``platform`` only knows "x86_64")."""
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return f"{line.split(':', 1)[1].strip()} ({os.cpu_count()} cores)"
    except OSError:
        pass
    return None


def machine(device: torch.device | None = None) -> dict[str, Any]:
    """What decides a run's rounding and speed: the CPU and the kernels torch
    picked for it (``AVX2``, ``AVX512``, ``DEFAULT``: set by
    ``ATEN_CPU_CAPABILITY``), threads, the GPU, torch and CUDA versions.
    Baselines keep it, so a gate can say when it is judged on another machine."""
    device = device or torch.device("cpu")
    on_gpu = device.type == "cuda" and torch.cuda.is_available()
    return {
        "cpu": _cpu_model() or platform.processor() or platform.machine() or "cpu",
        "isa": torch.backends.cpu.get_cpu_capability(),
        "threads": torch.get_num_threads(),
        "gpu": torch.cuda.get_device_name(device) if on_gpu else None,
        "torch": torch.__version__,
        "cuda": torch.version.cuda if on_gpu else None,
    }


def synchronize(device: torch.device) -> None:
    """Wait for queued device work, so a timer measures it and not its launch."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch (every device); return a CPU generator for
    data order, which is then independent of how much randomness the model draws."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def data_root(explicit: str | os.PathLike | None = None) -> Path:
    """``--data-dir``, else ``$SNNBENCH_DATA``, else ``./data``."""
    return Path(explicit or os.environ.get("SNNBENCH_DATA") or "data").expanduser()


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in RECORDED_LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def git_commit(where: Path | None = None) -> str | None:
    """The commit of the working tree (with ``-dirty`` when it has changes)."""
    try:
        out = subprocess.run(["git", "describe", "--always", "--dirty", "--abbrev=12"],
                             cwd=where or Path.cwd(), capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None
