"""What a learning rule gets from the runner: batches, timing and progress.

A :class:`TrainingSession` hands out shuffled batches of an in-memory split
that already sits on the device, and measures training throughput the one
way every cell shares: samples per second after ``warmup_batches``, with the
device synchronised at the edges of each timed span. Losses and hits are
summed on the device and read once per epoch, so the loop never waits on a
host sync.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator

import torch

from snnbench.api.contracts import DataSplit
from snnbench.api.errors import SnnbenchError, TrainingDiverged
from snnbench.api.records import EpochStats
from snnbench.api.training_config import TrainingConfig
from snnbench.running import execution
from snnbench.running.checkpoints import EpochCheckpoint
from snnbench.running.injected_slowdown import Slowdown
from snnbench.runtime import synchronize


def non_finite_parameters(model: torch.nn.Module) -> list[str]:
    """Names of the parameters holding a NaN or infinity, with how many of
    their values do (one host sync for all of them)."""
    named = [(name, p) for name, p in model.named_parameters() if p.is_floating_point()]
    if not named:
        return []
    bad = torch.stack([(~torch.isfinite(p.detach())).sum() for _, p in named]).tolist()
    return [f"{name} ({count} of {p.numel()} values)" for (name, p), count in zip(named, bad) if count]


class _RunningStats:
    """Loss and hits so far, brought to the host without making the loop wait.

    A copy to pinned host memory is queued behind the training work; the
    progress bar shows the newest copy that has landed, so on a GPU it lags a
    few batches instead of costing a synchronisation.
    """

    def __init__(self, device: torch.device):
        self._cuda = device.type == "cuda"
        self._host = torch.zeros(2, dtype=torch.float64, pin_memory=self._cuda)
        self._event = torch.cuda.Event() if self._cuda else None
        self._samples_in_copy = 0

    def request(self, loss_sum: torch.Tensor, hits: torch.Tensor, samples: int) -> None:
        if self._cuda and not self._event.query():
            return  # the previous copy is still queued
        self._host.copy_(torch.stack([loss_sum.double(), hits.double()]), non_blocking=self._cuda)
        if self._cuda:
            self._event.record()
        self._samples_in_copy = samples

    def latest(self) -> tuple[float, float] | None:
        """(mean loss, accuracy) of the newest landed copy, if any."""
        if not self._samples_in_copy or (self._cuda and not self._event.query()):
            return None
        loss_sum, hits = self._host.tolist()
        return loss_sum / self._samples_in_copy, hits / self._samples_in_copy


class CellTrainingSession:
    """Batches, timing and progress for one cell's training."""

    #: batches between updates of the progress bar's running loss and accuracy
    display_every = 10

    def __init__(self, config: TrainingConfig, device: torch.device, generator: torch.Generator,
                 progress=None, model: torch.nn.Module | None = None,
                 on_epoch: Callable[[EpochStats], None] | None = None,
                 checkpoint: EpochCheckpoint | None = None):
        self.config = config
        #: saved after every epoch of the rule's first ``epochs()`` loop and
        #: resumed from (:mod:`snnbench.running.checkpoints`); None: not resumable
        self.checkpoint = checkpoint
        #: told of every epoch as it closes (the lifecycle hook ``snnbench_epoch_closed``)
        self.on_epoch = on_epoch
        #: checked for non-finite parameters at the end of every epoch
        self.model = model
        self.device = device
        self.generator = generator
        self.progress = progress
        self.history: list[EpochStats] = []
        self.timed_samples = 0
        #: every sample the rule drew, warm-up included: what training energy is per
        self.samples_drawn = 0
        self.timed_seconds = 0.0
        self.total_seconds = 0.0
        #: wall seconds of every epoch, by stage ("train" for a rule without stages)
        self.epoch_seconds: dict[str, list[float]] = {}
        self._batches_seen = 0
        self._timer: float | None = None
        self._loss_sum = torch.zeros((), device=device)
        self._hits = torch.zeros((), device=device, dtype=torch.long)
        self._seen = 0
        self._has_loss = False
        self._running = _RunningStats(device) if progress is not None and progress.visible else None
        self._schedulers: list[torch.optim.lr_scheduler.LRScheduler] = []
        self._optimizers: list[torch.optim.Optimizer] = []
        self._prepared = False
        self._loops = 0
        #: test-only: a known regression for benchmarks/gate_power.py (SNNBENCH_INJECT_SLOWDOWN)
        self._slowdown = Slowdown()

    # -- what a learning rule calls -------------------------------------------------

    def schedule(self, optimizer: torch.optim.Optimizer) -> None:
        """Put ``optimizer`` under the suite's ``lr_schedule``; the session steps
        it at the end of every epoch, so every gradient rule shares one schedule."""
        self._optimizers.append(optimizer)
        scheduler = self.config.scheduler(optimizer)
        if scheduler is not None:
            self._schedulers.append(scheduler)

    def prepare(self, model: torch.nn.Module) -> torch.nn.Module:
        """Put ``model`` in the suite's ``memory_format`` and check that its
        ``precision`` runs here. A rule that honours the execution options calls
        this before training and runs its forward passes in :meth:`autocast`."""
        execution.check_precision(self.config.precision, self.device)
        self._prepared = True
        return execution.prepare_model(model, self.config.memory_format)

    def autocast(self):
        """The context each forward pass runs in, at the suite's ``precision``."""
        return execution.autocast(self.config.precision, self.device)

    def epochs(self, count: int | None = None, stage: str | None = None) -> Iterator[int]:
        """Yield ``count`` epoch numbers (default: the suite's ``epochs``); closes
        each epoch (stats, NaN check, wall time) when the learning rule asks for
        the next. A rule that trains in stages (layer by layer, say) calls this
        once per stage with the stage's name; each epoch's wall time is kept
        under that name in ``epoch_seconds``, which the runner records."""
        count = self.config.epochs if count is None else count
        self._refuse_ignored_execution_options()
        self._loops += 1
        checkpoint = self.checkpoint if self._loops == 1 and self.model is not None else None
        first = self._resume(checkpoint) if checkpoint is not None else 0
        started = time.perf_counter()
        for epoch in range(first, count):
            self._loss_sum.zero_()
            self._hits.zero_()
            self._seen = 0
            self._has_loss = False
            if self.progress is not None:
                self.progress.start_epoch(epoch, count, stage)
            epoch_started = time.perf_counter()
            yield epoch
            self._stop_timer()
            synchronize(self.device)
            seconds = time.perf_counter() - epoch_started
            self.epoch_seconds.setdefault(stage or "train", []).append(seconds)
            self._close_epoch(epoch, stage, seconds)
            for scheduler in self._schedulers:
                scheduler.step()
            if checkpoint is not None:
                self._save(checkpoint, epoch + 1, count, time.perf_counter() - started)
        self.total_seconds += time.perf_counter() - started

    def batches(self, split: DataSplit, batch_size: int | None = None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Shuffled ``(inputs, targets)`` batches of ``split``, timed after warm-up."""
        size = batch_size or self.config.batch_size
        order = torch.randperm(len(split), generator=self.generator).to(split.targets.device)
        for start in range(0, len(split), size):
            if self._batches_seen == self.config.warmup_batches or (
                    self._timer is None and self._batches_seen > self.config.warmup_batches):
                self._start_timer()
            index = order[start:start + size]
            step_started = time.perf_counter()
            yield split.inputs[index], split.targets[index]
            if self._slowdown:
                synchronize(self.device)
                self._slowdown.after_step(time.perf_counter() - step_started)
            self._batches_seen += 1
            self.samples_drawn += len(index)
            if self._timer is not None:
                self.timed_samples += len(index)
            if self.progress is not None:
                self.progress.advance(len(index))
            if self._running is not None and self._batches_seen % self.display_every == 0 and self._seen:
                latest = self._running.latest()
                if latest is not None:
                    self.progress.show_running(latest[0] if self._has_loss else None, latest[1])
                self._running.request(self._loss_sum, self._hits, self._seen)

    def record(self, loss: torch.Tensor | None, scores: torch.Tensor, targets: torch.Tensor) -> None:
        """Add one batch's loss and class scores ``[B, n_classes]`` to the epoch's
        stats. A rule that minimises no loss (STDP, R-STDP) passes None."""
        if loss is not None:
            self._loss_sum += loss.detach() * len(targets)
            self._has_loss = True
        self._hits += (scores.detach().argmax(-1) == targets).sum()
        self._seen += len(targets)

    # -- what the runner reads ------------------------------------------------------

    @property
    def samples_per_second(self) -> float | None:
        if self.timed_samples == 0 or self.timed_seconds <= 0:
            return None
        return self.timed_samples / self.timed_seconds

    # -- internals ------------------------------------------------------------------

    def _refuse_ignored_execution_options(self) -> None:
        """A cell asking for bf16 or channels-last from a rule that never called
        :meth:`prepare` would run fp32 and contiguous under a config that says
        otherwise; that is an error, not a silent default."""
        defaults = TrainingConfig()
        asked = [f"{key} = {getattr(self.config, key)!r}" for key in ("precision", "memory_format")
                 if getattr(self.config, key) != getattr(defaults, key)]
        if asked and not self._prepared:
            raise SnnbenchError(f"[training] {', '.join(asked)}: this learning rule does not support "
                                f"execution options (bptt and stal-pretrain's classifier do)")

    def _timing(self, seconds_this_loop: float) -> dict:
        return {"timed_samples": self.timed_samples, "timed_seconds": self.timed_seconds,
                "total_seconds": self.total_seconds + seconds_this_loop, "epoch_seconds": self.epoch_seconds}

    def _save(self, checkpoint: EpochCheckpoint, epochs_done: int, epochs: int, seconds_this_loop: float) -> None:
        checkpoint.save(epochs_done=epochs_done, epochs=epochs, model=self.model, optimizers=self._optimizers,
                        schedulers=self._schedulers, generator=self.generator, history=self.history,
                        timing=self._timing(seconds_this_loop))

    def _resume(self, checkpoint: EpochCheckpoint) -> int:
        """Restore a saved state, if any; the number of epochs it had finished.
        Warm-up batches are left out of the timing again after a resume."""
        state = checkpoint.load()
        if state is None:
            return 0
        stale = checkpoint.why_not_resumable(state)
        if stale is not None:
            if self.progress is not None:
                self.progress.note(f"not resuming from {checkpoint.path.name}: {stale}; training from the first epoch")
            return 0
        self.history = checkpoint.restore(state, model=self.model, optimizers=self._optimizers,
                                          schedulers=self._schedulers, generator=self.generator)
        timing = state["timing"]
        self.timed_samples, self.timed_seconds = timing["timed_samples"], timing["timed_seconds"]
        self.total_seconds, self.epoch_seconds = timing["total_seconds"], timing["epoch_seconds"]
        if self.progress is not None:
            self.progress.note(f"resumed from {checkpoint.path.name} after epoch {state['epochs_done']}")
        return state["epochs_done"]

    def _start_timer(self) -> None:
        synchronize(self.device)
        self._timer = time.perf_counter()

    def _stop_timer(self) -> None:
        if self._timer is not None:
            synchronize(self.device)
            self.timed_seconds += time.perf_counter() - self._timer
            self._timer = None

    def _close_epoch(self, epoch: int, stage: str | None, seconds: float) -> None:
        if self._seen == 0:
            return
        if self.model is not None:
            broken = non_finite_parameters(self.model)
            if broken:
                where = f"{stage} epoch {epoch + 1}" if stage else f"epoch {epoch + 1}"
                raise TrainingDiverged(f"parameters became NaN or infinite in {where}: {', '.join(broken)}")
        loss = float(self._loss_sum) / self._seen if self._has_loss else None
        accuracy = int(self._hits) / self._seen
        if loss is not None and not math.isfinite(loss):
            raise TrainingDiverged(f"training loss became {loss} in epoch {epoch + 1}")
        stats = EpochStats(epoch, loss, accuracy, stage, seconds)
        self.history.append(stats)
        if self.progress is not None:
            self.progress.end_epoch(loss, accuracy, seconds)
        if self.on_epoch is not None:
            self.on_epoch(stats)
