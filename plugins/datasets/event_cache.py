"""Binning event recordings into fixed-size tensors, cached on disk.

Binning is the slow part of loading an event dataset: N-MNIST is 70,000
files, and tonic's ``Denoise`` walks every event in Python (about 12 ms per
recording). The binned tensors depend only on the recordings and on the
binning parameters, so each split is binned once and stored under a key made
of those parameters and a fingerprint of the source files (their number and
total size); later runs read it back in seconds. Changing any parameter, or
the files, gives a new key, so a stale cache is never served.

Where: ``<dataset folder>/snnbench-cache/`` beside the data when that folder
is writable, else ``$XDG_CACHE_HOME/snnbench`` (``~/.cache/snnbench``), for a
read-only shared data directory. Binned values are stored as uint8 (event
counts above 255 in one bin are clipped) and kept so in memory: 3.5 GB for
N-MNIST's training frames at 25 bins, not 13.9 GB; the encoder casts each
batch to float32.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from snnbench.api import DataSplit, DataUnavailableError

#: bump when the stored layout or the binning code changes meaning
CACHE_FORMAT = 1

#: below this many recordings, starting worker processes costs more than it saves
_PARALLEL_FROM = 1000


@dataclass(frozen=True)
class FixedFrames:
    """The last transform of every binning: exactly ``shape[0]`` frames of
    per-step shape ``shape[1:]``, as uint8 (0/1 when ``binary``).

    tonic's ``ToFrame`` returns a single frame for a recording with no events
    and may cut one frame less than asked at a float edge; padding with empty
    frames keeps every sample the same size."""

    shape: tuple[int, ...]
    binary: bool

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        steps = self.shape[0]
        frames = frames[:steps].reshape(len(frames[:steps]), *self.shape[1:])
        if len(frames) < steps:
            frames = np.concatenate([frames, np.zeros((steps - len(frames), *self.shape[1:]), frames.dtype)])
        return np.clip(frames, 0, 1 if self.binary else 255).astype(np.uint8)


def fingerprint(files: Iterable[str | Path]) -> dict[str, int]:
    """Number and total size of the source files: cheap, and changes when the data does."""
    sizes = [os.path.getsize(path) for path in files]
    return {"files": len(sizes), "bytes": sum(sizes)}


def cache_dir(source: Path) -> Path:
    if os.access(source, os.W_OK):
        return source / "snnbench-cache"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "snnbench"


def _key_digest(key: dict) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]


def binned_split(dataset, *, name: str, source: Path, files: Iterable[str | Path], binning: dict,
                 shape: tuple[int, ...]) -> DataSplit:
    """The tonic ``dataset`` (whose transform ends in :class:`FixedFrames` of
    ``shape``) binned into one in-memory split, from the cache when it holds
    this ``binning`` of these files, else binned now and stored.

    ``name`` names the dataset and split (``"nmnist-train"``); ``source`` is
    the dataset's folder, ``files`` the split's recordings."""
    key = {"format": CACHE_FORMAT, "dataset": name, "source": str(source.resolve()),
           "files": fingerprint(files), "binning": binning, "shape": list(shape)}
    path = cache_dir(source) / f"{name}-{_key_digest(key)}.pt"
    if path.exists():
        stored = torch.load(path, weights_only=True)
        if stored["key"] == json.dumps(key, sort_keys=True):
            return DataSplit(stored["inputs"], stored["targets"])
    inputs, targets = _bin(dataset, shape, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    torch.save({"key": json.dumps(key, sort_keys=True), "inputs": inputs, "targets": targets}, partial)
    os.replace(partial, path)  # never a half-written file under the real name, even if killed
    return DataSplit(inputs, targets)


def _bin(dataset, shape: tuple[int, ...], name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Run every recording through the dataset's transform, in worker processes
    when there are many, with a progress bar on a terminal."""
    count = len(dataset)
    workers = min(8, os.cpu_count() or 1) if count >= _PARALLEL_FROM else 0
    print(f"snnbench: binning {name} ({count:,} recordings) once; later runs read the cache",
          file=sys.stderr)
    inputs = torch.empty((count, *shape), dtype=torch.uint8)
    targets = torch.empty(count, dtype=torch.long)
    loader = torch.utils.data.DataLoader(dataset, batch_size=64, num_workers=workers)
    start = 0
    with tqdm(total=count, desc=f"binning {name}", unit="recording", leave=False, disable=None) as bar:
        for frames, labels in loader:
            inputs[start:start + len(labels)] = frames
            targets[start:start + len(labels)] = labels
            start += len(labels)
            bar.update(len(labels))
    return inputs, targets


#: why absent files are an error rather than a download
DOWNLOAD_OFF = "downloading is off (download = false or --no-download)"


def offline_shortfall(missing: Iterable[str], may_download: bool) -> str | None:
    """A dataset's ``requires`` answer: the messages of its ``missing`` files,
    or None when there are none or they may be downloaded."""
    missing = list(missing)
    return None if may_download or not missing else f"{'; '.join(missing)}; {DOWNLOAD_OFF}"


def open_or_download(open_dataset: Callable[[], object], present: bool, may_download: bool,
                     missing: str) -> object:
    """The tonic dataset from ``open_dataset``, which downloads when the files
    are absent (tonic's own download code).

    Absent files with downloading off, or a download that fails (no network),
    raise :class:`DataUnavailableError` carrying ``missing``: which files go where."""
    if present:
        return open_dataset()
    if not may_download:
        raise DataUnavailableError(f"{missing}; {DOWNLOAD_OFF}")
    try:
        return open_dataset()
    except Exception as error:  # tonic raises URLError, HTTPError, OSError, RuntimeError, zip errors
        raise DataUnavailableError(f"{missing}; the download failed ({type(error).__name__}: {error})") from None
