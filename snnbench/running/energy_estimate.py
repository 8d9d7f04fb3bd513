"""Estimated energy per inference sample: the operation counts of a
measurement (:class:`snnbench.running.metrics.ActivitySummary`) priced with
a suite's energy table (:mod:`snnbench.definition.energy_tables`).

- ``energy_est_j``, compute only, the figure SNN papers quote::

      ACs x E_AC + MACs x E_MAC + neuron operations x E_neuron_op

  ACs and MACs are NeuroBench's effective synaptic operations (a spike
  times a non-zero weight is an AC, an analogue input times one a MAC);
  neuron operations are NeuroBench's too (membrane updates times the
  model's operations per update).
- ``energy_est_mem_j``, memory-aware: the same plus the memory traffic of a
  neuromorphic inference as SpikingJelly 2.0's simple energy model counts
  it, at the table's cost per byte (24.96 pJ by default)::

      + (parameter reads + neuron-state reads and writes) bytes x E_byte

  Parameter reads: for spike input, every weight a spike fans out to (a
  zero weight too: it is read before it is known to be zero); for analogue
  input every weight of every multiplication; a bias per output value.
  Neuron state: each spiking layer reads and writes the values it carries
  (``SpikingLayer.state_values``: 1 for LIF) once per neuron and step.
  Bytes are the model's own dtype (a bf16 run reads 2 bytes a value),
  whatever precision the table's arithmetic is for. Left out, as SpikingJelly
  leaves them out: input currents, output spikes, routing, addressing,
  buffers, and any cache or DRAM hierarchy (one flat cost per byte).

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
    #: joules per sample, compute and memory traffic; None where compute is
    memory_aware_j: float | None
    #: each known part, in joules per sample
    parts: dict[str, float]
    #: why an estimate is None, by its metric key
    unavailable: dict[str, str] = field(default_factory=dict)

    def metrics(self, table: EnergyTable) -> dict[str, Any]:
        """The row's entries: the estimates, their parts and the table they were priced with."""
        return {"energy_est_j": self.compute_j, "energy_est_mem_j": self.memory_aware_j,
                "energy_est_parts": self.parts, "energy_table": table.as_config()}


def estimate_energy(activity: ActivitySummary, table: EnergyTable) -> EnergyEstimate:
    parts = {"ac_j": activity.synops_ac * table.ac_pj * PICO, "mac_j": activity.synops_mac * table.mac_pj * PICO,
             "parameter_memory_j": activity.parameter_read_bytes * table.byte_pj * PICO,
             "state_memory_j": activity.neuron_state_bytes * table.byte_pj * PICO}
    if activity.neuron_ops is None:
        reason = f"no neuron operation count: {activity.unavailable['neuron_ops']}"
        return EnergyEstimate(None, None, parts, {"energy_est_j": reason, "energy_est_mem_j": reason})
    parts["neuron_j"] = activity.neuron_ops * table.neuron_op_pj * PICO
    compute = parts["ac_j"] + parts["mac_j"] + parts["neuron_j"]
    return EnergyEstimate(compute, compute + parts["parameter_memory_j"] + parts["state_memory_j"], parts)
