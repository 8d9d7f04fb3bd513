"""N-MNIST (Orchard et al. 2015): MNIST digits recorded by an event camera on
a saccading mount, 34x34 pixels, two polarities, 60k/10k recordings of about
300 ms. Loaded and downloaded by tonic, denoised with tonic's ``Denoise``
and cut into ``[T, 2, 34, 34]`` event-count frames by its ``ToFrame``.

Layout under the data directory (tonic's, as its ``train.zip``/``test.zip``
extract): ``NMNIST/Train/<digit>/*.bin`` and ``NMNIST/Test/<digit>/*.bin``,
each file in the original 40-bit event format. The extracted folders
suffice; tonic's own check also wants the zip and its checksum, which
offline copies often lack.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import tonic
from snnbench_plugins.datasets.event_cache import (
    FixedFrames,
    binned_split,
    offline_shortfall,
    open_or_download,
)

from snnbench.api import (
    DatasetInfo,
    DatasetSpec,
    DataSplit,
    LoadContext,
    hookimpl,
    param,
)

SENSOR = tonic.datasets.NMNIST.sensor_size  # (W, H, polarities) = (34, 34, 2)


@dataclass(frozen=True)
class NMNISTParams:
    n_time_bins: int = param(25, "frames per recording: the T of every sample", ge=1)
    time_window: float = param(0.0, "microseconds per frame, counted from the recording's start (tonic's "
                                    "time_window; events after n_time_bins * time_window are dropped). 0: each "
                                    "recording is cut into n_time_bins equal spans of its own length (tonic's "
                                    "n_time_bins)", ge=0)
    denoise: float = param(10_000.0, "tonic Denoise filter_time in microseconds: drop events with no neighbour "
                                     "that fired this recently; 0 keeps every event", ge=0)
    binary: bool = field(default=False, metadata={
        "help": "clip event counts to 1 per pixel and frame (spikes) instead of keeping counts"})
    download: bool = field(default=True, metadata={
        "help": "download with tonic when the recordings are missing from the data directory"})

    @property
    def binning(self) -> dict:
        """What the binned frames depend on: the cache key."""
        return {"n_time_bins": self.n_time_bins, "time_window": float(self.time_window),
                "denoise": float(self.denoise), "binary": self.binary}


class NMNIST(tonic.datasets.NMNIST):
    """tonic's N-MNIST, satisfied by the extracted recordings alone.

    Named like tonic's class because tonic names the data folder after the
    class. tonic's check wants the downloaded zip (verified by MD5) and at
    least 10,000 files, so an extracted copy without its zip, or a small test
    set, would be downloaded again."""

    def _check_exists(self) -> bool:
        return recordings_present(Path(self.location_on_system) / self.folder_name)


def recordings_present(folder: Path) -> bool:
    return all(any((folder / str(digit)).glob("*.bin")) for digit in range(10))


def describe_nmnist(params: NMNISTParams) -> DatasetInfo:
    return DatasetInfo(name="nmnist", kind="frames", input_shape=(params.n_time_bins, SENSOR[2], SENSOR[1], SENSOR[0]),
                       n_classes=10)


def frame_transform(params: NMNISTParams) -> tonic.transforms.Compose:
    steps = params.n_time_bins
    if params.time_window == 0:
        to_frame = tonic.transforms.ToFrame(sensor_size=SENSOR, n_time_bins=steps)
    else:
        to_frame = tonic.transforms.ToFrame(sensor_size=SENSOR, time_window=params.time_window,
                                            start_time=0, end_time=steps * params.time_window)
    denoise = [tonic.transforms.Denoise(filter_time=params.denoise)] if params.denoise > 0 else []
    return tonic.transforms.Compose([*denoise, to_frame,
                                     FixedFrames(describe_nmnist(params).input_shape, params.binary)])


def missing_recordings(root: Path, folder: str) -> str:
    return (f"nmnist: no N-MNIST recordings in {root / folder} (want {folder}/0/*.bin ... {folder}/9/*.bin "
            f"under {root}, as extracted from tonic's train.zip/test.zip of the N-MNIST release; or point "
            f"--data-dir / SNNBENCH_DATA at a folder holding NMNIST/)")


def requires_nmnist(params: NMNISTParams, ctx: LoadContext) -> str | None:
    root = ctx.data_dir / "NMNIST"
    folders = (tonic.datasets.NMNIST.train_folder, tonic.datasets.NMNIST.test_folder)
    return offline_shortfall((missing_recordings(root, folder) for folder in folders
                              if not recordings_present(root / folder)), params.download and ctx.download)


def load_nmnist(params: NMNISTParams, ctx: LoadContext) -> tuple[DataSplit, DataSplit]:
    root = ctx.data_dir / "NMNIST"
    transform = frame_transform(params)
    splits = []
    for train, folder in ((True, tonic.datasets.NMNIST.train_folder), (False, tonic.datasets.NMNIST.test_folder)):
        dataset = open_or_download(lambda: NMNIST(str(ctx.data_dir), train=train, transform=transform),
                                   recordings_present(root / folder), params.download and ctx.download,
                                   missing_recordings(root, folder))
        splits.append(binned_split(dataset, name=f"nmnist-{folder.lower()}", source=root,
                                   files=dataset.data, binning=params.binning,
                                   shape=describe_nmnist(params).input_shape))
    return splits[0], splits[1]


@hookimpl
def register_datasets(register):
    register(DatasetSpec("nmnist", NMNISTParams, describe_nmnist, load_nmnist,
                         "N-MNIST event recordings (tonic), denoised and binned into [T,2,34,34] frames; "
                         "60k/10k, from DATA/NMNIST/{Train,Test}/<digit>/*.bin", requires=requires_nmnist))
