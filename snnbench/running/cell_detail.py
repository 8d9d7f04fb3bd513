"""What a cell keeps for its detail page: small, JSON-able pictures of its run.

The leaderboard needs a handful of numbers per cell; a person looking at one
cell wants to see how it trained and what it does: the loss and accuracy of
every epoch, the confusion matrix on the test split, and the spikes of a few
test samples. These functions turn the trained model, the test split and the
training session into small dicts that go into the cell's row (under
``metrics``), so ``snnbench report`` can draw them long after the model is
gone. Everything here is bounded in size whatever the dataset: a few samples,
at most :data:`RASTER_NEURONS` neurons per layer.

:func:`record` runs the model over the test split once more. It runs inside
``torch.random.fork_rng``, so it leaves every random stream as it found it;
called just before :func:`snnbench.running.metrics.evaluate`, it sees the same random
draws (a rate encoder's spikes) as the evaluation does, and its confusion
matrix agrees with the recorded accuracy exactly.
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


@torch.no_grad()
def record(model: nn.Module, test: DataSplit, batch_size: int, n_classes: int,
           device: torch.device, epochs) -> dict[str, Any]:
    """The detail of a trained cell: ``{"history", "confusion", "samples",
    "detail_version"}``, to merge into its metrics.

    ``confusion[true][predicted]`` counts the test split by the same rule as
    the accuracy (argmax of output spike counts, ties to the lowest class).
    ``samples`` holds, for the first :data:`RASTER_SAMPLES` test samples, the
    label, the prediction, the output spike count of every class and rasters
    of the encoder's output, the first spiking layer and the output.
    """
    devices = [device] if device.type == "cuda" else []
    was_training = model.training
    model.eval()
    try:
        with torch.random.fork_rng(devices=devices):
            confusion, samples = _confusion_and_samples(model, test, batch_size, n_classes, device)
    finally:
        model.train(was_training)
    return {"history": history(epochs), "confusion": confusion, "samples": samples,
            "detail_version": DETAIL_VERSION}


def _confusion_and_samples(model: nn.Module, test: DataSplit, batch_size: int, n_classes: int,
                           device: torch.device) -> tuple[list[list[int]], list[dict[str, Any]]]:
    confusion = torch.zeros(n_classes * n_classes, dtype=torch.long, device=device)
    captured: dict[str, torch.Tensor] = {}
    layers = [("input", getattr(model, "encoder", None))]
    layers += [(name, layer) for name, layer in list(iter_spiking_layers(model))[:1]]
    handles = [layer.register_forward_hook(_capture(name, captured)) for name, layer in layers
               if layer is not None]
    samples: list[dict[str, Any]] = []
    try:
        for start in range(0, len(test), batch_size):
            inputs, targets = test.inputs[start:start + batch_size], test.targets[start:start + batch_size]
            output = model(inputs)
            counts = output.sum(0)
            predicted = counts.argmax(-1)
            confusion += torch.bincount(targets * n_classes + predicted, minlength=n_classes * n_classes)
            if start == 0:
                samples = _samples(output, counts, targets, predicted, captured)
                for handle in handles:
                    handle.remove()
                handles.clear()
    finally:
        for handle in handles:
            handle.remove()
    return confusion.view(n_classes, n_classes).tolist(), samples


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
