"""bf16 inside the numba kernels: reading and writing a bf16 tensor's bits
gives what PyTorch's casts give, bit for bit, and so does the fused LIF fed
bf16 against the float32 kernels between casts."""

from __future__ import annotations

import numba
import numpy as np
import torch
from snnbench_plugins.neurons.lif_fused import FusedLIF, FusedLIFParams
from snnbench_plugins.neurons.lif_fused.numba_bf16 import narrow, widen


@numba.njit
def widen_all(bits, out):
    for i in range(len(bits)):
        out[i] = widen(bits[i])


@numba.njit
def narrow_all(values, out):
    for i in range(len(values)):
        out[i] = narrow(values[i], out)


def test_every_bf16_widens_as_torch_casts_it():
    bits = torch.arange(-2**15, 2**15, dtype=torch.int32).to(torch.int16)
    out = np.empty(len(bits), np.float32)
    widen_all(bits.numpy(), out)
    expected = bits.view(torch.bfloat16).float()
    assert torch.equal(torch.from_numpy(out).view(torch.int32), expected.view(torch.int32))


def test_float32_narrows_as_torch_casts_it_ties_and_infinities_included_nans_to_the_quiet_nan():
    generator = torch.Generator().manual_seed(0)
    random_bits = torch.randint(-2**31, 2**31 - 1, (200_000,), generator=generator, dtype=torch.int64)
    ties = (torch.randint(0, 2**16, (1000,), generator=generator) << 16) | 0x8000  # exactly halfway
    special = torch.tensor([0x7F800000, 0xFF800000, 0x7F800001, 0x7FFFFFFF, 0xFFC00001, 0x7F7FFFFF, 0x00000001,
                            0x80000000, 0x3F808000, 0x3F818000])
    values = torch.cat([random_bits, ties, special]).to(torch.int32).view(torch.float32)
    out = np.empty(len(values), np.int16)
    narrow_all(values.numpy(), out)
    narrowed, cast = torch.from_numpy(out), values.bfloat16()
    nan = values.isnan()
    assert 100 < nan.sum() < len(values) / 2
    assert torch.equal(narrowed[~nan], cast.view(torch.int16)[~nan])
    # PyTorch's own casts disagree on a NaN's bits (c10's scalar one: 0x7FC0, ATen's AVX-512 one: 0xFFFF)
    assert (narrowed[nan] == 0x7FC0).all()


def test_fused_lif_on_bf16_equals_the_float32_kernels_between_casts():
    torch.manual_seed(0)
    current = (torch.rand(25, 16, 3001) * 0.8).bfloat16()
    grad = torch.randn(current.shape).bfloat16()
    layer = FusedLIF(FusedLIFParams(beta=0.8, backend="numba"))

    wide = current.float().requires_grad_()
    wide_spikes = layer(wide)
    (wide_grad,) = torch.autograd.grad(wide_spikes, wide, grad.float())

    narrow_current = current.clone().requires_grad_()
    spikes = layer(narrow_current)
    (narrow_grad,) = torch.autograd.grad(spikes, narrow_current, grad)
    assert spikes.dtype == narrow_grad.dtype == torch.bfloat16
    assert 0.05 < spikes.float().mean() < 0.6
    assert torch.equal(spikes, wide_spikes.bfloat16())
    assert torch.equal(narrow_grad.view(torch.int16), wide_grad.bfloat16().view(torch.int16))
