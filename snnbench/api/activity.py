"""Activity a layer reports itself, when it runs without per-step tensors.

snnbench counts spikes and synaptic operations
(:class:`snnbench.running.metrics.ActivityMonitor`) with forward hooks: on
every spiking layer's output and every connection layer's input, step by
step. A layer that computes from spike times or events (the mozafari
network's hidden layers on the CPU) builds neither tensor and calls neither
module, so the hooks would see nothing. It tells the monitor here what they
would have seen instead.

The counts stay exact, not estimates: a spiking layer's activity is its
number of non-zero (neuron, step) slots, and a connection layer's synaptic
operations are linear in its binary input, so the number of spikes at each
input position, summed over the steps, gives the same total as the steps
counted one by one.

A neuron's membrane potential is internal to its layer, so no hook sees it
either: every neuron layer reports it (:func:`report_membrane`), step by
step, for the membrane updates and neuron operations NeuroBench defines
(a neuron's membrane is updated at a step where it changed, and at the
first step of every sample); a layer that does not leaves those metrics
null for its rows, with the reason.

Outside a measurement nobody listens; a layer asks :func:`listening` first
and skips the counting then.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Protocol

import torch
from torch import nn


class ActivityListener(Protocol):
    def add_spikes(self, layer: nn.Module, spikes: torch.Tensor, slots: int) -> None: ...

    def add_synapse_input(self, layer: nn.Module, spike_counts: torch.Tensor, steps: int) -> None: ...

    def add_membrane(self, layer: nn.Module, membrane: torch.Tensor) -> None: ...


_listener: ContextVar[ActivityListener | None] = ContextVar("snnbench_activity_listener", default=None)


@contextmanager
def listened_by(listener: ActivityListener) -> Iterator[None]:
    """Send the reports made inside to ``listener`` (the activity monitor)."""
    token = _listener.set(listener)
    try:
        yield
    finally:
        _listener.reset(token)


def listening() -> bool:
    """Whether a measurement is counting activity now."""
    return _listener.get() is not None


def report_spikes(layer: nn.Module, spikes: torch.Tensor, slots: int) -> None:
    """Spiking ``layer`` emitted ``spikes`` (a count, a 0-d tensor) in
    ``slots`` (neuron, step, sample) slots: what its output over all steps
    would have shown."""
    listener = _listener.get()
    if listener is not None:
        listener.add_spikes(layer, spikes, slots)


def report_synapse_input(layer: nn.Module, spike_counts: torch.Tensor, steps: int) -> None:
    """Connection ``layer`` (a Linear or Conv) received, over ``steps``
    steps, ``spike_counts[b, ...]`` spikes at each of its input positions
    (the sum over time of a binary input, ``[B, *input shape]``)."""
    listener = _listener.get()
    if listener is not None:
        listener.add_synapse_input(layer, spike_counts, steps)


def report_membrane(layer: nn.Module, membrane: torch.Tensor) -> None:
    """Spiking ``layer`` held ``membrane`` (``[T, ...]``, time first) after
    each step of this call: the potential it keeps into the next step (for
    snnTorch's neurons ``mem`` as the step returns it). Build the tensor only
    when :func:`listening`, since it costs a ``[T, B, ...]`` copy."""
    listener = _listener.get()
    if listener is not None:
        listener.add_membrane(layer, membrane)
