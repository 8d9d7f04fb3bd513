"""Prints the README's neuron speed table from a pytest-benchmark JSON file:
forward + backward time of each neuron at one size, relative to snnTorch
Leaky measured in the same run, next to the memory-bandwidth floor.

    python benchmarks/neuron_table.py .benchmarks/neurons.json [--size N4096-T25-B64]
"""

from __future__ import annotations

import argparse
import json
import platform

from tabulate import tabulate

REFERENCE = "snntorch-lif"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", help="pytest-benchmark --benchmark-json output")
    parser.add_argument("--size", default="N4096-T25-B64", help="the size to tabulate (a test id suffix)")
    args = parser.parse_args()
    report = json.load(open(args.results))
    rows = [b for b in report["benchmarks"] if b["param"].endswith(args.size)]
    if not rows:
        raise SystemExit(f"no benchmark of size {args.size} in {args.results}")
    reference = next((b["stats"]["median"] for b in rows if b["extra_info"]["neuron"] == REFERENCE), None)
    table = []
    for bench in sorted(rows, key=lambda b: b["stats"]["median"]):
        info, median = bench["extra_info"], bench["stats"]["median"]
        table.append([info["neuron"], info["backend"], f"{median * 1e3:.1f}",
                      f"{reference / median:.1f}x" if reference else "–",
                      f"{median / info['bandwidth_bound_s']:.1f}x", f"{info['sparsity']:.3f}"])
    machine = report.get("machine_info", {})
    bounds = [bench["extra_info"]["bandwidth_bound_s"] * 1e3 for bench in rows]
    print(f"{args.size} on {machine.get('cpu', {}).get('brand_raw', platform.processor())}, "
          f"device {rows[0]['extra_info']['device']}; bandwidth floor {min(bounds):.2f}-{max(bounds):.2f} ms "
          f"(measured after each row's rounds; each row's ratio uses its own)\n")
    print(tabulate(table, headers=["neuron", "backend ran", "fwd+bwd ms (median)", f"speed-up vs {REFERENCE}",
                                   "x bandwidth floor", "sparsity"], tablefmt="github"))


if __name__ == "__main__":
    main()
