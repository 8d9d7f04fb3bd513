"""Built-in datasets: MNIST, Fashion-MNIST and CIFAR-10 (torchvision), and
scikit-learn's 8x8 digits, which ships inside scikit-learn and so needs no
files and no network.

All of them are small enough to live in device memory whole (CIFAR-10 as
float32: 737 MB): the runner moves both splits to the device once, so the GPU
never waits on a loader.

CIFAR-10 is torchvision's download (its URL and archive checksum) and
torchvision's on-disk layout, ``DATA/cifar-10-batches-py/`` with the five
pickled training batches and ``test_batch``. The batches are read here rather
than by ``torchvision.datasets.CIFAR10``, which checks each file's MD5 and so
refuses any other copy of the files (a subset, a test's fixture); a damaged
file still fails, with a message saying which.

A pickle can name any importable callable and so run any code when it is
loaded, and the data directory is not trusted: the batches are unpickled by
:class:`CifarBatchUnpickler`, which admits only what the format holds
(dicts, lists, strings, bytes and numpy uint8 arrays), and a file that names
anything else is refused before any of it runs.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from snnbench.api import (
    DatasetInfo,
    DatasetSpec,
    DataSplit,
    DataUnavailableError,
    LoadContext,
    hookimpl,
    param,
)

_IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
              "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


@dataclass(frozen=True)
class TorchvisionImagesParams:
    download: bool = field(default=True, metadata={
        "help": "download when the files are missing from the data directory"})


def _may_download(params: TorchvisionImagesParams, ctx: LoadContext) -> bool:
    return params.download and ctx.download


def _idx_files_missing(raw: Path) -> list[str]:
    """The unpacked files torchvision reads that are not in ``raw`` (it reads
    no .gz without its download step)."""
    return [name for name in _IDX_FILES if not (raw / name).exists()]


def _idx_requires(folder: str, name: str):
    """``requires`` of an MNIST-format dataset kept under ``DATA/<folder>/raw``."""
    def requires(params: TorchvisionImagesParams, ctx: LoadContext) -> str | None:
        raw = ctx.data_dir / folder / "raw"
        missing = _idx_files_missing(raw)
        if not missing or _may_download(params, ctx):
            return None
        packed = [f"{file}.gz" for file in missing if (raw / f"{file}.gz").exists()]
        return (f"{name}: put {', '.join(missing)} in {raw}"
                + (f" (gunzip {', '.join(packed)} there)" if packed else "")
                + f", or point --data-dir / SNNBENCH_DATA at a folder holding {folder}/raw/; "
                  "downloading is off (--no-download or download = false)")
    return requires


def _load_idx_dataset(torchvision_class, folder: str, name: str,
                      params: TorchvisionImagesParams, ctx: LoadContext) -> tuple[DataSplit, DataSplit]:
    """Load an MNIST-format dataset through torchvision, offline when the files
    are there. Missing files with downloading off are refused here, in our
    words: torchvision's own error would advise download=True."""
    missing = _idx_requires(folder, name)(params, ctx)
    if missing:
        raise DataUnavailableError(missing)
    raw = ctx.data_dir / folder / "raw"
    download = _may_download(params, ctx) and bool(_idx_files_missing(raw))
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


def describe_cifar10(params: TorchvisionImagesParams) -> DatasetInfo:
    return DatasetInfo(name="cifar10", kind="static", input_shape=(3, 32, 32), n_classes=10)


class CifarBatchUnpickler(pickle.Unpickler):
    """Unpickles a CIFAR-10 batch and nothing else: the only globals it
    resolves are the ones numpy's arrays pickle through (under numpy 1's and
    numpy 2's module names) and ``_codecs.encode``, which protocol 2 uses for
    bytes. Any other global (``os.system``, ``builtins.eval``) is refused
    before it is called."""

    ALLOWED = frozenset({
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
    })

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"it asks to load {module}.{name}, which a CIFAR-10 batch never "
                                         "holds (only dicts, lists, strings, bytes and numpy arrays)")
        return super().find_class(module, name)


def _read_cifar_batch(path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """One batch's images ``[N, 3, 32, 32]`` (uint8) and labels ``[N]``."""
    with open(path, "rb") as file:
        batch = CifarBatchUnpickler(file, encoding="latin1").load()
    if not isinstance(batch, dict) or "data" not in batch or "labels" not in batch:
        raise ValueError("not a CIFAR-10 batch: expected a dict with 'data' and 'labels'")
    data, labels = batch["data"], batch["labels"]
    if not (isinstance(data, np.ndarray) and data.dtype == np.uint8 and data.ndim == 2
            and data.shape[1] == 3 * 32 * 32):
        raise ValueError("'data' is not a uint8 array of rows of 3x32x32 values")
    if not (isinstance(labels, list) and len(labels) == len(data)
            and all(isinstance(label, int) and 0 <= label < 10 for label in labels)):
        raise ValueError(f"'labels' is not a list of {len(data)} class numbers 0-9")
    return torch.from_numpy(data.copy()).reshape(-1, 3, 32, 32), torch.tensor(labels, dtype=torch.long)


def _read_cifar_batches(folder: Path, names: list[str]) -> DataSplit:
    images, labels = [], []
    for name in names:
        try:
            batch_images, batch_labels = _read_cifar_batch(folder / name)
        except (OSError, pickle.UnpicklingError, EOFError, KeyError, TypeError, ValueError, RuntimeError) as error:
            raise DataUnavailableError(f"cifar10: cannot read {folder / name} ({type(error).__name__}: {error}); "
                                       "delete it to download it again") from None
        images.append(batch_images)
        labels.append(batch_labels)
    return DataSplit(torch.cat(images).to(torch.float32).div_(255.0), torch.cat(labels))


def load_cifar10(params: TorchvisionImagesParams, ctx: LoadContext) -> tuple[DataSplit, DataSplit]:
    from torchvision.datasets import CIFAR10

    folder = ctx.data_dir / CIFAR10.base_folder
    train_names = [name for name, _ in CIFAR10.train_list]
    test_names = [name for name, _ in CIFAR10.test_list]
    missing = _cifar10_missing(ctx)
    if missing and _may_download(params, ctx):
        try:
            CIFAR10(root=str(ctx.data_dir), train=True, download=True)
        except Exception as error:  # torchvision raises RuntimeError/URLError/OSError
            raise DataUnavailableError(f"cifar10: download into {ctx.data_dir} failed ({type(error).__name__}: "
                                       f"{error}); put {CIFAR10.filename}'s contents in {folder}") from None
        missing = _cifar10_missing(ctx)
    if missing:
        raise DataUnavailableError(_cifar10_missing_message(ctx, missing))
    return _read_cifar_batches(folder, train_names), _read_cifar_batches(folder, test_names)


def _cifar10_missing(ctx: LoadContext) -> list[str]:
    from torchvision.datasets import CIFAR10

    folder = ctx.data_dir / CIFAR10.base_folder
    return [name for name, _ in (*CIFAR10.train_list, *CIFAR10.test_list) if not (folder / name).exists()]


def _cifar10_missing_message(ctx: LoadContext, missing: list[str]) -> str:
    from torchvision.datasets import CIFAR10

    return (f"cifar10: {', '.join(missing)} missing from {ctx.data_dir / CIFAR10.base_folder}. Unpack "
            f"{CIFAR10.filename} in {ctx.data_dir} (it holds {CIFAR10.base_folder}/), or point --data-dir / "
            f"SNNBENCH_DATA at a folder holding {CIFAR10.base_folder}/")


def cifar10_requires(params: TorchvisionImagesParams, ctx: LoadContext) -> str | None:
    missing = _cifar10_missing(ctx)
    if not missing or _may_download(params, ctx):
        return None
    return _cifar10_missing_message(ctx, missing) + "; downloading is off (--no-download or download = false)"


@dataclass(frozen=True)
class DigitsParams:
    test_fraction: float = param(0.2, "share of the 1,797 images held out for test", gt=0, lt=1)
    split_seed: int = param(0, "seed of the fixed train/test split")


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
                         "MNIST handwritten digits, 28x28, 60k/10k (torchvision layout under DATA/MNIST/raw)",
                         requires=_idx_requires("MNIST", "mnist")))
    register(DatasetSpec("fashion-mnist", TorchvisionImagesParams, describe_28x28("fashion-mnist"), load_fashion_mnist,
                         "Fashion-MNIST, 28x28, 60k/10k (torchvision layout under DATA/FashionMNIST/raw)",
                         requires=_idx_requires("FashionMNIST", "fashion-mnist")))
    register(DatasetSpec("cifar10", TorchvisionImagesParams, describe_cifar10, load_cifar10,
                         "CIFAR-10 colour images, 3x32x32, 50k/10k (torchvision layout under "
                         "DATA/cifar-10-batches-py)", requires=cifar10_requires))
    register(DatasetSpec("digits", DigitsParams, describe_digits, load_digits,
                         "scikit-learn 8x8 digits, 1,797 images; bundled, needs no files or network"))
