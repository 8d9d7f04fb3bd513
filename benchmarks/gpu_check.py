"""The GPU check: one command that, on a CUDA machine, runs what only a GPU
can tell and writes one JSON and one Markdown summary.

    make gpu-check                       # or: python benchmarks/gpu_check.py --out gpu-check

Steps, each with its own time limit so the whole fits in 8 minutes on an H100:

1. the GPU tests (``pytest -m gpu``);
2. the neuron benchmark at DESIGN.md's size (T = 100, B = 128, N = 16,384):
   ``lif-fused`` on Triton beside SpikingJelly's Triton kernel, snnTorch's
   ``Leaky`` and the memory-bandwidth floor;
3. the harness-overhead benchmarks: the harness against a bare loop training
   the same CSNN, and its measuring pass (accuracy and activity counts)
   against a bare forward pass over the same test images;
4. a reduced ``encoders`` suite, and its leaderboard.

Without CUDA every step says it is skipped and why, and the summaries say
so too: the command never fails for want of a GPU. A step that fails is
recorded with its output's tail and the check exits 1 at the end.

On the lent GPU machine, ``../shared/tools/device-prep`` packs the wheels
and MNIST; install the project there (``pip install --no-deps
--no-build-isolation --target /tmp/site .``) so its entry points exist, then
run this with the image's Python (``make gpu-check GPU_CHECK_PYTHON=python3``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import torch

from snnbench.runtime import git_commit, machine

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
#: the neuron benchmark cases at DESIGN.md's size (pytest -k)
NEURON_CASES = "N16384-T100-B128 and (lif-fused or spikingjelly-lif or snntorch-lif)"


@dataclass
class Step:
    name: str
    status: str  # ok, failed, skipped
    seconds: float
    detail: str
    command: list[str] | None = None


def run_step(name: str, command: list[str], limit: float, out: Path) -> Step:
    started = time.perf_counter()
    print(f"== {name}: {' '.join(command)}", flush=True)
    try:
        done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=limit)
        output, code = done.stdout + done.stderr, done.returncode
    except subprocess.TimeoutExpired as expired:
        output, code = f"{expired.stdout or ''}{expired.stderr or ''}\ntimed out after {limit:.0f} s", -1
    (out / f"{name}.log").write_text(output)
    tail = "\n".join(output.strip().splitlines()[-25:])
    print(tail, flush=True)
    return Step(name, "ok" if code == 0 else "failed", time.perf_counter() - started, tail, command)


def skipped(name: str, why: str) -> Step:
    print(f"== {name}: skipped: {why}", flush=True)
    return Step(name, "skipped", 0.0, why)


def markdown(steps: list[Step], header: dict) -> str:
    lines = ["# GPU check", "", f"- machine: {header['machine']}", f"- commit: {header['commit']}",
             f"- date: {header['date']}", "", "| step | status | seconds |", "|---|---|---|"]
    lines += [f"| {step.name} | {step.status} | {step.seconds:.0f} |" for step in steps]
    for step in steps:
        lines += ["", f"## {step.name} ({step.status})", "", "```", step.detail, "```"]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("gpu-check"), help="folder for the logs and summaries")
    parser.add_argument("--data-dir", default=None, help="where MNIST is (default: $SNNBENCH_DATA)")
    args = parser.parse_args()
    out = args.out.absolute()
    out.mkdir(parents=True, exist_ok=True)
    python = sys.executable
    cuda = torch.cuda.is_available()
    device = torch.device("cuda" if cuda else "cpu")
    data = ["--data-dir", args.data_dir] if args.data_dir else []
    no_cuda = "needs a CUDA device; torch.cuda.is_available() is False here"

    steps = [run_step("gpu-tests", [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "gpu", "tests"],
                      240, out) if cuda else skipped("gpu-tests", no_cuda)]
    if cuda:
        steps.append(run_step("neurons", [python, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                                          str(HERE / "test_neuron_speed.py"), "--benchmark-enable",
                                          f"--benchmark-json={out / 'neurons.json'}", "-k", NEURON_CASES], 120, out))
        if (out / "neurons.json").exists():
            steps.append(run_step("neuron-table", [python, str(HERE / "neuron_table.py"), str(out / "neurons.json")],
                                  30, out))
        steps.append(run_step("harness-overhead", [python, str(HERE / "harness_overhead.py"), "--device", "cuda",
                                                   "--limit", "20000", "--repeats", "3", *data], 120, out))
        steps.append(run_step("eval-overhead", [python, str(HERE / "eval_overhead.py"), "--device", "cuda",
                                                "--samples", "2000", "--json", str(out / "eval-overhead.json"),
                                                *data], 60, out))
        db = out / "encoders.db"
        snnbench = [python, "-m", "snnbench.cli"]
        steps.append(run_step("encoders", [*snnbench, "run", "encoders", "--limit", "10000", "--epochs", "2",
                                           "--db", str(db), "--no-progress", *data], 180, out))
        steps.append(run_step("encoders-leaderboard", [*snnbench, "leaderboard", "--db", str(db), "--suite",
                                                       "encoders", "--by", "encoder"], 30, out))
    else:
        steps += [skipped(name, no_cuda) for name in ("neurons", "harness-overhead", "eval-overhead", "encoders")]

    header = {"machine": machine(device), "commit": git_commit(REPO),
              "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "cuda": cuda}
    (out / "summary.json").write_text(json.dumps({**header, "steps": [asdict(s) for s in steps]}, indent=2) + "\n")
    (out / "summary.md").write_text(markdown(steps, header))
    print(f"summaries: {out / 'summary.json'}, {out / 'summary.md'}")
    return 1 if any(step.status == "failed" for step in steps) else 0


if __name__ == "__main__":
    sys.exit(main())
