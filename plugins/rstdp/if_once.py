"""``spikingjelly-if-once``: a non-leaky integrate-and-fire neuron that fires
at most once per sample, as in the STDP networks of Kheradpisheh et al. 2018
and Mozafari et al. 2019 (SpykeTorch's ``fire``).

SpikingJelly has no such neuron (its ``IFNode`` resets and fires again), so
:class:`SingleSpikeIFNode` is a SpikingJelly ``BaseNode`` with two states:
the membrane ``v`` (no leak, no reset) and ``fired``. In multi-step mode the
whole window is one vectorised pass, no loop over time: the membrane is the
running sum of the input, and a neuron spikes at the first step where it
exceeds the threshold (strictly, as SpykeTorch), never again.

``threshold = None`` is SpykeTorch's infinite threshold, used by decision
layers: nothing fires before the last step of the window, and then every
neuron whose potential is positive fires, so the earliest spike is the
largest potential. That needs the whole window, so it runs in multi-step
mode only.

The spike has no surrogate gradient: this neuron is for local learning rules
(STDP, R-STDP), and a gradient rule that tries to backpropagate through it
gets an error saying so instead of silently training nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from snnbench_plugins.rstdp.contracts import RecordingNeuron
from snnbench_plugins.rstdp.spike_times import first_true

from snnbench.api import NeuronSpec, SnnbenchError, SpikingLayer, hookimpl, listening, param, report_membrane


@dataclass(frozen=True)
class IFOnceParams:
    threshold: float | None = param(
        1.0, "fires when the potential exceeds this; none: fires at the last step if the potential is positive", ge=0)


def _single_spike_node_class():
    """The ``BaseNode`` subclass, made on first use so that importing this
    plugin does not import SpikingJelly."""
    from spikingjelly.activation_based import neuron

    class SingleSpikeIFNode(neuron.BaseNode):
        def __init__(self, threshold: float | None, step_mode: str = "m", store_v_seq: bool = False):
            super().__init__(v_threshold=math.inf if threshold is None else float(threshold), v_reset=None,
                             step_mode=step_mode, store_v_seq=store_v_seq)
            self.fires_at_end = threshold is None
            self.first_step = None
            self.register_memory("fired", 0.0)

        def extra_repr(self):
            return f"v_threshold={self.v_threshold}, fires_at_end={self.fires_at_end}, step_mode={self.step_mode}"

        def materialize_states(self, inputs, states, step_mode):
            v, fired = super().materialize_states(inputs, states, step_mode)
            if not isinstance(fired, torch.Tensor) or fired.shape != v.shape:
                fired = torch.zeros_like(v, dtype=torch.bool)
            return v, fired

        def single_step_functional_forward(self, inputs, states, **kwargs):
            if self.fires_at_end:
                raise ValueError("a neuron without threshold fires at the end of the window: use step_mode='m'")
            v, fired = states
            v = v + inputs[0]
            spike = (v > self.v_threshold) & ~fired
            return (spike.to(v.dtype),), (v, fired | spike)

        def multi_step_functional_forward(self, inputs, states, **kwargs):
            v_seq, first, fires = self._integrate(inputs[0], *states)
            return (self._spikes(first, fires, inputs[0]),), (v_seq[-1], states[1] | fires)

        def multi_step_forward(self, x_seq, *args, **kwargs):
            _, fired = self.materialize_states((x_seq,), tuple(self._memories.values()), "m")
            v_seq, first, fires = self._integrate(x_seq, self._memories["v"], fired)
            self._memories["v"], self._memories["fired"] = v_seq[-1], fired | fires
            self.v_seq = v_seq if self.store_v_seq else None
            self.first_step = torch.where(fires, first, x_seq.shape[0]) if self.store_v_seq else None
            return self._spikes(first, fires, x_seq)

        def _integrate(self, x_seq, v, fired):
            """Membrane of every step, and each neuron's first step above threshold
            (``fires``: whether it has one and had not fired before)."""
            v_seq = x_seq.cumsum(0)
            if isinstance(v, torch.Tensor) or v != 0:  # a fresh membrane (0.0) adds nothing
                v_seq += v
            if self.fires_at_end:
                fires = (v_seq[-1] > 0) & ~fired
                return v_seq, torch.full_like(fires, x_seq.shape[0] - 1, dtype=torch.long), fires
            above, first = first_true(v_seq > self.v_threshold)
            return v_seq, first, above & ~fired

        @staticmethod
        def _spikes(first, fires, x_seq):
            return torch.zeros_like(x_seq).scatter_(0, first.unsqueeze(0), fires.unsqueeze(0).to(x_seq.dtype))

    return SingleSpikeIFNode


class SpikingJellyIFOnce(SpikingLayer, RecordingNeuron):
    """The neuron as a snnbench layer. Set ``record`` to keep, from the next
    calls, the membrane of every step in ``potentials`` ``[T, B, ...]`` and each
    neuron's firing step in ``spike_times`` ``[B, ...]`` (T: none); learning
    rules that pick winners by spike time and potential need them, and they
    cost a ``[T, B, ...]`` tensor, so they are off by default."""

    backend_used = "spikingjelly-torch"
    #: architectures built on single spikes check this
    fires_once = True
    #: no leak, no reset: a conv feeding these neurons may be computed from
    #: spike times instead (``snnbench_plugins.rstdp.spike_time_conv``)
    integrates_without_leak = True
    #: an IF update as snnbench counts it (NeuroBench has no IF): add, compare, reset
    operations_per_update = 3
    state_values = 2  # the potential, and whether it has fired

    def __init__(self, params: IFOnceParams, features: tuple[int, ...] = ()):
        super().__init__()
        self.node = _single_spike_node_class()(params.threshold)
        self.threshold = params.threshold
        self.record = False
        self.potentials: torch.Tensor | None = None
        self.spike_times: torch.Tensor | None = None

    def forward(self, current: torch.Tensor) -> torch.Tensor:
        if torch.is_grad_enabled() and current.requires_grad:
            raise SnnbenchError("spikingjelly-if-once has no surrogate gradient; train it with a local rule "
                                "such as stdp-rstdp, not by backpropagation")
        self.node.reset()
        measured = listening()
        self.node.store_v_seq = self.record or measured
        spikes = self.node(current)
        if measured:
            report_membrane(self, self.node.v_seq)
        self.potentials, self.spike_times = (self.node.v_seq, self.node.first_step) if self.record else (None, None)
        return spikes


@hookimpl
def register_neuron_models(register):
    register(NeuronSpec("spikingjelly-if-once", IFOnceParams, SpikingJellyIFOnce,
                        "non-leaky IF that fires at most once per sample (SpikingJelly BaseNode; for STDP)",
                        differentiable=False))
