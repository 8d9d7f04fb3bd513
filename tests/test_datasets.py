"""Dataset loaders: real MNIST from the data directory, a clear message when
files are missing, and the bundled digits split."""

from __future__ import annotations

import pytest
import torch
from snnbench_plugins.datasets.vision import (
    DigitsParams,
    TorchvisionImagesParams,
    load_digits,
    load_mnist,
)

from snnbench.api.contracts import LoadContext
from snnbench.api.errors import DataUnavailableError

# training-label counts of the original MNIST, digits 0..9
MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]


def test_mnist_loads_offline_from_the_data_directory(mnist_dir):
    train, test = load_mnist(TorchvisionImagesParams(download=False), LoadContext(mnist_dir, download=False))
    assert train.inputs.shape == (60000, 1, 28, 28) and test.inputs.shape == (10000, 1, 28, 28)
    assert train.inputs.dtype == torch.float32
    assert train.inputs.min() == 0.0 and train.inputs.max() == 1.0
    assert torch.bincount(train.targets).tolist() == MNIST_TRAIN_COUNTS


def test_missing_files_say_where_to_put_them(tmp_path):
    with pytest.raises(DataUnavailableError) as error:
        load_mnist(TorchvisionImagesParams(download=False), LoadContext(tmp_path, download=False))
    message = str(error.value)
    assert str(tmp_path / "MNIST" / "raw") in message
    assert "train-images-idx3-ubyte" in message and "--data-dir" in message


def test_digits_split_is_fixed_and_disjoint():
    train, test = load_digits(DigitsParams(), LoadContext(None))
    again, _ = load_digits(DigitsParams(), LoadContext(None))
    assert len(train) + len(test) == 1797 and len(test) == 359
    assert torch.equal(train.inputs, again.inputs)
    assert train.inputs.max() == 1.0 and train.inputs.shape[1:] == (1, 8, 8)
    flat_train = {tuple(x.flatten().tolist()) for x in train.inputs}
    overlap = sum(tuple(x.flatten().tolist()) in flat_train for x in test.inputs)
    assert overlap < 5  # a handful of digits are pixel-identical duplicates in the original set
