"""Small event datasets written in their real on-disk formats, for tests.

N-MNIST: one ``.bin`` file per recording under ``NMNIST/{Train,Test}/<digit>/``,
each event 40 bits big-endian: x (8), y (8), polarity (1), timestamp in
microseconds (23). SHD: ``SHD/shd_{train,test}.h5`` with variable-length
``spikes/times`` (seconds) and ``spikes/units`` per recording, ``labels``,
``extra/keys`` and ``extra/speaker``, as in the release.

The fake recordings are easy to tell apart (each class fires in its own
place), so a tiny network learns them in a few epochs.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np


def nmnist_bytes(x, y, p, t) -> bytes:
    x, y, p, t = (np.asarray(v, dtype=np.uint32) for v in (x, y, p, t))
    records = np.stack([x, y, (p << 7) | ((t >> 16) & 0x7F), (t >> 8) & 0xFF, t & 0xFF], axis=1)
    return records.astype(np.uint8).tobytes()


def decode_nmnist(data: bytes) -> dict[str, np.ndarray]:
    """The test's own reading of the format (tonic's parser is what is under test)."""
    raw = np.frombuffer(data, dtype=np.uint8).reshape(-1, 5).astype(np.int64)
    events = {"x": raw[:, 0], "y": raw[:, 1], "p": raw[:, 2] >> 7,
              "t": ((raw[:, 2] & 0x7F) << 16) | (raw[:, 3] << 8) | raw[:, 4]}
    # y == 240 marks a timestamp-overflow record, not an event
    assert not (raw[:, 1] == 240).any(), "overflow records are not expected in these files"
    return events


def class_blob(label: int, n_events: int, rng: np.random.Generator, duration_us: int = 300_000):
    """Events of one recording of class ``label``: a 6x6 patch of the 34x34
    sensor, at a place of its own, firing at random times."""
    row, col = divmod(label, 4)
    x = rng.integers(0, 6, n_events) + 2 + 8 * col
    y = rng.integers(0, 6, n_events) + 2 + 10 * row
    p = rng.integers(0, 2, n_events)
    t = np.sort(rng.integers(0, duration_us, n_events))
    return x, y, p, t


def write_fake_nmnist(root: Path, per_class: tuple[int, int] = (4, 2), n_events: int = 300,
                      seed: int = 0) -> Path:
    """``per_class`` recordings per digit in (Train, Test) under ``root/NMNIST``."""
    rng = np.random.default_rng(seed)
    for folder, count in zip(("Train", "Test"), per_class, strict=True):
        for digit in range(10):
            target = root / "NMNIST" / folder / str(digit)
            target.mkdir(parents=True, exist_ok=True)
            for index in range(count):
                (target / f"{index:05d}.bin").write_bytes(nmnist_bytes(*class_blob(digit, n_events, rng)))
    return root


def write_shd_file(path: Path, recordings: list[tuple[np.ndarray, np.ndarray]], labels) -> None:
    """An SHD .h5 file: ``recordings`` of (times in seconds, units)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as file:
        times = file.create_dataset("spikes/times", (len(recordings),), dtype=h5py.vlen_dtype(np.float32))
        units = file.create_dataset("spikes/units", (len(recordings),), dtype=h5py.vlen_dtype(np.uint16))
        for index, (t, u) in enumerate(recordings):
            times[index], units[index] = np.asarray(t, np.float32), np.asarray(u, np.uint16)
        file["labels"] = np.asarray(labels, dtype=np.uint8)
        file["extra/keys"] = np.array([f"digit-{k}".encode() for k in range(20)])
        file["extra/speaker"] = np.zeros(len(recordings), dtype=np.uint8)


def shd_recording(label: int, rng: np.random.Generator, n_spikes: int = 120):
    """Spikes of class ``label`` in its own band of 35 channels, within 0.9 s."""
    units = rng.integers(0, 35, n_spikes) + 35 * label
    times = np.sort(rng.uniform(0.0, 0.9, n_spikes))
    return times, units


def write_fake_shd(root: Path, per_class: tuple[int, int] = (3, 1), seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    for name, count in zip(("shd_train.h5", "shd_test.h5"), per_class, strict=True):
        labels = [label for label in range(20) for _ in range(count)]
        write_shd_file(root / "SHD" / name, [shd_recording(label, rng) for label in labels], labels)
    return root
