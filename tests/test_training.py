"""The training session: warm-up batches stay out of the throughput timing,
every sample is seen once per epoch, and progress reports the loss and
accuracy so far without the loop waiting on the device."""

from __future__ import annotations

import pytest
import torch

from snnbench.api.contracts import DataSplit
from snnbench.api.training_config import TrainingConfig
from snnbench.running.training import CellTrainingSession


class RecordingProgress:
    visible = True

    def __init__(self):
        self.running, self.ended, self.samples = [], [], 0

    def start_epoch(self, epoch, epochs, stage=None):
        pass

    def advance(self, samples):
        self.samples += samples

    def show_running(self, loss, accuracy):
        self.running.append((loss, accuracy))

    def end_epoch(self, loss, accuracy, seconds):
        assert seconds > 0
        self.ended.append((loss, accuracy))


def test_session_times_after_warmup_and_reports_progress():
    split = DataSplit(torch.arange(1000.0).unsqueeze(1), torch.arange(1000) % 2)
    progress = RecordingProgress()
    config = TrainingConfig(epochs=2, batch_size=32, warmup_batches=3)
    session = CellTrainingSession(config, torch.device("cpu"), torch.Generator().manual_seed(0), progress)
    seen = []
    for _ in session.epochs():
        for inputs, targets in session.batches(split):
            seen.append(inputs.squeeze(1).long())
            scores = torch.stack([targets == 0, targets == 1], dim=1).float()  # always right
            session.record(torch.tensor(0.5), scores, targets)
    first_epoch = torch.cat(seen[:32]).sort().values
    assert torch.equal(first_epoch, torch.arange(1000))          # each sample once per epoch
    assert not torch.equal(torch.cat(seen[:32]), torch.arange(1000))  # and shuffled
    assert session.timed_samples == 2 * 1000 - 3 * 32
    assert session.samples_per_second > 0
    assert [(round(e.loss, 6), e.train_accuracy) for e in session.history] == [(0.5, 1.0), (0.5, 1.0)]
    assert progress.samples == 2000 and progress.ended == [(0.5, 1.0), (0.5, 1.0)]
    assert progress.running and all(abs(loss - 0.5) < 1e-6 and acc == 1.0 for loss, acc in progress.running)


def _learning_rates(config: TrainingConfig) -> list[float]:
    """The learning rate each epoch of a session trains with."""
    weight = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([weight], lr=1.0)
    session = CellTrainingSession(config, torch.device("cpu"), torch.Generator().manual_seed(0))
    session.schedule(optimizer)
    rates = []
    split = DataSplit(torch.zeros(4, 1), torch.zeros(4, dtype=torch.long))
    for _ in session.epochs():
        rates.append(optimizer.param_groups[0]["lr"])
        for _inputs, targets in session.batches(split):
            optimizer.step()
            session.record(torch.tensor(1.0), torch.zeros(len(targets), 2), targets)
    return rates


def test_learning_rate_schedules_step_once_per_epoch():
    assert _learning_rates(TrainingConfig(epochs=3)) == [1.0, 1.0, 1.0]
    assert _learning_rates(TrainingConfig(epochs=5, lr_schedule="step", lr_step_size=2, lr_gamma=0.5)) \
        == [1.0, 1.0, 0.5, 0.5, 0.25]
    multistep = _learning_rates(TrainingConfig(epochs=20, lr_schedule="multistep", lr_milestones=(10, 15)))
    assert multistep[9] == 1.0 and multistep[10] == pytest.approx(0.1) and multistep[15] == pytest.approx(0.01)
    cosine = _learning_rates(TrainingConfig(epochs=4, lr_schedule="cosine"))
    assert cosine[0] == 1.0 and cosine[2] == pytest.approx(0.5) and cosine == sorted(cosine, reverse=True)


def test_multistep_schedule_without_milestones_is_refused():
    with pytest.raises(ValueError, match="lr_milestones"):
        TrainingConfig(lr_schedule="multistep")
