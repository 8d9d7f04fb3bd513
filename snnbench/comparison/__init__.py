"""A/B comparison of two commits' code on one machine: each side checked
out and installed in its own environment (:mod:`.checkout`), a suite or the
neuron benchmarks run interleaved on both, and the differences judged
(:mod:`.compare`). Not a results stage: it runs code, then reads its stores."""
