"""Estimated energy per inference sample: the operation counts of a
measurement (:class:`snnbench.running.metrics.ActivitySummary`) priced with
a suite's energy table (:mod:`snnbench.definition.energy_tables`).

- ``energy_est_j``, compute only, the figure SNN papers quote::

      ACs x E_AC + MACs x E_MAC + neuron operations x E_neuron_op

  ACs and MACs are NeuroBench's effective synaptic operations (a spike
  times a non-zero weight is an AC, an analogue input times one a MAC);
  neuron operations are NeuroBench's too (membrane updates times the
  model's operations per update).

Everything is per test sample, in joules. An estimate whose counts are
unknown (a neuron layer that reports no membrane, say) is None with the
reason, never a partial sum passed off as the whole; the parts that are
known are kept in the row's ``energy_est_parts`` all the same. Estimates
depend only on the counts and the table, so they are deterministic: an A/B
on one machine with the same seeds compares them seed by seed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from snnbench.api.records import EnergyTable
from snnbench.running.metrics import ActivitySummary

PICO = 1e-12


@dataclass(frozen=True)
class EnergyEstimate:
    #: joules per sample, compute only; None where a count is unknown
    compute_j: float | None
    #: each known part, in joules per sample
    parts: dict[str, float]
    #: why an estimate is None, by its metric key
    unavailable: dict[str, str] = field(default_factory=dict)

    def metrics(self, table: EnergyTable) -> dict[str, Any]:
        """The row's entries: the estimates, their parts and the table they were priced with."""
        return {"energy_est_j": self.compute_j, "energy_est_parts": self.parts, "energy_table": table.as_config()}


def estimate_energy(activity: ActivitySummary, table: EnergyTable) -> EnergyEstimate:
    parts = {"ac_j": activity.synops_ac * table.ac_pj * PICO, "mac_j": activity.synops_mac * table.mac_pj * PICO}
    unavailable = {}
    if activity.neuron_ops is None:
        unavailable["energy_est_j"] = f"no neuron operation count: {activity.unavailable['neuron_ops']}"
    else:
        parts["neuron_j"] = activity.neuron_ops * table.neuron_op_pj * PICO
    compute = None if unavailable else parts["ac_j"] + parts["mac_j"] + parts["neuron_j"]
    return EnergyEstimate(compute, parts, unavailable)
