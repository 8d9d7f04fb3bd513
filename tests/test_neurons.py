"""The two LIF backends behind one interface: same spikes and, in one step
where the frameworks' reset timing cannot differ, the same surrogate
gradients for every surrogate; SpikingJelly reports the backend that ran."""

from __future__ import annotations

import pytest
import torch

from snnbench_plugins.neurons.lif import LIFParams, SnnTorchLIF, SpikingJellyLIF


@pytest.mark.parametrize("surrogate", ["fast_sigmoid", "atan", "sigmoid"])
@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_backends_agree_on_spikes_and_surrogate_gradients(surrogate, reset):
    params = LIFParams(beta=0.8, threshold=1.0, reset=reset, surrogate=surrogate)
    torch.manual_seed(0)
    current = (torch.rand(1, 64, 50) * 2.4).requires_grad_()
    outputs = {}
    for layer in (SnnTorchLIF(params), SpikingJellyLIF(params)):
        spikes = layer(current)
        grad, = torch.autograd.grad((spikes * torch.linspace(-1, 1, 50)).sum(), current)
        outputs[type(layer).__name__] = (spikes.detach(), grad)
    (s1, g1), (s2, g2) = outputs.values()
    assert 0 < s1.mean() < 1
    assert torch.equal(s1, s2)
    # the sigmoid derivative is s(1-s) in SpikingJelly and exp(-x)/(1+exp(-x))^2
    # in snnTorch: equal in exact arithmetic, but in float32 ~1e-5 apart
    # relative, and in the far tail, where 1-s cancels, up to ~1.5e-6 absolute
    assert torch.allclose(g1, g2, rtol=1e-4, atol=2e-6)


def test_spikingjelly_reports_its_cpu_backend_and_keeps_constant_input_cheap():
    layer = SpikingJellyLIF(LIFParams())
    frame = torch.rand(4, 10) * 3
    spikes = layer(frame.unsqueeze(0).expand(6, 4, 10))
    assert layer.backend_used == "spikingjelly-cpu"
    assert torch.equal(spikes, layer(frame.unsqueeze(0).repeat(6, 1, 1)))
