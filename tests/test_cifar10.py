"""CIFAR-10 from a data directory in torchvision's layout: a small fake set is
written in the real on-disk format (pickled batches under
cifar-10-batches-py/) and read by the real loader, offline."""

from __future__ import annotations

import pickle

import pytest
import torch

from snnbench.api.contracts import LoadContext
from snnbench.api.errors import DataUnavailableError
from snnbench.definition.plugins import load_plugins

BATCHES = [f"data_batch_{i}" for i in range(1, 6)]


def _write_batch(path, rows: torch.Tensor, labels: list[int]) -> None:
    """One batch as the real files hold it: a dict with uint8 rows of 3072
    values (1024 red, 1024 green, 1024 blue, each row-major 32x32) and labels."""
    batch = {"batch_label": path.name, "labels": labels, "data": rows.numpy(),
             "filenames": [f"img{i}.png" for i in range(len(labels))]}
    path.write_bytes(pickle.dumps(batch, protocol=2))


@pytest.fixture
def fake_cifar(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    generator = torch.Generator().manual_seed(0)
    for index, name in enumerate([*BATCHES, "test_batch"]):
        rows = torch.randint(0, 256, (3, 3072), dtype=torch.uint8, generator=generator)
        _write_batch(folder / name, rows, [(index + k) % 10 for k in range(3)])
    # a marker: the first training image has a pure-green pixel at row 5, column 7
    first = pickle.loads((folder / "data_batch_1").read_bytes())
    first["data"][0, [5 * 32 + 7, 1024 + 5 * 32 + 7, 2048 + 5 * 32 + 7]] = [0, 255, 0]
    (folder / "data_batch_1").write_bytes(pickle.dumps(first, protocol=2))
    (folder / "batches.meta").write_bytes(pickle.dumps(
        {"label_names": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
                         "truck"], "num_cases_per_batch": 3, "num_vis": 3072}, protocol=2))
    return tmp_path


def _spec():
    return load_plugins().registries["dataset"].get("cifar10").spec


def test_fake_cifar10_loads_offline_in_its_real_format(fake_cifar):
    spec = _spec()
    info = spec.describe(spec.params())
    assert info.input_shape == (3, 32, 32) and info.n_classes == 10 and info.kind == "static"
    train, test = spec.load(spec.params(download=False), LoadContext(fake_cifar, download=False))
    assert train.inputs.shape == (15, 3, 32, 32) and test.inputs.shape == (3, 3, 32, 32)
    assert train.inputs.dtype == torch.float32 and 0.0 <= train.inputs.min() and train.inputs.max() <= 1.0
    assert train.inputs[0, :, 5, 7].tolist() == [0.0, 1.0, 0.0]  # channels, rows and columns in place
    assert train.targets.tolist() == [(i // 3 + i % 3) % 10 for i in range(15)]  # batches in order
    assert test.targets.tolist() == [5, 6, 7]
    raw = pickle.loads((fake_cifar / "cifar-10-batches-py" / "test_batch").read_bytes())["data"]
    assert torch.equal(test.inputs.mul(255).round().to(torch.uint8).reshape(3, -1), torch.from_numpy(raw))


def test_missing_cifar10_files_say_where_to_put_them(fake_cifar):
    (fake_cifar / "cifar-10-batches-py" / "data_batch_3").unlink()
    spec = _spec()
    with pytest.raises(DataUnavailableError) as error:
        spec.load(spec.params(download=False), LoadContext(fake_cifar, download=False))
    message = str(error.value)
    assert "data_batch_3" in message and str(fake_cifar / "cifar-10-batches-py") in message
    assert "--data-dir" in message


def test_a_damaged_cifar10_file_is_named(fake_cifar):
    (fake_cifar / "cifar-10-batches-py" / "test_batch").write_bytes(b"not a pickle")
    spec = _spec()
    with pytest.raises(DataUnavailableError, match="test_batch"):
        spec.load(spec.params(download=False), LoadContext(fake_cifar, download=False))


class _RunsCode:
    """Pickles as a call of ``exec`` that writes ``marker``, as a crafted batch would."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return exec, (f"open({self.marker!r}, 'w').write('ran')",)


def test_a_crafted_cifar10_batch_is_refused_before_its_code_runs(fake_cifar, tmp_path):
    marker = tmp_path / "the-pickle-ran"
    batch = {"batch_label": "x", "labels": [0, 1, 2], "data": _RunsCode(marker), "filenames": []}
    (fake_cifar / "cifar-10-batches-py" / "data_batch_1").write_bytes(pickle.dumps(batch, protocol=2))
    spec = _spec()
    with pytest.raises(DataUnavailableError) as error:
        spec.load(spec.params(download=False), LoadContext(fake_cifar, download=False))
    assert not marker.exists()
    message = str(error.value)
    assert "data_batch_1" in message and "__builtin__.exec" in message  # protocol 2 names builtins so


def test_a_cifar10_batch_of_the_wrong_shape_is_named(fake_cifar):
    batch = {"labels": [0, 1], "data": torch.zeros(2, 100, dtype=torch.uint8).numpy()}
    (fake_cifar / "cifar-10-batches-py" / "data_batch_2").write_bytes(pickle.dumps(batch, protocol=2))
    spec = _spec()
    with pytest.raises(DataUnavailableError, match="data_batch_2.*3x32x32"):
        spec.load(spec.params(download=False), LoadContext(fake_cifar, download=False))
