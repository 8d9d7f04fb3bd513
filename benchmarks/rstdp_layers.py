"""The R-STDP network's stages with its hidden layers run by events
(``snnbench_plugins.rstdp.spike_time_conv``, what the CPU uses) and densely (a conv
over every step and the neurons, what a GPU uses), side by side in one
process on real MNIST, at SpykeTorch's sizes: layer 1 and 2 STDP, the passes
that compute the next layer's input, and inference of the whole network on
test digits, bare and with the activity metrics a row records.

Both networks start from the same weights and learn from the same digits;
each stage's chunks alternate between the two, so a burst of load on a shared
machine hits them alike, and each figure is the median over chunks. The two
must end with bit-equal weights, equal spike times and equal outputs and
metrics, or the script fails.

    python benchmarks/rstdp_layers.py --images 600 --threads 1
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import statistics
import time
from pathlib import Path

import torch
from snnbench_plugins.datasets.vision import TorchvisionImagesParams, load_mnist
from snnbench_plugins.rstdp.dog_latency import DoGLatencyEncoder, DoGLatencyParams
from snnbench_plugins.rstdp.if_once import IFOnceParams
from snnbench_plugins.rstdp.mozafari import MozafariNetwork, MozafariParams
from snnbench_plugins.rstdp.spike_times import first_spike_times
from snnbench_plugins.rstdp.stdp import StdpRstdp, StdpRstdpParams
from tabulate import tabulate

from snnbench.api.contracts import DatasetInfo, DataSplit, LoadContext, SpikingModel
from snnbench.api.errors import SnnbenchError
from snnbench.api.records import Choice
from snnbench.definition.plugins import load_plugins
from snnbench.running.assembly import architecture_context
from snnbench.running.metrics import evaluate
from snnbench.runtime import data_root, device_name

STEPS, CHUNK, TEST_IMAGES = 15, 50, 200


def networks() -> dict[str, MozafariNetwork]:
    torch.manual_seed(0)
    ctx = architecture_context(load_plugins().registries, "mozafari", Choice("spikingjelly-if-once", IFOnceParams()),
                               (6, 28, 28), 10, STEPS)
    events = MozafariNetwork(MozafariParams(), ctx)
    dense = copy.deepcopy(events)
    dense._by_events = lambda layer, times: False  # this copy never takes the event path
    return {"events": events, "dense": dense}


def timed(run) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=600, help="training digits (a multiple of 100)")
    parser.add_argument("--threads", type=int, default=1, help="threads for torch, and so for numba (the suites run on one)")
    parser.add_argument("--data-dir", type=Path, default=None, help="where MNIST lies (default $SNNBENCH_DATA)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    try:
        train, test = load_mnist(TorchvisionImagesParams(download=False),
                              LoadContext(data_root(args.data_dir), download=False))
    except SnnbenchError as error:  # no MNIST there: say where to put it, without a traceback
        raise SystemExit(f"{Path(__file__).name}: {error}") from None
    encoder = DoGLatencyEncoder(DoGLatencyParams(threshold=50.0, normalization_radius=8),
                                DatasetInfo("mnist", "static", (1, 28, 28), 10))
    rule = StdpRstdp(StdpRstdpParams())
    nets, seconds = networks(), {}
    with torch.no_grad():
        times = first_spike_times(encoder(train.inputs[:args.images]))
        inputs = {name: times for name in nets}
        for layer, stage in ((0, "layer 1 STDP"), (1, "layer 2 STDP")):
            if layer:
                for name, network in nets.items():
                    def propagate(network=network, name=name):
                        inputs[name] = torch.cat([network.propagate(0, inputs[name][i:i + 100])
                                                  for i in range(0, args.images, 100)])
                    seconds[name, "layer 2 input"] = [timed(propagate) / args.images]
            for start in range(0, args.images, CHUNK):
                for name, network in nets.items():
                    def learn(network=network, name=name):
                        for i in range(start, start + CHUNK):
                            rule.hidden_step(network, layer, inputs[name][i:i + 1], i)
                    seconds.setdefault((name, stage), []).append(timed(learn) / CHUNK)
        for name, network in nets.items():
            seconds[name, "layer 3 input"] = [timed(lambda: [network.propagate(1, inputs[name][i:i + 100])
                                                             for i in range(0, args.images, 100)]) / args.images]
        inference_differs = inference(nets, encoder, test.head(TEST_IMAGES), seconds)
    for layer in (0, 1):
        if not torch.equal(nets["events"].weight(layer), nets["dense"].weight(layer)):
            raise SystemExit(f"layer {layer + 1}'s weights differ between the event and the dense path")
    if not torch.equal(inputs["events"], inputs["dense"]):
        raise SystemExit("layer 2's input spike times differ between the event and the dense path")
    if inference_differs:
        raise SystemExit(f"inference's {inference_differs} differ between the event and the dense path")
    rows = []
    for stage in ("layer 1 STDP", "layer 2 input", "layer 2 STDP", "layer 3 input",
                  "inference, bare", "inference, with the metrics"):
        dense, events = (statistics.median(seconds[name, stage]) * 1e3 for name in ("dense", "events"))
        rows.append([stage, f"{dense:.2f}", f"{events:.2f}", f"{dense / events:.1f}x"])
    print(f"{device_name(torch.device('cpu'))}, {args.threads} thread(s), {args.images} digits "
          f"(STDP at batch 1, propagation at batch 100), {TEST_IMAGES} test digits (inference at batch {CHUNK}); "
          f"weights bit-equal after both layers' STDP, equal outputs and metrics in inference")
    print(tabulate(rows, ["stage", "dense ms/image", "events ms/image", "speed-up"], tablefmt="github"))


def inference(nets: dict[str, MozafariNetwork], encoder, digits: DataSplit, seconds: dict) -> str | None:
    """Time the whole network on ``digits`` in chunks, bare and under
    ``evaluate`` (the row's metrics); what differs between the paths, if anything."""
    models = {name: SpikingModel(encoder, network, STEPS).eval() for name, network in nets.items()}
    results = {}
    for start in range(0, len(digits), CHUNK):
        chunk = DataSplit(digits.inputs[start:start + CHUNK], digits.targets[start:start + CHUNK])
        for name, model in models.items():
            started = time.perf_counter()
            results[name, "outputs", start] = model(chunk.inputs)
            seconds.setdefault((name, "inference, bare"), []).append((time.perf_counter() - started) / CHUNK)
            started = time.perf_counter()
            results[name, "metrics", start] = evaluate(model, chunk, CHUNK, torch.device("cpu")).activity
            seconds.setdefault((name, "inference, with the metrics"), []).append(
                (time.perf_counter() - started) / CHUNK)
    for start in range(0, len(digits), CHUNK):
        if not torch.equal(results["events", "outputs", start], results["dense", "outputs", start]):
            return "outputs"
        if _without_workload(results["events", "metrics", start]) != _without_workload(
                results["dense", "metrics", start]):
            return "activity metrics"
    return None


def _without_workload(activity):
    """The activity but for membrane updates and neuron operations, which layers
    run by events keep no membrane per step for (the dense path counts them)."""
    return dataclasses.replace(activity, membrane_updates=None, neuron_ops=None, unavailable={})


if __name__ == "__main__":
    main()
