"""One record per metric: what every consumer of a result needs to know.

The runner records a row's metrics under these keys; the leaderboard, the
gate, ``snnbench compare`` and the report read the same records for a
metric's title, which way is better, how a gate treats a change, how its
values print, how seeds aggregate and which definition (version family) it
was computed with. A metric whose definition changes gets a new version in
:data:`METRIC_VERSIONS`; rows carry the versions they were computed with,
and stale rows are flagged, never mixed in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from snnbench.api.errors import SnnbenchError, did_you_mean

#: The version of each metric family's definition (see :mod:`snnbench.running.metrics`).
METRIC_VERSIONS: dict[str, int] = {
    "accuracy": 1,
    "sparsity": 1,
    "encoder_density": 2,
    "synops": 1,
    "neuron_ops": 1,
    "energy_estimate": 1,
    "energy_measured": 1,
    "train_energy": 1,
    "throughput": 1,
    "memory": 1,
}
#: Families measured only when asked for (``snnbench export --check``, ``snnbench
#: remeasure --metric``), never by a run: a row without one is not stale, a row
#: holding an older version of one is.
ON_REQUEST_VERSIONS: dict[str, int] = {
    "nir": 1,
}
#: Families measured while a cell trains: only training it again measures them
#: again (``snnbench remeasure`` measures every other family from a kept model).
TRAINING_FAMILIES: frozenset[str] = frozenset({"throughput", "memory", "train_energy"})
#: Families measured with a clock or a device's energy counter (see MetricSpec.is_timing)
TIMING_FAMILIES: frozenset[str] = frozenset({"throughput", "energy_measured", "train_energy"})


def metric_version(family: str) -> int:
    """The current version of a metric family's definition."""
    return {**METRIC_VERSIONS, **ON_REQUEST_VERSIONS}[family]


def stale_families(versions: dict[str, int]) -> list[str]:
    """The families a row's ``metric_versions`` hold at another version than
    this snnbench's, or lack (of those every run measures). A row that lacks
    a family measured while training (one added after it ran) is not stale
    for it: nothing but training it again could fill it, so its value shows
    as missing rather than hiding the row's other, current metrics."""
    stale = [family for family, version in METRIC_VERSIONS.items()
             if versions.get(family) != version and (family in versions or family not in TRAINING_FAMILIES)]
    return stale + [family for family, version in ON_REQUEST_VERSIONS.items()
                    if family in versions and versions[family] != version]


def _si(value: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= scale:
            return f"{value / scale:.3g}{unit}"
    return f"{value:.3g}"


def _joules(value: float) -> str:
    """Energy with the prefix that keeps it readable: 4.6 pJ, 312 nJ, 1.25 mJ."""
    for unit, scale in (("J", 1.0), ("mJ", 1e-3), ("µJ", 1e-6), ("nJ", 1e-9)):
        if abs(value) >= scale:
            return f"{value / scale:.3g} {unit}"
    return f"{value / 1e-12:.3g} pJ"


@dataclass(frozen=True)
class MetricSpec:
    key: str
    title: str
    higher_is_better: bool
    format: Callable[[float], str]
    #: which METRIC_VERSIONS entry defines it
    family: str
    #: shown by default only where it differs from this metric in some row
    repeats: str | None = None
    #: what a gate flags: "worse" (a move the bad way) or "change" (any move:
    #: for what an encoder emits, where fewer spikes is no better, only other)
    fails_on: str = "worse"
    #: the tolerance a new ``snnbench check`` baseline gets ({"abs": x} or {"rel": x});
    #: None: the committed gate does not judge it
    gate_tolerance: dict[str, float] | None = None
    #: the tolerance ``snnbench compare`` fails it on; None: listed when it changes
    compare_tolerance: dict[str, float] | None = None
    #: a column of the leaderboard unless others are asked for (False: in the rows only)
    in_default_table: bool = True
    #: the SI unit of the stored value, where a figure prints it with a prefix ("J")
    unit: str = ""
    #: the difference from the best below which the leaderboard calls a row
    #: equivalent ("≈ best"), when the interval of the difference shows it
    #: ({"abs": x} or {"rel": x} of the best's mean; docs/verdicts.md)
    equivalence_margin: dict[str, float] = field(default_factory=lambda: {"rel": 0.05})

    @property
    def heading(self) -> str:
        return f"{self.title} {'↑' if self.higher_is_better else '↓'}"

    @property
    def worse_sign(self) -> int:
        """The sign of a change a gate fails: -1 lower is worse, +1 higher is
        worse, 0 any change (for the two-sided tests of :mod:`snnbench.results.statistics`)."""
        if self.fails_on == "change":
            return 0
        return -1 if self.higher_is_better else 1

    def worse_by(self, difference: float) -> float:
        """How much worse a change of ``difference`` (new - old) is; negative
        when it is better. For metrics that fail on any change, its size."""
        return abs(difference) if self.worse_sign == 0 else difference * self.worse_sign

    @property
    def is_timing(self) -> bool:
        """Measured with a clock: varies between repeats on one machine, so an
        A/B judges it over interleaved repeats, and a gate only on the machine
        its baseline was made on."""
        return self.family in TIMING_FAMILIES


METRICS: tuple[MetricSpec, ...] = (
    # A baseline spans machines and seeds, so its gate allows more than an A/B of
    # two commits on one machine with the same seeds, where any change is the code's.
    # Equivalence margins (``--margin`` changes them): one percentage point of accuracy,
    # less than the gains papers claim between encoders or neurons; timings within 10%,
    # the run-to-run noise of one machine; counts within 5%.
    MetricSpec("accuracy", "accuracy %", True, lambda v: f"{100 * v:.2f}", "accuracy",
               gate_tolerance={"abs": 0.02}, compare_tolerance={"abs": 0.01}, equivalence_margin={"abs": 0.01}),
    # an estimate from operation counts at a suite's energy table (45 nm by default), never
    # a measurement: "est." in its heading (docs/energy.md)
    MetricSpec("energy_est_j", "est. energy/sample", False, _joules, "energy_estimate",
               gate_tolerance={"rel": 0.10}, compare_tolerance={"rel": 0.05}, unit="J"),
    # the same with parameter and neuron-state memory traffic (SpikingJelly's simple model)
    MetricSpec("energy_est_mem_j", "est. energy+mem/sample", False, _joules, "energy_estimate",
               gate_tolerance={"rel": 0.10}, compare_tolerance={"rel": 0.05}, unit="J"),
    MetricSpec("sparsity", "sparsity", True, lambda v: f"{v:.4f}", "sparsity",
               gate_tolerance={"abs": 0.05}, compare_tolerance={"abs": 0.02}, equivalence_margin={"abs": 0.01}),
    MetricSpec("encoder_density", "enc. density", False, lambda v: f"{v:.4f}", "encoder_density",
               fails_on="change", gate_tolerance={"abs": 0.05}, compare_tolerance={"abs": 0.01},
               equivalence_margin={"abs": 0.01}),
    # for 0/1 spikes both equal the density; they tell analogue output apart
    MetricSpec("encoder_mean", "enc. mean", False, lambda v: f"{v:.4f}", "encoder_density", "encoder_density",
               fails_on="change", equivalence_margin={"abs": 0.01}),
    MetricSpec("encoder_above_half", "enc. > 0.5", False, lambda v: f"{v:.4f}", "encoder_density",
               "encoder_density", fails_on="change", equivalence_margin={"abs": 0.01}),
    MetricSpec("synops_ac", "ACs/sample", False, _si, "synops", compare_tolerance={"rel": 0.05}),
    MetricSpec("synops_mac", "MACs/sample", False, _si, "synops"),
    MetricSpec("membrane_updates", "membrane updates/sample", False, _si, "neuron_ops",
               compare_tolerance={"rel": 0.05}, in_default_table=False),
    MetricSpec("neuron_ops", "neuron ops/sample", False, _si, "neuron_ops", in_default_table=False),
    MetricSpec("train_samples_per_s", "train samples/s", True, lambda v: f"{v:,.0f}", "throughput",
               gate_tolerance={"rel": 0.25}, compare_tolerance={"rel": 0.10}, equivalence_margin={"rel": 0.10}),
    MetricSpec("infer_samples_per_s", "infer samples/s", True, lambda v: f"{v:,.0f}", "throughput",
               gate_tolerance={"rel": 0.25}, compare_tolerance={"rel": 0.10}, equivalence_margin={"rel": 0.10}),
    MetricSpec("parameters", "params", False, _si, "accuracy"),
    # measured by the device's energy counter (NVML, RAPL; snnbench.running.energy_meter): the
    # device's whole draw while the workload ran, per sample; timings, judged as such
    MetricSpec("infer_energy_j", "infer energy/sample", False, _joules, "energy_measured",
               gate_tolerance={"rel": 0.25}, compare_tolerance={"rel": 0.10}, unit="J"),
    MetricSpec("train_energy_j", "train energy/sample", False, _joules, "train_energy",
               gate_tolerance={"rel": 0.25}, compare_tolerance={"rel": 0.10}, unit="J"),
    MetricSpec("peak_memory_mb", "peak MB", False, lambda v: f"{v:,.0f}", "memory",
               equivalence_margin={"rel": 0.10}),
    # snnbench export --check: the lowest share of (step, sample, neuron) slots in
    # which a framework that re-imported the network's NIR graph fired as snnbench did
    MetricSpec("nir_agreement", "NIR agreement", True, lambda v: f"{v:.6f}", "nir"),
)
METRIC_BY_KEY = {m.key: m for m in METRICS}


def margin(tolerance: dict[str, float], reference: float) -> tuple[float, str]:
    """The change a tolerance (``{"abs": x}`` or ``{"rel": x}``) allows around
    ``reference``, and how to print it."""
    if "abs" in tolerance:
        return tolerance["abs"], f"±{tolerance['abs']:g}"
    return abs(reference) * tolerance["rel"], f"±{tolerance['rel']:.0%}"


def metric(key: str) -> MetricSpec:
    try:
        return METRIC_BY_KEY[key]
    except KeyError:
        suggestion = did_you_mean(key, METRIC_BY_KEY)
        raise SnnbenchError(f"unknown metric {key!r}; " + (f"did you mean {suggestion!r}?" if suggestion
                            else f"choose from {', '.join(METRIC_BY_KEY)}")) from None
