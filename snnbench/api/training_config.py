"""The ``[training]`` table of a suite: what the runner's training session is
asked to do, parsed and checked while the suite is defined, so a bad value is
an error of the suite file before anything trains.

It lives with the suite's definition; :mod:`snnbench.running.training` runs it
(and re-exports it for plugins that import it from there).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch

from snnbench.api.params import hashed_params, param

#: Numeric precision of the stateless layers (see :mod:`snnbench.running.execution`).
Precision = Literal["fp32", "bf16"]
#: Storage layout of conv weights and feature maps.
MemoryFormat = Literal["contiguous", "channels_last"]


@dataclass(frozen=True)
class TrainingConfig:
    """The ``[training]`` table of a suite."""

    epochs: int = param(1, "passes over the training split", ge=1)
    batch_size: int = param(128, "training batch size", ge=1)
    eval_batch_size: int = param(500, "batch size for evaluation", ge=1)
    train_limit: int | None = param(None, "use only the first N training samples", ge=1)
    test_limit: int | None = param(None, "use only the first N test samples", ge=1)
    warmup_batches: int = param(3, "batches left out of the throughput timing", ge=0)
    lr_schedule: Literal["constant", "step", "multistep", "cosine"] = field(default="constant", metadata={
        "help": "learning-rate schedule, stepped once per epoch: step (every lr_step_size epochs), "
                "multistep (at lr_milestones), cosine (to 0 over the epochs)"})
    lr_step_size: int = param(5, "step: epochs between decays", ge=1)
    lr_milestones: tuple[int, ...] = param((), "multistep: epochs after which to decay, increasing", ge=1)
    lr_gamma: float = param(0.1, "step/multistep: factor applied at each decay", gt=0, le=1)
    # Execution options (snnbench.running.execution). Added after rows were recorded, so
    # at their defaults they stay out of a cell's config and hash (see as_config).
    precision: Precision = field(default="fp32", metadata={
        "help": "fp32, or bf16: the forward pass under bf16 autocast (weights, optimiser and neuron "
                "state stay fp32)", "hashed_when_default": False})
    memory_format: MemoryFormat = field(default="contiguous", metadata={
        "help": "contiguous, or channels_last: conv weights and feature maps stored NHWC",
        "hashed_when_default": False})

    def __post_init__(self):
        if self.lr_schedule == "multistep" and not self.lr_milestones:
            raise ValueError("lr_schedule = 'multistep' needs lr_milestones")
        if list(self.lr_milestones) != sorted(set(self.lr_milestones)):
            raise ValueError("lr_milestones must be increasing epoch numbers")

    def as_config(self) -> dict[str, object]:
        """The TOML-shaped table that enters a cell's config and hash: every key,
        except those marked ``hashed_when_default = False`` while they hold their
        default, so adding such an option leaves every existing cell's hash (and
        so its recorded rows and baselines) as it was."""
        return hashed_params(self)

    def scheduler(self, optimizer: torch.optim.Optimizer) -> torch.optim.lr_scheduler.LRScheduler | None:
        """The learning-rate schedule for ``optimizer``, to step once per epoch."""
        schedulers = torch.optim.lr_scheduler
        if self.lr_schedule == "step":
            return schedulers.StepLR(optimizer, self.lr_step_size, self.lr_gamma)
        if self.lr_schedule == "multistep":
            return schedulers.MultiStepLR(optimizer, list(self.lr_milestones), self.lr_gamma)
        if self.lr_schedule == "cosine":
            return schedulers.CosineAnnealingLR(optimizer, T_max=self.epochs)
        return None
