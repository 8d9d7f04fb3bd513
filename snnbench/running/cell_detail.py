"""What a cell keeps for its detail page: small, JSON-able pictures of its run.

The leaderboard needs a handful of numbers per cell; a person looking at one
cell wants to see how it trained and what it does: the loss and accuracy of
every epoch, the confusion matrix on the test split, and the spikes of a few
test samples. These functions turn the trained model, the test split and the
training session into small dicts that go into the cell's row (under
``metrics``), so ``snnbench report`` can draw them long after the model is
gone. Everything here is bounded in size whatever the dataset: a few samples,
at most :data:`RASTER_NEURONS` neurons per layer.

:func:`first_samples` runs the model over the test split's first batch once
more, for the rasters; the confusion matrix comes from the evaluation's own pass
(:func:`snnbench.running.metrics.evaluate`), so it agrees with the recorded
accuracy exactly and a slow model's split is not run twice. The batch runs
inside ``torch.random.fork_rng``, so it leaves every random stream as it
found it; called just before the evaluation, it sees the same random draws
(a rate encoder's spikes) as the evaluation's first batch.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from snnbench.api.contracts import DataSplit, iter_spiking_layers
from snnbench.api.records import EpochStats

#: test samples whose spikes are kept (the first ones of the test split)
RASTER_SAMPLES = 3
#: neurons per layer in a raster, evenly spaced over the layer's flattened features
RASTER_NEURONS = 64
#: version of the layout below; the report says what a row lacks by its keys
DETAIL_VERSION = 1


def history(epochs) -> list[dict[str, Any]]:
    """Loss and training accuracy of every epoch (and its stage, for rules
    that train in stages), from :attr:`snnbench.running.training.CellTrainingSession.history`."""
    return [{"epoch": e.epoch, "stage": e.stage, "loss": e.loss, "train_accuracy": e.train_accuracy}
            for e in epochs]


def replayed_epochs(metrics: dict[str, Any]) -> list[EpochStats]:
    """A finished row's epochs as they closed, from its ``history`` and
    ``epoch_seconds``: what the lifecycle hooks are told of a cell that ran in
    another process (see :attr:`snnbench.running.executors.Executor.live_epochs`)."""
    seconds = metrics.get("epoch_seconds") or {}
    return [EpochStats(e["epoch"], e["loss"], e["train_accuracy"], e["stage"],
                       seconds.get(e["stage"] or "train", [])[e["epoch"]])
            for e in metrics.get("history") or []]


def _sampled(features: int) -> torch.Tensor:
    """Indices of at most RASTER_NEURONS neurons spread over ``features``."""
    count = min(features, RASTER_NEURONS)
    return torch.linspace(0, features - 1, count).round().long()


def _events(spikes: torch.Tensor) -> dict[str, Any]:
    """``spikes [T, features]`` of one sample as a raster: the sampled
    neurons' non-zero (t, neuron) slots, and how many neurons there were."""
    index = _sampled(spikes.shape[1])
    picked = spikes[:, index.to(spikes.device)]
    t, neuron = torch.nonzero(picked, as_tuple=True)
    return {"neurons": int(spikes.shape[1]), "shown": len(index), "timesteps": int(spikes.shape[0]),
            "events": torch.stack([t, neuron], 1).tolist()}


def record(epochs, confusion: list[list[int]], samples: list[dict[str, Any]]) -> dict[str, Any]:
    """The detail of a trained cell: ``{"history", "confusion", "samples",
    "detail_version"}``, to merge into its metrics.

    ``confusion[true][predicted]`` is the evaluation's (same rule as the
    accuracy: argmax of output spike counts, ties to the lowest class);
    ``samples`` what :func:`first_samples` returned."""
    return {"history": history(epochs), "confusion": confusion, "samples": samples,
            "detail_version": DETAIL_VERSION}


@torch.no_grad()
def first_samples(model: nn.Module, test: DataSplit, batch_size: int, device: torch.device) -> list[dict[str, Any]]:
    """For the first :data:`RASTER_SAMPLES` test samples: the label, the
    prediction, the output spike count of every class and rasters of the
    encoder's output, the first spiking layer and the output, from the test
    split's first batch (as the evaluation batches it, so the same numbers
    come out)."""
    devices = [device] if device.type == "cuda" else []
    was_training = model.training
    model.eval()
    captured: dict[str, torch.Tensor] = {}
    layers = [("input", getattr(model, "encoder", None))]
    layers += [(name, layer) for name, layer in list(iter_spiking_layers(model))[:1]]
    handles = [layer.register_forward_hook(_capture(name, captured)) for name, layer in layers
               if layer is not None]
    try:
        with torch.random.fork_rng(devices=devices):
            inputs, targets = test.inputs[:batch_size], test.targets[:batch_size]
            output = model(inputs)
            counts = output.sum(0)
            return _samples(output, counts, targets, counts.argmax(-1), captured)
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)


def _capture(name: str, captured: dict[str, torch.Tensor]):
    def hook(module, inputs, output):
        if isinstance(output, torch.Tensor):  # time-first [T, B, ...] by the components' contract
            captured[name] = output[:, :RASTER_SAMPLES].detach()
    return hook


def _samples(output: torch.Tensor, counts: torch.Tensor, targets: torch.Tensor, predicted: torch.Tensor,
             captured: dict[str, torch.Tensor]) -> list[dict[str, Any]]:
    samples = []
    for i in range(min(RASTER_SAMPLES, len(targets))):
        rasters = {name: _events(spikes[:, i].flatten(1)) for name, spikes in captured.items()}
        rasters["output"] = _events(output[:, i])
        samples.append({"label": int(targets[i]), "predicted": int(predicted[i]),
                        "output_counts": [float(c) for c in counts[i]], "rasters": rasters})
    return samples
