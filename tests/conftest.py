"""Shared fixtures: the real data directory, the plugin set, GPU skipping."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from snnbench.plugins import load_plugins

REPO = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    """``$SNNBENCH_DATA`` if set, else the ``shared/data`` beside the checkout."""
    return Path(os.environ.get("SNNBENCH_DATA") or REPO.parent / "shared" / "data")


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    root = shared_data_dir()
    if not (root / "MNIST" / "raw" / "train-images-idx3-ubyte").exists() and not (
            root / "MNIST" / "raw" / "train-images-idx3-ubyte.gz").exists():
        pytest.skip(f"real MNIST not found under {root}/MNIST/raw (set SNNBENCH_DATA to a folder holding it)")
    return root


@pytest.fixture(scope="session")
def plugins():
    return load_plugins()


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device; none here")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
