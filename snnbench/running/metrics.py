"""Measurements: one definition of each, used by every cell.

Counting is streaming: forward hooks add to per-layer counters that stay on
the device, so no activation of a run is kept in memory and the loop never
waits on a host sync. A layer that runs without per-step tensors (from spike
times, by events) reports the same counts itself (:mod:`snnbench.api.activity`).
The definitions follow NeuroBench where it defines the same metric (a test
runs both on the same snnTorch model and data):

- *activation sparsity*: share of (neuron, timestep, sample) slots without a
  spike, over the outputs of all spiking layers (NeuroBench
  ``ActivationSparsity``), plus the same per layer;
- *synaptic operations* per sample (NeuroBench ``SynapticOperations``): for
  every Linear/Conv layer, the multiplications with a non-zero input and a
  non-zero weight, bias excluded. Inputs made only of 0 and +-1 are spikes and
  count as accumulates (ACs), anything else as MACs; ``dense`` counts every
  multiplication as if input and weights were all non-zero;
- *membrane updates* per sample (NeuroBench ``MembraneUpdates``): the
  (neuron, timestep) slots at which a neuron's membrane potential changed,
  every neuron counted at the first step; *neuron operations* (NeuroBench
  ``NeuronOperations``): each update times the neuron model's operations per
  update (``SpikingLayer.operations_per_update``), and ``dense`` as if every
  neuron updated at every step. The layers report their membranes
  (:func:`snnbench.api.activity.report_membrane`); where one does not, or
  has no operation count, the metric is None with the reason;
- *memory traffic* per sample, SpikingJelly 2.0's logical model
  (``NeuromorphicMemoryAccessCounter``): parameter reads, i.e. for spike
  input the weights each spike fans out to (zero weights too), for
  analogue input every weight of every multiplication, and a bias per
  output; and the neuron state each spiking layer reads and writes once a
  step (``SpikingLayer.state_values`` values of its dtype a neuron). The
  energy estimates price these counts (:mod:`snnbench.running.energy_estimate`);
- *encoder density*: share of non-zero values in the encoder's output
  (its spike density for binary encoders), the mean value, and the share
  above 0.5 (for analogue output such as a learned encoder's sigmoid, where
  nearly every value is non-zero).

A metric whose definition changes gets a new version in
:data:`snnbench.definition.metric_specs.METRIC_VERSIONS`; rows carry the versions they
were computed with and stale rows are flagged, never mixed in.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from snnbench.api.activity import listened_by
from snnbench.api.contracts import DataSplit, iter_spiking_layers
from snnbench.api.sequence import TimeDistributed, constant_step, is_constant_in_time
from snnbench.runtime import synchronize

CONNECTION_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
_CONV = {nn.Conv1d: F.conv1d, nn.Conv2d: F.conv2d, nn.Conv3d: F.conv3d}


def _apply(layer: nn.Module, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``layer``'s connection applied to ``x`` with ``weight`` in place of its
    own, bias left out (zero padding, as the layer's own convolution pads)."""
    if isinstance(layer, nn.Linear):
        return F.linear(x, weight)
    return _CONV[type(layer)](x, weight, None, layer.stride, layer.padding, layer.dilation, layer.groups)


def _outputs(layer: nn.Module, input_shape: torch.Size) -> int:
    """Output values of one application of ``layer`` to an input of ``input_shape``
    (shapes only: the connection applied on the meta device)."""
    probe = torch.empty((1, *input_shape), device="meta")
    return _apply(layer, probe, torch.empty(layer.weight.shape, device="meta")).numel()


def _multiplications_per_input(layer: nn.Module, input_shape: torch.Size, weight: torch.Tensor) -> torch.Tensor:
    """For every value of one input of ``input_shape``, how many of the
    layer's multiplications it enters with a non-zero entry of ``weight``
    (a 0/1 mask): the gradient of the summed output with respect to the
    input. The multiplications of a whole batch of 0/1 inputs (NeuroBench's
    binary copy of the layer) are then the count of each input value's
    non-zeros over the batch, weighted by this map: the same integer as
    running the binary copy, without a convolution per batch. Exact: small
    integers in float64."""
    with torch.inference_mode(False), torch.enable_grad():
        probe = torch.zeros((1, *input_shape), dtype=torch.float64, device=weight.device, requires_grad=True)
        (gradient,) = torch.autograd.grad(_apply(layer, probe, weight.to(torch.float64)).sum(), probe)
    return gradient[0]


@dataclass(frozen=True)
class _Fanout:
    """What one application of a layer to inputs of one shape multiplies,
    per input value: with its non-zero weights (the SynOps) and with all of
    them (the weights a spike fans out to, and the dense count)."""

    nonzero_weights: torch.Tensor
    all_weights: torch.Tensor
    dense: float
    outputs: int


@dataclass
class _Counter:
    """Device-side running totals of one hooked layer; ``value_sum`` and
    ``above_half`` only where they are reported (the encoder's output)."""

    nonzero: torch.Tensor
    total: torch.Tensor
    value_sum: torch.Tensor | None = None
    above_half: torch.Tensor | None = None
    #: what the layer reported of its membrane (None: nothing)
    membrane_updates: torch.Tensor | None = None
    #: bytes of one value of the layer's output, the dtype its state is kept in
    value_bytes: int = 4


@dataclass
class ActivitySummary:
    sparsity: float
    sparsity_per_layer: dict[str, float]
    encoder_density: float
    encoder_mean: float
    encoder_above_half: float
    synops_ac: float
    synops_mac: float
    synops_dense: float
    membrane_updates: float | None
    neuron_ops: float | None
    neuron_ops_dense: float | None
    parameter_read_bytes: float
    #: reads and writes together
    neuron_state_bytes: float
    #: why a metric above is None, by its name
    unavailable: dict[str, str] = field(default_factory=dict)


class ActivityMonitor:
    """Hooks that count spikes, encoder output and synaptic operations while a
    model runs, and the listener of what layers report themselves
    (:mod:`snnbench.api.activity`). Use as a context manager around evaluation
    batches."""

    def __init__(self, model: nn.Module, device: torch.device):
        self.model = model
        self.device = device
        self.samples = 0
        self._spiking: dict[str, _Counter] = {}
        self._spiking_layers: dict[str, nn.Module] = {}
        self._counter_of: dict[int, _Counter] = {}  # id(spiking layer) -> its counter, for reports
        self._encoder = self._new_counter(with_sum=True)
        self._ac = torch.zeros((), device=device, dtype=torch.float64)
        self._mac = torch.zeros((), device=device, dtype=torch.float64)
        self._dense = 0.0
        #: by (id(layer), input shape); the weights do not change while a model is measured
        self._fanouts: dict[tuple, _Fanout] = {}
        self._parameter_bytes = torch.zeros((), device=device, dtype=torch.float64)
        self._handles: list = []
        self._listening = None

    def _new_counter(self, with_sum: bool = False) -> _Counter:
        zero = lambda: torch.zeros((), device=self.device, dtype=torch.float64)  # noqa: E731
        return _Counter(zero(), zero(), zero() if with_sum else None, zero() if with_sum else None)

    # -- hook installation ------------------------------------------------------

    def __enter__(self) -> ActivityMonitor:
        encoder = getattr(self.model, "encoder", None)
        if encoder is not None:
            self._handles.append(encoder.register_forward_hook(self._count_output(self._encoder)))
        for name, layer in iter_spiking_layers(self.model):
            counter = self._spiking.setdefault(name, self._new_counter())
            self._spiking_layers[name] = layer
            self._counter_of[id(layer)] = counter
            self._handles.append(layer.register_forward_hook(self._count_output(counter)))
        wrapped = set()
        for module in self.model.modules():
            if isinstance(module, TimeDistributed) and isinstance(module.module, CONNECTION_LAYERS):
                wrapped.add(id(module.module))
                self._handles.append(module.register_forward_pre_hook(self._count_sequence_ops))
        for module in self.model.modules():
            if isinstance(module, CONNECTION_LAYERS) and id(module) not in wrapped:
                self._handles.append(module.register_forward_pre_hook(self._count_ops))
        self._listening = listened_by(self)
        self._listening.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._listening.__exit__(*exc)
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    # -- hooks ------------------------------------------------------------------

    @staticmethod
    def _count_output(counter: _Counter):
        def hook(module, inputs, output):
            output = output.detach()
            counter.nonzero += torch.count_nonzero(output)
            counter.total += output.numel()
            counter.value_bytes = output.element_size()
            if counter.value_sum is not None:
                counter.value_sum += output.sum(dtype=torch.float64)
                counter.above_half += torch.count_nonzero(output > 0.5)
        return hook

    def _count_sequence_ops(self, wrapper: TimeDistributed, inputs) -> None:
        x = inputs[0].detach()
        if is_constant_in_time(x):
            self._add_ops(wrapper.module, constant_step(x), repeats=x.shape[0])
        else:
            self._add_ops(wrapper.module, x.flatten(0, 1), repeats=1)

    def _count_ops(self, layer: nn.Module, inputs) -> None:
        self._add_ops(layer, inputs[0].detach(), repeats=1)

    @torch.no_grad()
    def _add_ops(self, layer: nn.Module, x: torch.Tensor, repeats: int) -> None:
        nonzero = x != 0
        is_spiking = ~(nonzero & (x != 1) & (x != -1)).any()
        # float32 sums of 0/1 are exact up to 2**24 terms, and twice as fast as float64's here
        exact = torch.float32 if x.shape[0] < 2**24 else torch.float64
        self._add_operations(layer, nonzero.to(exact).sum(0), is_spiking, x.shape[1:], x.shape[0] * repeats, repeats)

    def _add_operations(self, layer: nn.Module, nonzero: torch.Tensor, is_spiking: torch.Tensor,
                        input_shape: torch.Size, applications: int, repeats: int = 1) -> None:
        """Add what ``applications`` of ``layer`` to inputs of ``input_shape``
        did, from ``nonzero``: how many of them held a non-zero at each input
        value, each counted ``repeats`` times. The operations go to ACs where
        ``is_spiking``, else MACs; the parameters read are the weights the
        spikes fan out to (zero weights too), or every weight for analogue
        input, and one bias per output."""
        fanout = self._fanout(layer, input_shape)
        operations = (nonzero * fanout.nonzero_weights).sum() * repeats
        self._ac += torch.where(is_spiking, operations, 0.0)
        self._mac += torch.where(is_spiking, 0.0, operations)
        self._dense += fanout.dense * applications
        weight_reads = torch.where(is_spiking, (nonzero * fanout.all_weights).sum() * repeats,
                                   fanout.dense * applications)
        self._parameter_bytes += weight_reads * layer.weight.element_size()
        if layer.bias is not None:
            self._parameter_bytes += fanout.outputs * applications * layer.bias.element_size()

    def _fanout(self, layer: nn.Module, input_shape: torch.Size) -> _Fanout:
        key = (id(layer), tuple(input_shape))
        if key not in self._fanouts:
            weight = layer.weight.detach()
            all_weights = _multiplications_per_input(layer, input_shape, torch.ones_like(weight))
            self._fanouts[key] = _Fanout(_multiplications_per_input(layer, input_shape, (weight != 0).to(weight)),
                                         all_weights, float(all_weights.sum()), _outputs(layer, input_shape))
        return self._fanouts[key]

    # -- what layers report themselves (snnbench.api.activity) -----------------------

    def add_spikes(self, layer: nn.Module, spikes: torch.Tensor, slots: int) -> None:
        counter = self._counter_of.get(id(layer))
        if counter is None:
            raise RuntimeError(f"{type(layer).__name__} reported spikes but is not a spiking layer of the model")
        counter.nonzero += spikes
        counter.total += slots

    @torch.no_grad()
    def add_synapse_input(self, layer: nn.Module, spike_counts: torch.Tensor, steps: int) -> None:
        self._add_operations(layer, spike_counts.sum(0, dtype=torch.float64),
                             torch.ones((), dtype=torch.bool, device=spike_counts.device),
                             spike_counts.shape[1:], spike_counts.shape[0] * steps)

    @torch.no_grad()
    def add_membrane(self, layer: nn.Module, membrane: torch.Tensor) -> None:
        """NeuroBench's count: every neuron at the first step, then each
        (neuron, step) whose potential differs from the step before."""
        counter = self._counter_of.get(id(layer))
        if counter is None:
            raise RuntimeError(f"{type(layer).__name__} reported its membrane but is not a spiking layer of the model")
        membrane = membrane.detach()
        updates = membrane[0].numel() + torch.count_nonzero(membrane[1:] != membrane[:-1]).to(torch.float64)
        counter.membrane_updates = updates if counter.membrane_updates is None else counter.membrane_updates + updates

    # -- results ----------------------------------------------------------------

    def add_samples(self, n: int) -> None:
        self.samples += n

    def summary(self) -> ActivitySummary:
        """Read the counters (one host sync). Raises if nothing was measured."""
        if self.samples == 0:
            raise RuntimeError("no samples were measured")
        if not self._spiking:
            raise RuntimeError("the model has no spiking layer (SpikingLayer) to measure")
        per_layer = {name: 1.0 - float(c.nonzero / c.total) for name, c in self._spiking.items()}
        nonzero = sum(float(c.nonzero) for c in self._spiking.values())
        total = sum(float(c.total) for c in self._spiking.values())
        encoder_total = float(self._encoder.total)
        neurons = self._neuron_work()
        return ActivitySummary(
            sparsity=1.0 - nonzero / total,
            sparsity_per_layer=per_layer,
            encoder_density=float(self._encoder.nonzero) / encoder_total if encoder_total else math.nan,
            encoder_mean=float(self._encoder.value_sum) / encoder_total if encoder_total else math.nan,
            encoder_above_half=float(self._encoder.above_half) / encoder_total if encoder_total else math.nan,
            synops_ac=float(self._ac) / self.samples,
            synops_mac=float(self._mac) / self.samples,
            synops_dense=self._dense / self.samples,
            **{key: None if value is None else value / self.samples for key, value in neurons.totals.items()},
            parameter_read_bytes=float(self._parameter_bytes) / self.samples,
            unavailable=neurons.unavailable,
        )

    def _neuron_work(self) -> _NeuronWork:
        """Membrane updates, neuron operations and state traffic over every
        spiking layer that ran; an update count is None where a layer did not
        report its membrane, an operation count where a layer has no count per update."""
        updates = operations = dense = state_bytes = 0.0
        silent, uncounted = [], []
        for name, counter in self._spiking.items():
            slots = float(counter.total)
            if slots == 0:
                continue
            layer = self._spiking_layers[name]
            state_bytes += 2 * slots * layer.state_values * counter.value_bytes
            per_update = layer.operations_per_update
            if per_update is None:
                uncounted.append(f"{name} ({type(layer).__name__})")
            else:
                dense += slots * per_update
            if counter.membrane_updates is None:
                silent.append(f"{name} ({type(layer).__name__})")
            elif per_update is not None:
                operations += float(counter.membrane_updates) * per_update
            if counter.membrane_updates is not None:
                updates += float(counter.membrane_updates)
        unavailable = {}
        if silent:
            unavailable["membrane_updates"] = (f"spiking layer(s) {', '.join(silent)} did not report their membrane "
                                               "potential (snnbench.api.report_membrane)")
        if uncounted:
            unavailable["neuron_ops_dense"] = (f"spiking layer(s) {', '.join(uncounted)} have no operation count "
                                               "per update (SpikingLayer.operations_per_update)")
        if silent or uncounted:
            unavailable["neuron_ops"] = unavailable.get("membrane_updates") or unavailable["neuron_ops_dense"]
        return _NeuronWork({"membrane_updates": None if silent else updates,
                            "neuron_ops": None if silent or uncounted else operations,
                            "neuron_ops_dense": None if uncounted else dense,
                            "neuron_state_bytes": state_bytes}, unavailable)


@dataclass(frozen=True)
class _NeuronWork:
    totals: dict[str, float | None]
    unavailable: dict[str, str]


@dataclass
class Evaluation:
    accuracy: float
    activity: ActivitySummary
    seconds: float = field(default=0.0)
    #: ``confusion[true][predicted]`` over the split, by the accuracy's rule
    confusion: list[list[int]] = field(default_factory=list)


@torch.no_grad()
def evaluate(model: nn.Module, split: DataSplit, batch_size: int, device: torch.device) -> Evaluation:
    """Top-1 accuracy on ``split`` (argmax of output spike counts, ties to the
    lowest class) with activity and the confusion matrix counted on the way:
    one pass over the split gives every test-split figure of a row."""
    model.eval()
    started = time.perf_counter()
    confusion = None
    with ActivityMonitor(model, device) as monitor:
        for start in range(0, len(split), batch_size):
            inputs = split.inputs[start:start + batch_size]
            targets = split.targets[start:start + batch_size]
            counts = model(inputs).sum(0)
            classes = counts.shape[-1]
            if confusion is None:
                confusion = torch.zeros(classes * classes, dtype=torch.long, device=device)
            confusion += torch.bincount(targets * classes + counts.argmax(-1), minlength=classes * classes)
            monitor.add_samples(len(targets))
        activity = monitor.summary()
    matrix = confusion.view(classes, classes)
    return Evaluation(int(matrix.diagonal().sum()) / len(split), activity, time.perf_counter() - started,
                      matrix.tolist())


@torch.no_grad()
def inference_throughput(model: nn.Module, split: DataSplit, batch_size: int, device: torch.device,
                         warmup_batches: int = 2, max_batches: int = 20, enough_seconds: float = 5.0) -> float:
    """Samples per second of the bare forward pass (no hooks, no grad), after
    warm-up: ``max_batches`` batches, or fewer once ``enough_seconds`` have
    passed, so a slow model (seconds a batch) is not run over the test split
    once more just for this figure."""
    model.eval()
    batches = [split.inputs[i:i + batch_size] for i in range(0, len(split), batch_size)]
    for inputs in batches[:warmup_batches]:
        model(inputs)
    timed = batches[warmup_batches:warmup_batches + max_batches] or batches[:max_batches]
    synchronize(device)
    started = time.perf_counter()
    samples = 0
    for inputs in timed:
        model(inputs)
        samples += len(inputs)
        if time.perf_counter() - started >= enough_seconds:
            break
    synchronize(device)
    return samples / (time.perf_counter() - started)


def chance_accuracy(targets: torch.Tensor) -> float:
    """The accuracy of always answering the most common class of ``targets``:
    what a model that learnt nothing scores (1/classes on balanced data)."""
    return int(torch.bincount(targets).max()) / len(targets)


def is_at_chance(accuracy: float, chance: float, samples: int) -> bool:
    """Whether ``accuracy`` on ``samples`` test samples is no better than
    ``chance``, allowing three standard errors of a guesser that is right
    with probability ``chance`` (so a lucky guesser is not taken for a
    model that learnt, and a model barely above chance on a small split is
    flagged too)."""
    return accuracy <= chance + 3 * math.sqrt(chance * (1 - chance) / samples)


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def footprint_bytes(model: nn.Module) -> int:
    """Bytes of parameters and buffers: the model's size on a chip."""
    tensors = list(model.parameters()) + list(model.buffers())
    return sum(t.numel() * t.element_size() for t in tensors)
