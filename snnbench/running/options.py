"""How a run is asked to go: the options every cell of a run shares, set
from the command line, handed to whichever executor runs the cells (so it
lives apart from the runner, which executors must not import)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from snnbench.running.leases import DEFAULT_LEASE_SECONDS


@dataclass
class RunOptions:
    device: torch.device
    data_dir: Path
    download: bool = True
    rerun: bool = False
    #: cap on training and test samples, overriding the suite (quick CPU runs)
    limit: int | None = None
    #: cap on epochs, overriding the suite
    max_epochs: int | None = None
    progress: bool | None = None
    #: how long a claim on a cell holds after its process stops renewing it
    lease_seconds: float = DEFAULT_LEASE_SECONDS
    #: pause between looks at the cells other processes hold
    poll_seconds: float = 2.0
    #: keep each ok cell's trained model beside the store (snnbench.results.models)
    keep_models: bool = True
    #: where cells of resumable rules keep their end-of-epoch checkpoints; None: nowhere
    checkpoint_dir: Path | None = None
