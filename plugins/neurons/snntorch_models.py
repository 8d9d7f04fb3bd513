"""snnTorch's neurons behind the multi-step interface: Leaky, Synaptic,
Alpha, RLeaky, and an adaptive-threshold LIF.

snnTorch steps one timestep per call, so each layer loops over T inside
itself: correct, comparable, and slower than a fused kernel (that difference
is what the neurons suite and benchmark show). States start at zero on every
call and are passed explicitly, because snnTorch otherwise reuses the state
it kept from the previous batch when the shapes match.

snnTorch 1.0 has no adaptive LIF, so ``snntorch-alif`` is built here on
snnTorch's Leaky dynamics and surrogate, with the threshold adaptation of
Bellec et al. 2018 (LSNN): a trace ``b_t = rho b_{t-1} + (1 - rho) s_{t-1}``
raises the threshold to ``threshold + adaptation * b_t``.

Every layer reports its membrane after each step to a measurement
(``report_membrane``) and says what one update costs as NeuroBench 2.3
counts it (``neuron_ops_reset_operations``, by snnTorch class and reset):
Leaky 4, Synaptic 6 or 8, Alpha 18 or 24. NeuroBench has no count for
RLeaky or the adaptive LIF; RLeaky is counted as the Leaky it updates (its
recurrent weights are synaptic operations, counted as such), the adaptive
LIF as Leaky's 4 plus 2 for the trace and 2 for the threshold.
"""

from __future__ import annotations

import math

import torch
from snnbench_plugins.neurons.parameters import (
    ALIFParams,
    AlphaParams,
    LIFParams,
    NeuronParams,
    SynapticParams,
)

from snnbench.api import (
    NeuronDynamics,
    NeuronSpec,
    SpikingLayer,
    fp32_current,
    hookimpl,
    listening,
    report_membrane,
)

#: NeuroBench 2.3's operations per membrane update (``neuron_ops_reset_operations``)
NEUROBENCH_OPERATIONS = {"Leaky": {"subtract": 4, "zero": 4}, "Synaptic": {"subtract": 6, "zero": 8},
                         "Alpha": {"subtract": 18, "zero": 24}}


def spike_function(params: NeuronParams):
    """snnTorch's surrogate spike function for ``params``."""
    from snntorch import surrogate

    slope = params.surrogate_slope
    return {"fast_sigmoid": lambda: surrogate.fast_sigmoid(slope=slope),
            "atan": lambda: surrogate.atan(alpha=slope),
            "sigmoid": lambda: surrogate.sigmoid(slope=slope)}[params.surrogate]()


class SnnTorchLayer(SpikingLayer):
    """Steps one snnTorch neuron over T: ``neuron(x_t, *state) -> (spike, *outputs)``;
    ``carried`` picks the outputs that are the next step's state."""

    backend_used = "snntorch-loop"
    #: how many zero states the neuron starts from
    n_states = 1
    #: the snnTorch class as NeuroBench's operation table names it
    neurobench_name = "Leaky"

    @property
    def operations_per_update(self) -> int:
        return NEUROBENCH_OPERATIONS[self.neurobench_name][self.neuron.reset_mechanism]

    def carried(self, outputs: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
        return outputs[1:]

    def forward(self, current: torch.Tensor) -> torch.Tensor:
        current = fp32_current(current)
        state = tuple(torch.zeros_like(current[0]) for _ in range(self.n_states))
        spikes, membranes = [], []
        measured = listening()
        for step in current:
            outputs = self.neuron(step, *state)
            spikes.append(outputs[0])
            if measured:
                membranes.append(outputs[-1])  # every snnTorch neuron returns its membrane last
            state = self.carried(outputs)
        if measured:
            report_membrane(self, torch.stack(membranes))
        return torch.stack(spikes)


class SnnTorchLIF(SnnTorchLayer):
    """snnTorch ``Leaky``: ``mem = beta mem + I``."""

    def __init__(self, params: LIFParams, features: tuple[int, ...] = ()):
        super().__init__()
        import snntorch as snn

        self.neuron = snn.Leaky(beta=params.beta, threshold=params.threshold, spike_grad=spike_function(params),
                                reset_mechanism=params.reset)

    def dynamics(self) -> NeuronDynamics:
        neuron = self.neuron
        return NeuronDynamics("lif", float(neuron.threshold), neuron.reset_mechanism, beta=float(neuron.beta))


class SnnTorchSynaptic(SnnTorchLayer):
    """snnTorch ``Synaptic``: a decaying synaptic current ``syn = alpha syn + I`` drives the membrane."""

    n_states = state_values = 2
    neurobench_name = "Synaptic"

    def __init__(self, params: SynapticParams, features: tuple[int, ...] = ()):
        super().__init__()
        import snntorch as snn

        self.neuron = snn.Synaptic(alpha=params.alpha, beta=params.beta, threshold=params.threshold,
                                   spike_grad=spike_function(params), reset_mechanism=params.reset)

    def dynamics(self) -> NeuronDynamics:
        neuron = self.neuron
        return NeuronDynamics("cuba-lif", float(neuron.threshold), neuron.reset_mechanism, beta=float(neuron.beta),
                              alpha=float(neuron.alpha))


class SnnTorchAlpha(SnnTorchLayer):
    """snnTorch ``Alpha``: excitatory and inhibitory currents whose difference is an alpha kernel."""

    n_states = state_values = 3
    neurobench_name = "Alpha"

    def __init__(self, params: AlphaParams, features: tuple[int, ...] = ()):
        super().__init__()
        import snntorch as snn

        self.neuron = snn.Alpha(alpha=params.alpha, beta=params.beta, threshold=params.threshold,
                                spike_grad=spike_function(params), reset_mechanism=params.reset)


class SnnTorchRLeaky(SnnTorchLayer):
    """snnTorch ``RLeaky`` with learnable all-to-all recurrence: the layer's
    spikes at t-1 feed every neuron at t through a ``features``-sized Linear."""

    n_states = state_values = 2  # the membrane and the spike fed back

    def __init__(self, params: LIFParams, features: tuple[int, ...] = ()):
        super().__init__()
        import snntorch as snn

        if not features:
            raise ValueError("snntorch-rleaky needs the layer's features to size its recurrent weights")
        self.neuron = snn.RLeaky(beta=params.beta, threshold=params.threshold, spike_grad=spike_function(params),
                                 reset_mechanism=params.reset, all_to_all=True,
                                 linear_features=math.prod(features))
        self.features = tuple(features)

    def carried(self, outputs):
        return outputs  # (spike, mem): the spike is recurrent state too

    def forward(self, current: torch.Tensor) -> torch.Tensor:
        # RLeaky's recurrent Linear wants flat features
        flat = current.reshape(*current.shape[:2], -1)
        return super().forward(flat).reshape(current.shape)


class SnnTorchALIF(SpikingLayer):
    """Adaptive-threshold LIF on snnTorch's Leaky dynamics (module docstring)."""

    backend_used = "snntorch-loop"
    #: Leaky's 4, the trace's decay and add, the threshold's scale and add
    operations_per_update = NEUROBENCH_OPERATIONS["Leaky"]["subtract"] + 4
    state_values = 3  # membrane, trace, last spike

    def __init__(self, params: ALIFParams, features: tuple[int, ...] = ()):
        super().__init__()
        self.params = params
        self.spike = spike_function(params)

    def forward(self, current: torch.Tensor) -> torch.Tensor:
        current = fp32_current(current)
        p = self.params
        mem = torch.zeros_like(current[0])
        trace = torch.zeros_like(mem)
        spike = torch.zeros_like(mem)
        threshold = torch.full_like(mem, p.threshold)
        spikes, membranes = [], []
        measured = listening()
        for step in current:
            fired = spike.detach()  # the reset is detached, as in snnTorch
            if p.reset == "subtract":
                mem = p.beta * mem + step - fired * threshold
            else:
                mem = p.beta * (1 - fired) * mem + step
            trace = p.adaptation_decay * trace + (1 - p.adaptation_decay) * fired
            threshold = p.threshold + p.adaptation * trace
            spike = self.spike(mem - threshold)
            spikes.append(spike)
            if measured:
                membranes.append(mem)
        if measured:
            report_membrane(self, torch.stack(membranes))
        return torch.stack(spikes)


@hookimpl
def register_neuron_models(register):
    register(NeuronSpec("snntorch-lif", LIFParams, SnnTorchLIF, "snnTorch Leaky, looped over time inside the layer"))
    register(NeuronSpec("snntorch-synaptic", SynapticParams, SnnTorchSynaptic,
                        "snnTorch Synaptic: LIF driven by a decaying synaptic current (alpha, beta)"))
    register(NeuronSpec("snntorch-alpha", AlphaParams, SnnTorchAlpha,
                        "snnTorch Alpha: LIF driven by an alpha-shaped current (alpha > beta)"))
    register(NeuronSpec("snntorch-rleaky", LIFParams, SnnTorchRLeaky,
                        "snnTorch RLeaky: LIF with learnable all-to-all recurrent weights"))
    register(NeuronSpec("snntorch-alif", ALIFParams, SnnTorchALIF,
                        "adaptive-threshold LIF (Bellec et al. 2018) on snnTorch's Leaky dynamics"))
