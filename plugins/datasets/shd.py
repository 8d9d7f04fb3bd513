"""Spiking Heidelberg Digits (Cramer et al. 2022): spoken digits 0-9 in
English and German (20 classes) turned into spikes of 700 cochlear channels,
8,156 training and 2,264 test recordings of up to about 1.4 s. Loaded and
downloaded by tonic, optionally pooled to fewer channels with tonic's
``Downsample``, and binned into ``[T, channels]`` spike rasters by ``ToFrame``.

Layout under the data directory (tonic's): ``SHD/shd_train.h5`` and
``SHD/shd_test.h5``, the HDF5 files of the release (``spikes/times`` in
seconds and ``spikes/units`` per recording, ``labels``, ``extra/keys``,
``extra/speaker``). The .h5 files suffice; tonic's own check also wants the
zip and its checksum, which offline copies often lack.
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

CHANNELS = tonic.datasets.SHD.sensor_size[0]  # 700


@dataclass(frozen=True)
class SHDParams:
    n_time_bins: int = param(100, "time steps per recording: the T of every sample", ge=1)
    time_window: float = param(10_000.0, "microseconds per step from the recording's start (the default "
                                         "100 x 10 ms covers 1 s; later spikes are dropped). 0: each recording "
                                         "is cut into n_time_bins equal spans of its own length", ge=0)
    channels: int = param(CHANNELS, "input channels: the 700 cochlear channels are pooled into this many "
                                    "neighbouring groups (tonic Downsample, spatial_factor = channels / 700); "
                                    "700 keeps them all", ge=1, le=CHANNELS)
    binary: bool = field(default=True, metadata={
        "help": "a 0/1 raster (several spikes of a channel in one step count once); false keeps counts"})
    download: bool = field(default=True, metadata={
        "help": "download with tonic when the .h5 files are missing from the data directory"})

    @property
    def binning(self) -> dict:
        """What the binned rasters depend on: the cache key."""
        return {"n_time_bins": self.n_time_bins, "time_window": float(self.time_window),
                "channels": self.channels, "binary": self.binary}


class SHD(tonic.datasets.SHD):
    """tonic's SHD, satisfied by the .h5 file alone (tonic's check also wants
    the zip, verified by MD5). Named like tonic's class because tonic names
    the data folder after the class."""

    def _check_exists(self) -> bool:
        return (Path(self.location_on_system) / self.data_filename).is_file()


def describe_shd(params: SHDParams) -> DatasetInfo:
    return DatasetInfo(name="shd", kind="spikes", input_shape=(params.n_time_bins, params.channels), n_classes=20)


def raster_transform(params: SHDParams) -> tonic.transforms.Compose:
    sensor = (params.channels, 1, 1)
    steps = params.n_time_bins
    if params.time_window == 0:
        to_frame = tonic.transforms.ToFrame(sensor_size=sensor, n_time_bins=steps)
    else:
        to_frame = tonic.transforms.ToFrame(sensor_size=sensor, time_window=params.time_window,
                                            start_time=0, end_time=steps * params.time_window)
    pool = ([tonic.transforms.Downsample(spatial_factor=params.channels / CHANNELS)]
            if params.channels != CHANNELS else [])
    return tonic.transforms.Compose([*pool, to_frame,
                                     FixedFrames(describe_shd(params).input_shape, params.binary)])


def shd_filename(train: bool) -> str:
    return (tonic.datasets.SHD.train_zip if train else tonic.datasets.SHD.test_zip).removesuffix(".zip")


def missing_file(root: Path, filename: str) -> str:
    return (f"shd: {root / filename} is missing (the Spiking Heidelberg Digits file, unzipped from "
            f"{tonic.datasets.SHD.base_url}{filename}.zip; or point --data-dir / SNNBENCH_DATA at a "
            f"folder holding SHD/{filename})")


def requires_shd(params: SHDParams, ctx: LoadContext) -> str | None:
    root = ctx.data_dir / "SHD"
    return offline_shortfall((missing_file(root, shd_filename(train)) for train in (True, False)
                              if not (root / shd_filename(train)).is_file()), params.download and ctx.download)


def load_shd(params: SHDParams, ctx: LoadContext) -> tuple[DataSplit, DataSplit]:
    root = ctx.data_dir / "SHD"
    transform = raster_transform(params)
    splits = []
    for train in (True, False):
        filename = shd_filename(train)
        dataset = open_or_download(lambda: SHD(str(ctx.data_dir), train=train, transform=transform),
                                   (root / filename).is_file(), params.download and ctx.download,
                                   missing_file(root, filename))
        splits.append(binned_split(dataset, name=f"shd-{'train' if train else 'test'}", source=root,
                                   files=[root / filename], binning=params.binning,
                                   shape=describe_shd(params).input_shape))
    return splits[0], splits[1]


@hookimpl
def register_datasets(register):
    register(DatasetSpec("shd", SHDParams, describe_shd, load_shd,
                         "Spiking Heidelberg Digits (tonic): 700 channels (or fewer, pooled), 20 classes, "
                         "8,156/2,264, binned into [T, channels] spikes; from DATA/SHD/shd_{train,test}.h5",
                         requires=requires_shd))
