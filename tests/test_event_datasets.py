"""N-MNIST and SHD through tonic's real parsers, from files in their real
formats: a real N-MNIST recording, small fake sets, the on-disk cache of the
binned tensors, and missing files. The real sets run too when they exist
under the shared data directory."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import shared_data_dir
from event_data import (
    decode_nmnist,
    nmnist_bytes,
    shd_recording,
    write_fake_nmnist,
    write_fake_shd,
    write_shd_file,
)
from snnbench_plugins.datasets import event_cache
from snnbench_plugins.datasets.nmnist import NMNISTParams, describe_nmnist, load_nmnist
from snnbench_plugins.datasets.shd import SHDParams, describe_shd, load_shd

from snnbench.api.contracts import LoadContext
from snnbench.api.errors import DataUnavailableError

SAMPLE = shared_data_dir() / "samples" / "sample_nmnist.bin"


def offline(root: Path) -> LoadContext:
    return LoadContext(root, download=False)


def histogram(events: dict[str, np.ndarray], steps: int, window: float) -> np.ndarray:
    """Event counts per (time bin, polarity, y, x), computed here from the events."""
    frames = np.zeros((steps, 2, 34, 34), dtype=np.int64)
    keep = events["t"] < steps * window
    np.add.at(frames, ((events["t"][keep] // window).astype(int), events["p"][keep],
                       events["y"][keep], events["x"][keep]), 1)
    return frames


@pytest.fixture(scope="module")
def sample_root(tmp_path_factory):
    """The real recording, filed once under every digit of both splits."""
    if not SAMPLE.exists():
        pytest.skip(f"the real N-MNIST sample recording is not at {SAMPLE}")
    root = tmp_path_factory.mktemp("sample")
    for folder in ("Train", "Test"):
        for digit in range(10):
            (root / "NMNIST" / folder / str(digit)).mkdir(parents=True)
            shutil.copy(SAMPLE, root / "NMNIST" / folder / str(digit) / "00001.bin")
    return root


def test_real_nmnist_recording_parses_into_frames_of_its_events(sample_root):
    events = decode_nmnist(SAMPLE.read_bytes())
    assert len(events["t"]) == SAMPLE.stat().st_size // 5 > 1000
    params = NMNISTParams(n_time_bins=4, time_window=100_000.0, denoise=0.0)
    train, test = load_nmnist(params, offline(sample_root))
    assert train.inputs.shape == (10, 4, 2, 34, 34) and len(test) == 10
    assert train.targets.tolist() == list(range(10))
    expected = torch.from_numpy(histogram(events, 4, 100_000.0)).to(torch.uint8)
    assert train.inputs.dtype == torch.uint8  # a quarter of float32's memory
    assert train.inputs.max() > 1  # counts, not clipped
    assert torch.equal(train.inputs[3], expected)
    # 4 x 100 ms cover the recording's first 400 ms: every event of the ~300 ms recording is in
    assert train.inputs[0].sum() == len(events["t"])


def test_denoise_drops_isolated_events_of_the_real_recording(sample_root):
    raw, _ = load_nmnist(NMNISTParams(n_time_bins=1, time_window=400_000.0, denoise=0.0), offline(sample_root))
    clean, _ = load_nmnist(NMNISTParams(n_time_bins=1, time_window=400_000.0), offline(sample_root))
    assert 0.5 * raw.inputs[0].sum() < clean.inputs[0].sum() < raw.inputs[0].sum()
    assert (clean.inputs[0] <= raw.inputs[0]).all()


def test_equal_time_bins_span_each_recording(sample_root):
    """Without time_window, every recording is cut into n_time_bins spans of its own length."""
    train, _ = load_nmnist(NMNISTParams(n_time_bins=25, denoise=0.0, binary=True), offline(sample_root))
    frames = train.inputs[0]
    assert frames.shape == describe_nmnist(NMNISTParams()).input_shape
    assert set(frames.unique().tolist()) == {0.0, 1.0}
    assert (frames.sum(dim=(1, 2, 3)) > 0).all()  # no empty bin in a recording full of saccades


def test_fake_nmnist_frames_hold_exactly_the_written_events(tmp_path):
    rng = np.random.default_rng(1)
    write_fake_nmnist(tmp_path, per_class=(2, 1))
    x, y, p = rng.integers(0, 34, 500), rng.integers(0, 34, 500), rng.integers(0, 2, 500)
    t = np.sort(rng.integers(0, 60_000, 500))
    (tmp_path / "NMNIST" / "Train" / "7" / "00000.bin").write_bytes(nmnist_bytes(x, y, p, t))
    train, test = load_nmnist(NMNISTParams(n_time_bins=5, time_window=10_000.0, denoise=0.0), offline(tmp_path))
    assert len(train) == 20 and len(test) == 10
    assert torch.bincount(train.targets).tolist() == [2] * 10
    index = 14  # files sorted per digit folder: 7/00000.bin is the first of digit 7
    assert train.targets[index] == 7
    expected = histogram({"x": x, "y": y, "p": p, "t": t}, 5, 10_000.0)
    assert torch.equal(train.inputs[index], torch.from_numpy(expected).to(torch.uint8))
    assert train.inputs[index].sum() == (t < 50_000).sum()  # events past 5 x 10 ms are dropped


def test_second_load_reads_the_cache_and_new_params_or_files_rebin(tmp_path, monkeypatch):
    write_fake_nmnist(tmp_path, per_class=(2, 1))
    params = NMNISTParams(n_time_bins=6)
    first, _ = load_nmnist(params, offline(tmp_path))
    cached = sorted((tmp_path / "NMNIST" / "snnbench-cache").glob("*.pt"))
    assert [p.name.split("-")[1] for p in cached] == ["test", "train"]

    binned = []
    real_bin = event_cache._bin
    monkeypatch.setattr(event_cache, "_bin", lambda *args: binned.append(args[2]) or real_bin(*args))
    again, _ = load_nmnist(params, offline(tmp_path))
    assert binned == [] and torch.equal(first.inputs, again.inputs) and torch.equal(first.targets, again.targets)

    load_nmnist(NMNISTParams(n_time_bins=7), offline(tmp_path))
    assert binned == ["nmnist-train", "nmnist-test"]
    (tmp_path / "NMNIST" / "Test" / "3" / "00009.bin").write_bytes(nmnist_bytes([5], [6], [1], [10]))
    load_nmnist(params, offline(tmp_path))
    assert binned[2:] == ["nmnist-test"]  # only the split whose files changed


def test_worker_processes_bin_the_same_tensors(tmp_path, monkeypatch):
    write_fake_nmnist(tmp_path / "serial", per_class=(3, 1))
    write_fake_nmnist(tmp_path / "parallel", per_class=(3, 1))
    serial, _ = load_nmnist(NMNISTParams(n_time_bins=5), offline(tmp_path / "serial"))
    monkeypatch.setattr(event_cache, "_PARALLEL_FROM", 1)  # large sets bin in workers
    parallel, _ = load_nmnist(NMNISTParams(n_time_bins=5), offline(tmp_path / "parallel"))
    assert serial.inputs.sum() > 0
    assert torch.equal(serial.inputs, parallel.inputs) and torch.equal(serial.targets, parallel.targets)


def test_read_only_data_directory_caches_in_the_user_cache(tmp_path, monkeypatch):
    write_fake_nmnist(tmp_path / "data", per_class=(1, 1))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    writable = event_cache.os.access  # root may write anywhere, so the data folder is made read-only here
    monkeypatch.setattr(event_cache.os, "access",
                        lambda path, mode: not str(path).startswith(str(tmp_path / "data")) and writable(path, mode))
    load_nmnist(NMNISTParams(n_time_bins=3), offline(tmp_path / "data"))
    assert len(list((tmp_path / "cache" / "snnbench").glob("nmnist-*.pt"))) == 2
    assert not (tmp_path / "data" / "NMNIST" / "snnbench-cache").exists()


def test_missing_nmnist_says_which_files_go_where(tmp_path):
    with pytest.raises(DataUnavailableError) as error:
        load_nmnist(NMNISTParams(), offline(tmp_path))
    message = str(error.value)
    assert str(tmp_path / "NMNIST" / "Train") in message and "Train/0/*.bin" in message
    assert "--no-download" in message and "SNNBENCH_DATA" in message
    write_fake_nmnist(tmp_path, per_class=(1, 0))  # a training split alone is not enough
    with pytest.raises(DataUnavailableError, match=r"NMNIST/Test"):
        load_nmnist(NMNISTParams(download=False), LoadContext(tmp_path, download=True))


def test_fake_shd_rasters_hold_the_written_spikes(tmp_path):
    rng = np.random.default_rng(2)
    recordings = [shd_recording(label, rng) for label in (4, 11)]
    recordings.append((np.array([0.0005, 0.0007, 0.0031, 1.5]), np.array([3, 3, 699, 10])))
    write_shd_file(tmp_path / "SHD" / "shd_train.h5", recordings, [4, 11, 19])
    write_shd_file(tmp_path / "SHD" / "shd_test.h5", recordings[:1], [4])
    train, test = load_shd(SHDParams(n_time_bins=100, time_window=10_000.0), offline(tmp_path))
    assert train.inputs.shape == (3, 100, 700) == (3, *describe_shd(SHDParams()).input_shape)
    assert train.targets.tolist() == [4, 11, 19] and len(test) == 1
    times, units = recordings[0]
    microseconds = (times.astype(np.float32).astype(np.float64) * 1e6).astype(int)  # as stored, as tonic reads
    expected = np.zeros((100, 700))
    expected[microseconds // 10_000, units] = 1  # binary: two spikes in one bin count once
    assert torch.equal(train.inputs[0], torch.from_numpy(expected).to(torch.uint8))
    last = train.inputs[2]
    assert last[0, 3] == 1 and last[0, 699] == 1 and last.sum() == 2  # the spike at 1.5 s lies past 100 x 10 ms


def test_shd_channels_pool_into_neighbouring_groups(tmp_path):
    write_fake_shd(tmp_path, per_class=(1, 1))
    full, _ = load_shd(SHDParams(binary=False), offline(tmp_path))
    pooled, _ = load_shd(SHDParams(channels=175, binary=False), offline(tmp_path))
    assert pooled.inputs.shape == (20, 100, 175)
    assert torch.equal(pooled.inputs, full.inputs.unflatten(-1, (175, 4)).sum(-1))
    assert full.inputs.max() > 1


def test_missing_shd_names_the_file(tmp_path):
    with pytest.raises(DataUnavailableError) as error:
        load_shd(SHDParams(download=False), LoadContext(tmp_path))
    assert str(tmp_path / "SHD" / "shd_train.h5") in str(error.value)
    assert "shd_train.h5.zip" in str(error.value)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["nmnist", "shd"])
def test_real_files_when_present(name, tmp_path, monkeypatch):
    root = shared_data_dir()
    present = {"nmnist": (root / "NMNIST" / "Train" / "0").is_dir() and (root / "NMNIST" / "Test" / "0").is_dir(),
               "shd": (root / "SHD" / "shd_train.h5").is_file() and (root / "SHD" / "shd_test.h5").is_file()}
    if not present[name]:
        where = "NMNIST/{Train,Test}/<digit>/*.bin" if name == "nmnist" else "SHD/shd_{train,test}.h5"
        pytest.skip(f"the real {name} files are not under {root} (want {where})")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))  # a read-only shared folder caches here
    if name == "nmnist":
        train, test = load_nmnist(NMNISTParams(download=False), offline(root))
        assert (len(train), len(test)) == (60_000, 10_000)
        assert torch.bincount(test.targets).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
        assert train.inputs.shape[1:] == (25, 2, 34, 34)
    else:
        train, test = load_shd(SHDParams(download=False), offline(root))
        assert (len(train), len(test)) == (8156, 2264)
        assert train.inputs.shape[1:] == (100, 700) and train.targets.max() == 19
    active = train.inputs[:100].flatten(1).sum(1)
    assert (active > 0).all()
