"""How often a baseline gate fails a run that changed nothing, and how often
it catches a real regression: the numbers behind the tolerances and alpha of
``leaderboard/baseline-smoke-cpu.json``.

    python benchmarks/gate_error_rates.py leaderboard/baseline-smoke-cpu.json \\
        leaderboard/baseline-smoke-avx2.db leaderboard/baseline-smoke-avx512.db \\
        leaderboard/baseline-smoke-default.db --seeds 5

(``make baseline-smoke`` writes those stores.) A run on a machine the
baseline has never seen is modelled as ``--seeds`` values drawn without
replacement from the pooled per-seed values of each cell: other rounding
sends training along another trajectory, as another seed does. Each draw is
judged with the gate's own rule (:func:`snnbench.results.gate.compare`); a false
alarm is a draw where any of the gate's checks fails. Detection: the same
draws with the accuracy lowered by ``--shift``, counted per cell.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from snnbench.results.gate import compare, load_baseline
from snnbench.results.leaderboard import latest_results, pooled
from snnbench.results.store import ResultStore


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("baseline", type=Path)
    parser.add_argument("stores", nargs="+", type=Path, help="the stores the baseline was made from")
    parser.add_argument("--seeds", type=int, default=5, help="seeds of the run being judged (default 5)")
    parser.add_argument("--draws", type=int, default=500)
    parser.add_argument("--shift", type=float, default=0.05, help="accuracy drop to detect (default 0.05)")
    args = parser.parse_args()

    baseline = load_baseline(args.baseline)
    results = []
    for path in args.stores:
        with ResultStore(path, create=False) as store:
            results.append(latest_results(store.rows()))
    ok = pooled(results).ok
    rng = np.random.default_rng(0)
    cells = [group for _, group in ok.groupby("config_hash")]
    false_alarms, caught = 0, []
    for _ in range(args.draws):
        draw = pd.concat([cell.iloc[rng.choice(len(cell), args.seeds, replace=False)] for cell in cells])
        draw = draw.assign(seed=range(len(draw)))
        false_alarms += any(f.regressed for f in compare(draw, baseline, baseline["machines"]))
        worse = draw.assign(accuracy=draw["accuracy"] - args.shift)
        flagged = {f.label for f in compare(worse, baseline, baseline["machines"])
                   if f.regressed and f.metric == "accuracy"}
        caught.append(len(flagged) / len(cells))
    checks = sum(len(e["metrics"]) for e in baseline["entries"])
    print(f"{args.baseline}: alpha {baseline['alpha']}, tolerances "
          + ", ".join(f"{k} {next(iter(v))} {next(iter(v.values())):g}" for k, v in baseline["tolerances"].items()))
    print(f"runs of {args.seeds} seeds, {args.draws} draws from {len(ok)} pooled rows, {checks} checks a run:")
    print(f"  P(a run that changed nothing fails) = {false_alarms / args.draws:.3f}")
    print(f"  share of cells whose accuracy drop of {args.shift:g} is caught = {np.mean(caught):.2f}")


if __name__ == "__main__":
    main()
