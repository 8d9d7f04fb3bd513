"""The plugin API: the one module a plugin imports.

Everything a plugin implements, receives or raises is here: the hook marker,
the spec each component kind registers, the layer and model contracts, the
records the lifecycle hooks receive, the training session a learning rule
trains through, the errors a plugin raises, and the helpers for time-first
sequences, activity reporting, experiment trackers and numba kernels::

    from snnbench.api import EncoderSpec, DatasetInfo, hookimpl

This module imports no stage of snnbench (``definition``, ``running``,
``results``); those import it. So the machinery can be reorganised without
breaking a plugin, and what a plugin may rely on is exactly this list.

``API_VERSION`` is ``MAJOR.MINOR``: a minor version adds names, a major one
changes or removes them. A plugin module may set ``requires_api = "1.0"``;
loading it under an snnbench whose API is older (or of another major
version) is refused with a message naming the plugin and both versions.
"""

from snnbench.api.activity import (
    ActivityListener,
    listened_by,
    listening,
    report_membrane,
    report_spikes,
    report_synapse_input,
)
from snnbench.api.contracts import (
    DATA_KINDS,
    ArchitectureContext,
    ArchitectureSpec,
    DataKind,
    DatasetInfo,
    DatasetSpec,
    DataSplit,
    EncoderSpec,
    LearningRule,
    LearningRuleSpec,
    LoadContext,
    NeuronDynamics,
    NeuronFactory,
    NeuronSpec,
    NoParams,
    Reporter,
    ReporterSpec,
    SpikingLayer,
    SpikingModel,
    iter_spiking_layers,
)
from snnbench.api.errors import (
    DataUnavailableError,
    SnnbenchError,
    SuiteError,
    SuiteErrors,
    TrainingDiverged,
    UnknownComponentError,
    did_you_mean,
)
from snnbench.api.hookspecs import hookimpl
from snnbench.api.neuron import (
    DEFAULT_SLOPE,
    SURROGATES,
    NeuronParams,
    Surrogate,
    fp32_current,
    spike,
    surrogate_gradient,
)
from snnbench.api.numba_threads import follow_torch_threads
from snnbench.api.params import param, params_to_dict
from snnbench.api.records import (
    Cell,
    Choice,
    EnergyTable,
    EpochStats,
    Reference,
    ResultRow,
    RunSummary,
    SkippedCombination,
    Suite,
    TrainingSession,
)
from snnbench.api.sequence import (
    TimeDistributed,
    constant_step,
    flatten_steps,
    is_constant_in_time,
    repeat_in_time,
)
from snnbench.api.tracking import (
    OpenRuns,
    cell_params,
    epoch_scalars,
    epoch_values,
    final_metrics,
    path_part,
    provenance,
    run_name,
    verdict_tags,
)
from snnbench.api.training_config import TrainingConfig

#: The version of this API, ``MAJOR.MINOR`` (see the module's docstring).
API_VERSION = "1.2"

__all__ = [
    "API_VERSION",
    "DATA_KINDS",
    "DEFAULT_SLOPE",
    "SURROGATES",
    "ActivityListener",
    "ArchitectureContext",
    "ArchitectureSpec",
    "Cell",
    "Choice",
    "DataKind",
    "DataSplit",
    "DataUnavailableError",
    "DatasetInfo",
    "DatasetSpec",
    "EncoderSpec",
    "EnergyTable",
    "EpochStats",
    "LearningRule",
    "LearningRuleSpec",
    "LoadContext",
    "NeuronDynamics",
    "NeuronFactory",
    "NeuronParams",
    "NeuronSpec",
    "NoParams",
    "OpenRuns",
    "Reporter",
    "ReporterSpec",
    "Reference",
    "ResultRow",
    "RunSummary",
    "SkippedCombination",
    "SnnbenchError",
    "SpikingLayer",
    "SpikingModel",
    "Suite",
    "SuiteError",
    "SuiteErrors",
    "Surrogate",
    "TimeDistributed",
    "TrainingConfig",
    "TrainingDiverged",
    "TrainingSession",
    "UnknownComponentError",
    "cell_params",
    "constant_step",
    "did_you_mean",
    "epoch_scalars",
    "epoch_values",
    "final_metrics",
    "flatten_steps",
    "follow_torch_threads",
    "fp32_current",
    "hookimpl",
    "is_constant_in_time",
    "iter_spiking_layers",
    "listened_by",
    "listening",
    "param",
    "params_to_dict",
    "path_part",
    "provenance",
    "repeat_in_time",
    "report_membrane",
    "report_spikes",
    "report_synapse_input",
    "run_name",
    "verdict_tags",
    "spike",
    "surrogate_gradient",
]
