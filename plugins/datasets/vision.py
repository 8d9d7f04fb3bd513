"""Built-in datasets: MNIST and Fashion-MNIST (torchvision), and scikit-learn's
8x8 digits, which ships inside scikit-learn and so needs no files and no network.

All three are small enough to live in device memory whole: the runner moves
both splits to the device once, so the GPU never waits on a loader.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from snnbench import hookimpl
from snnbench.components import DataSplit, DatasetInfo, DatasetSpec, LoadContext
from snnbench.errors import DataUnavailableError

_IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
              "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


@dataclass(frozen=True)
class TorchvisionImagesParams:
    download: bool = field(default=True, metadata={
        "help": "download when the files are missing from the data directory"})


def _idx_files_present(raw: Path) -> bool:
    return all((raw / name).exists() or (raw / f"{name}.gz").exists() for name in _IDX_FILES)


def _load_idx_dataset(torchvision_class, folder: str, name: str,
                      params: TorchvisionImagesParams, ctx: LoadContext) -> tuple[DataSplit, DataSplit]:
    """Load an MNIST-format dataset through torchvision, offline when the files are there."""
    raw = ctx.data_dir / folder / "raw"
    download = params.download and ctx.download and not _idx_files_present(raw)
    splits = []
    for train in (True, False):
        try:
            data = torchvision_class(root=str(ctx.data_dir), train=train, download=download)
        except Exception as error:  # torchvision raises RuntimeError/URLError/OSError
            raise DataUnavailableError(
                f"{name}: could not load from {raw} ({type(error).__name__}: {error}). "
                f"Put {', '.join(_IDX_FILES)} (or their .gz) there, or point --data-dir / "
                f"SNNBENCH_DATA at a folder holding {folder}/raw/") from None
        images = data.data.to(torch.float32).div_(255.0).unsqueeze(1)
        splits.append(DataSplit(images, data.targets.clone().long()))
    return splits[0], splits[1]


def describe_28x28(name: str):
    return lambda params: DatasetInfo(name=name, kind="static", input_shape=(1, 28, 28), n_classes=10)


def load_mnist(params: TorchvisionImagesParams, ctx: LoadContext) -> tuple[DataSplit, DataSplit]:
    from torchvision.datasets import MNIST
    return _load_idx_dataset(MNIST, "MNIST", "mnist", params, ctx)


def load_fashion_mnist(params: TorchvisionImagesParams, ctx: LoadContext) -> tuple[DataSplit, DataSplit]:
    from torchvision.datasets import FashionMNIST
    return _load_idx_dataset(FashionMNIST, "FashionMNIST", "fashion-mnist", params, ctx)


@dataclass(frozen=True)
class DigitsParams:
    test_fraction: float = field(default=0.2, metadata={"help": "share of the 1,797 images held out for test"})
    split_seed: int = field(default=0, metadata={"help": "seed of the fixed train/test split"})

    def __post_init__(self):
        if not 0.0 < self.test_fraction < 1.0:
            raise ValueError("test_fraction must lie strictly between 0 and 1")


def describe_digits(params: DigitsParams) -> DatasetInfo:
    return DatasetInfo(name="digits", kind="static", input_shape=(1, 8, 8), n_classes=10)


def load_digits(params: DigitsParams, ctx: LoadContext) -> tuple[DataSplit, DataSplit]:
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    images = torch.tensor(bunch.images, dtype=torch.float32).div_(16.0).unsqueeze(1)
    labels = torch.tensor(bunch.target, dtype=torch.long)
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(params.split_seed))
    n_test = int(round(len(labels) * params.test_fraction))
    test, train = order[:n_test], order[n_test:]
    return DataSplit(images[train], labels[train]), DataSplit(images[test], labels[test])


@hookimpl
def register_datasets(register):
    register(DatasetSpec("mnist", TorchvisionImagesParams, describe_28x28("mnist"), load_mnist,
                         "MNIST handwritten digits, 28x28, 60k/10k (torchvision layout under DATA/MNIST/raw)"))
    register(DatasetSpec("fashion-mnist", TorchvisionImagesParams, describe_28x28("fashion-mnist"), load_fashion_mnist,
                         "Fashion-MNIST, 28x28, 60k/10k (torchvision layout under DATA/FashionMNIST/raw)"))
    register(DatasetSpec("digits", DigitsParams, describe_digits, load_digits,
                         "scikit-learn 8x8 digits, 1,797 images; bundled, needs no files or network"))
