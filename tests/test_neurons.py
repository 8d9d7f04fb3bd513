"""Neuron models behind one interface.

The LIF of snnTorch, of SpikingJelly and our fused one give the same spikes
and, to float tolerance, the same gradients for the same inputs and params;
every registered neuron model runs, trains and backpropagates in every
built-in architecture; a backend that cannot run says so.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import textwrap

import pytest
import torch
from conftest import REPO
from snnbench_plugins.architectures.feedforward import CSNNParams, MLPParams
from snnbench_plugins.neurons.lif_fused import (
    BackendUnavailable,
    FusedLIF,
    FusedLIFParams,
)
from snnbench_plugins.neurons.parameters import ALIFParams, LIFParams
from snnbench_plugins.neurons.snntorch_models import (
    SnnTorchALIF,
    SnnTorchLIF,
    SnnTorchRLeaky,
)
from snnbench_plugins.neurons.spikingjelly_models import (
    BackendUnavailable as SJBackendUnavailable,
)
from snnbench_plugins.neurons.spikingjelly_models import SJLIFParams, SpikingJellyLIF

from snnbench.api.records import Choice
from snnbench.running.assembly import build_network

SURROGATES = ["fast_sigmoid", "atan", "sigmoid"]


def spikes_and_gradient(layer, current: torch.Tensor):
    current = current.detach().requires_grad_()
    spikes = layer(current)
    weights = torch.linspace(-1, 1, current.shape[-1], device=current.device)
    grad, = torch.autograd.grad((spikes * weights).sum(), current)
    return spikes.detach(), grad


def lif_input(steps: int = 25) -> torch.Tensor:
    torch.manual_seed(0)
    # moderate currents (and a sigmoid slope of 4 in the tests): snnTorch's own
    # sigmoid surrogate, exp(-k u) / (1 + exp(-k u))^2, overflows to nan far
    # below threshold (k u < -88); ours computes the stable s (1 - s)
    return torch.rand(steps, 16, 40) * 0.8


@pytest.mark.parametrize("surrogate", SURROGATES)
@pytest.mark.parametrize("reset", ["subtract", "zero"])
@pytest.mark.parametrize("backend", ["numba", "torch"])
def test_fused_lif_equals_snntorch_leaky_over_many_steps(surrogate, reset, backend):
    assert_fused_lif_equals_snntorch_leaky(surrogate, reset, backend)


@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_compiled_fused_lif_equals_snntorch_leaky_over_many_steps(reset):
    """One surrogate only, as each compiles for seconds: the surrogate
    formulas are the torch backend's, tested with all three above."""
    assert_fused_lif_equals_snntorch_leaky("atan", reset, "compile")


def assert_fused_lif_equals_snntorch_leaky(surrogate: str, reset: str, backend: str, device: str = "cpu"):
    slope = 4.0 if surrogate == "sigmoid" else None
    current = lif_input().to(device)
    reference = spikes_and_gradient(SnnTorchLIF(LIFParams(beta=0.8, reset=reset, surrogate=surrogate, slope=slope)),
                                    current)
    layer = FusedLIF(FusedLIFParams(beta=0.8, reset=reset, surrogate=surrogate, slope=slope, backend=backend))
    spikes, grad = spikes_and_gradient(layer, current)
    assert 0.05 < reference[0].mean() < 0.6
    assert torch.equal(spikes, reference[0])
    assert torch.allclose(grad, reference[1], rtol=1e-4, atol=1e-5)
    assert layer.backend_used == f"lif-fused-{backend}"


@pytest.mark.parametrize("threads", [1, 2])
def test_fused_lif_numba_blocks_cover_a_layer_they_do_not_divide(threads):
    """21,007 neurons a step: several blocks and a partial last one, on one
    thread and on two (the block size follows the thread count)."""
    from snnbench_plugins.neurons.lif_fused.numba_loops import block_size

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        torch.manual_seed(0)
        current = torch.rand(25, 7, 3001) * 0.8
        reference = spikes_and_gradient(SnnTorchLIF(LIFParams(beta=0.8)), current)
        spikes, grad = spikes_and_gradient(FusedLIF(FusedLIFParams(beta=0.8, backend="numba")), current)
        assert 21007 % block_size(21007) and 21007 // block_size(21007) >= 4
    finally:
        torch.set_num_threads(before)
    assert torch.equal(spikes, reference[0])
    assert torch.allclose(grad, reference[1], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("reset", ["subtract", "zero"])
@pytest.mark.parametrize("backend", ["numba", "compile", "torch"])
def test_fused_lif_spikes_equal_snntorch_leaky_at_benchmark_size(reset, backend):
    assert_fused_lif_spikes_equal_snntorch_leaky_at_benchmark_size(reset, backend)


def assert_fused_lif_spikes_equal_snntorch_leaky_at_benchmark_size(reset: str, backend: str, device: str = "cpu"):
    """Over 6.5 million neuron-steps some membranes land within one rounding
    of the threshold; a kernel that fuses ``beta * mem + I`` into one
    multiply-add (fastmath) flipped up to 10 of them in these 8 draws."""
    for seed, beta in itertools.product(range(4), (0.8, 0.9)):
        torch.manual_seed(seed)
        current = (torch.rand(25, 64, 4096) * 0.8).to(device)
        with torch.no_grad():
            reference = SnnTorchLIF(LIFParams(beta=beta, reset=reset))(current)
            spikes = FusedLIF(FusedLIFParams(beta=beta, reset=reset, backend=backend))(current)
        assert 0.05 < reference.mean() < 0.6
        assert torch.equal(spikes, reference), (seed, beta, int((spikes != reference).sum()))


@pytest.mark.parametrize("surrogate", SURROGATES)
def test_spikingjelly_lif_equals_snntorch_leaky_with_zero_reset(surrogate):
    """Zero reset: the frameworks' dynamics coincide over any number of steps."""
    slope = 4.0 if surrogate == "sigmoid" else None
    current = lif_input()
    reference = spikes_and_gradient(SnnTorchLIF(LIFParams(beta=0.8, reset="zero", surrogate=surrogate, slope=slope)),
                                    current)
    spikes, grad = spikes_and_gradient(
        SpikingJellyLIF(SJLIFParams(beta=0.8, reset="zero", surrogate=surrogate, slope=slope)), current)
    assert torch.equal(spikes, reference[0])
    assert torch.allclose(grad, reference[1], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("backend, surrogate", [*itertools.product(["numba", "torch"], SURROGATES),
                                                ("compile", "sigmoid")])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_fused_lif_firing_at_the_threshold_is_spikingjelly_lif_with_zero_reset(backend, surrogate, dtype):
    """Spikformer's neuron on the fused kernels. Currents in quarters make
    membranes land exactly on the threshold, the one place where reaching it
    (SpikingJelly) and exceeding it (snnTorch, the default) part."""
    torch.manual_seed(0)
    current = (torch.randint(0, 5, (25, 16, 40)) / 4).to(dtype)
    shared = dict(beta=0.5, threshold=1.0, reset="zero", surrogate=surrogate, slope=2.0)
    spikingjelly = spikes_and_gradient(SpikingJellyLIF(SJLIFParams(**shared)), current)
    fused = spikes_and_gradient(FusedLIF(FusedLIFParams(**shared, fires_at_threshold=True, backend=backend)), current)
    exceeding, _ = spikes_and_gradient(FusedLIF(FusedLIFParams(**shared, backend=backend)), current)
    assert 0.05 < spikingjelly[0].float().mean() < 0.6
    assert not torch.equal(exceeding, spikingjelly[0])
    assert torch.equal(fused[0], spikingjelly[0])
    # in bf16 the two round the gradient at other points: within one step of its 8-bit mantissa
    tolerance = 2 ** -7 if dtype == torch.bfloat16 else 1e-5
    assert torch.allclose(fused[1].float(), spikingjelly[1].float(), rtol=tolerance, atol=tolerance)


@pytest.mark.parametrize("surrogate", SURROGATES)
def test_spikingjelly_subtract_reset_differs_only_by_when_the_reset_lands(surrogate):
    """Subtract reset: SpikingJelly subtracts right after the spike, before the
    next decay; snnTorch at the next update. One step cannot tell them apart,
    and over many steps SpikingJelly matches that documented rule exactly."""
    current = lif_input()
    params = dict(beta=0.8, reset="subtract", surrogate=surrogate)
    sj_spikes, sj_grad = spikes_and_gradient(SpikingJellyLIF(SJLIFParams(**params)), current[:1])
    st_spikes, st_grad = spikes_and_gradient(SnnTorchLIF(LIFParams(**params)), current[:1])
    assert torch.equal(sj_spikes, st_spikes) and torch.allclose(sj_grad, st_grad, rtol=1e-4, atol=2e-6)

    mem, spike, expected = torch.zeros_like(current[0]), torch.zeros_like(current[0]), []
    for step in current:
        mem = 0.8 * (mem - spike) + step
        spike = (mem >= 1.0).float()
        expected.append(spike)
    assert torch.equal(SpikingJellyLIF(SJLIFParams(**params))(current), torch.stack(expected))


def test_triton_kernels_agree_with_the_torch_reference_in_the_interpreter():
    """The CUDA kernels, run by Triton's CPU interpreter, against the torch backend."""
    pytest.importorskip("triton")
    script = textwrap.dedent("""
        import itertools
        import torch
        from snnbench_plugins.neurons.lif_fused import triton_kernels
        from snnbench_plugins.neurons.lif_fused import TorchKernels
        torch.manual_seed(0)
        # quarters: membranes land exactly on the threshold, where the two firing rules differ
        current, grad = torch.randint(0, 4, (12, 2500)) / 4, torch.randn(12, 2500)
        for subtract, at_threshold, kind in itertools.product((True, False), (True, False), (0, 1, 2)):
            settings = 0.5, 1.0, subtract, at_threshold
            spikes, membrane = triton_kernels.forward(current, *settings)
            ref_spikes, ref_membrane = TorchKernels.forward(current, *settings)
            assert torch.equal(spikes, ref_spikes) and torch.allclose(membrane, ref_membrane)
            assert 0.05 < spikes.mean() < 0.6 and (membrane == 1.0).any()
            assert torch.allclose(triton_kernels.backward(grad, membrane, *settings, kind, 5.0),
                                  TorchKernels.backward(grad, ref_membrane, *settings, kind, 5.0),
                                  rtol=1e-5, atol=1e-6)
        print("agree")
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                            env=os.environ | {"TRITON_INTERPRET": "1"}, cwd=REPO)
    assert result.returncode == 0 and "agree" in result.stdout, result.stderr[-3000:]


def test_a_backend_that_cannot_run_here_is_an_error_not_a_fallback():
    with pytest.raises(BackendUnavailable, match="'triton' runs on cuda"):
        FusedLIF(FusedLIFParams(backend="triton"))(torch.rand(3, 2, 4))
    with pytest.raises(SJBackendUnavailable, match="needs CUDA"):
        SpikingJellyLIF(SJLIFParams(backend="triton"))(torch.rand(3, 2, 4))


def test_spikingjelly_reports_its_cpu_backend_and_keeps_constant_input_cheap():
    layer = SpikingJellyLIF(SJLIFParams())
    frame = torch.rand(4, 10) * 3
    spikes = layer(frame.unsqueeze(0).expand(6, 4, 10))
    assert layer.backend_used == "spikingjelly-cpu"
    assert torch.equal(spikes, layer(frame.unsqueeze(0).repeat(6, 1, 1)))


def test_alif_without_adaptation_is_the_leaky_neuron_and_adaptation_slows_firing():
    current = lif_input() + 0.3
    leaky = SnnTorchLIF(LIFParams(beta=0.8))(current)
    assert torch.equal(SnnTorchALIF(ALIFParams(beta=0.8, adaptation=0.0))(current), leaky)
    adapted = SnnTorchALIF(ALIFParams(beta=0.8, adaptation=2.0))(current)
    assert adapted[:1].equal(leaky[:1])          # nothing to adapt to before the first spike
    assert adapted.mean() < 0.8 * leaky.mean()   # raised thresholds, fewer spikes


def test_rleaky_feeds_its_spikes_back_through_learned_weights():
    layer = SnnTorchRLeaky(LIFParams(beta=0.9), features=(40,))
    current = lif_input()
    with torch.no_grad():
        layer.neuron.recurrent.weight.fill_(0.2)
        excited = layer(current)
        layer.neuron.recurrent.weight.zero_()
        layer.neuron.recurrent.bias.zero_()
        alone = layer(current)
    assert excited.sum() > alone.sum()
    assert torch.equal(alone, SnnTorchLIF(LIFParams(beta=0.9))(current))
    with pytest.raises(ValueError, match="features"):
        SnnTorchRLeaky(LIFParams())


# ---------------------------------------------------------------- every registered model


@pytest.mark.parametrize("architecture", ["mlp", "csnn"])
def test_every_registered_neuron_trains_in_every_architecture(plugins, architecture):
    torch.manual_seed(0)
    images = torch.rand(8, 1, 16, 16)
    trained = 0
    for name in plugins.registries["neuron"].names():
        spec = plugins.registries["neuron"].get(name).spec
        if not spec.differentiable:
            continue
        trained += 1
        params = MLPParams(hidden=(24,)) if architecture == "mlp" else CSNNParams(channels=(4, 8), kernel_size=3)
        network = build_network(plugins.registries, Choice(architecture, params), Choice(name, spec.params()),
                                (1, 16, 16), 10, 5)
        current = (images * 2).unsqueeze(0).expand(5, *images.shape)
        output = network(current)
        assert output.shape == (5, 8, 10), name
        output.sum().backward()
        first = next(network.parameters())
        assert first.grad is not None and first.grad.abs().sum() > 0, f"{name}: no gradient reached the input layer"
    assert trained >= 9, "the built-in gradient-trained neurons are missing from the registry"


def test_one_training_step_with_fused_lif_equals_one_with_snntorch_leaky(plugins):
    torch.manual_seed(0)
    images = torch.rand(32, 1, 16, 16)
    targets = torch.randint(0, 10, (32,))
    updated = []
    for neuron in (Choice("snntorch-lif", LIFParams(beta=0.8)), Choice("lif-fused", FusedLIFParams(beta=0.8))):
        torch.manual_seed(1)
        network = build_network(plugins.registries, Choice("csnn", CSNNParams(channels=(4, 8), kernel_size=3)),
                                neuron, (1, 16, 16), 10, 6)
        optimizer = torch.optim.SGD(network.parameters(), lr=0.5)
        spikes = network((images * 3).unsqueeze(0).expand(6, *images.shape))
        torch.nn.functional.cross_entropy(spikes.sum(0), targets).backward()
        optimizer.step()
        updated.append([p.detach().clone() for p in network.parameters()])
    for fused, reference in zip(*updated):
        assert torch.allclose(fused, reference, rtol=1e-4, atol=1e-6)


def test_fused_lif_trains_like_snntorch_leaky_on_digits(plugins, tmp_path):
    """Same dynamics, same surrogate: both train well. (Float rounding differs
    by ~1e-6 per gradient, and training amplifies that into a few points of
    accuracy on 1,400 digits; the exact equivalence is the step test above.)"""
    from conftest import suite_toml

    from snnbench.cli import main
    from snnbench.results.store import ResultStore
    suite = tmp_path / "s.toml"
    suite.write_text(suite_toml("fused", neuron=("snntorch-lif", "lif-fused"), extra="""
        [params.encoder.rate]
        timesteps = 8
        [params.neuron.snntorch-lif]
        beta = 0.8
        [params.neuron.lif-fused]
        beta = 0.8
        [params.learning_rule.bptt]
        lr = 0.01
        [training]
        epochs = 2
        batch_size = 32
    """))
    db = tmp_path / "r.db"
    assert main(["run", str(suite), "--db", str(db), "--no-progress"]) == 0
    accuracy = {row["neuron"]: row["metrics"]["accuracy"] for row in ResultStore(db).rows()}
    assert accuracy["snntorch-lif"] > 0.8 and accuracy["lif-fused"] > 0.8
