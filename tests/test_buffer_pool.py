"""The fused LIF's buffer pool: an array comes back only once nothing made
from it is left, so reuse never overwrites an output someone still reads."""

from __future__ import annotations

import numpy as np
import torch
from snnbench_plugins.neurons.lif_fused import FusedLIF, FusedLIFParams
from snnbench_plugins.neurons.lif_fused.buffer_pool import BufferPool
from snnbench_plugins.neurons.parameters import LIFParams
from snnbench_plugins.neurons.snntorch_models import SnnTorchLIF


def address(array: np.ndarray) -> int:
    return array.__array_interface__["data"][0]


def test_an_array_is_reused_only_after_every_tensor_made_from_it_is_gone():
    pool = BufferPool()
    first = pool.take((3, 5), np.float32)
    lent = address(first)
    kept = torch.from_numpy(first)[1:]  # a view of the tensor keeps the storage, and so the array
    del first
    second = pool.take((3, 5), np.float32)
    assert address(second) != lent
    del second
    assert address(pool.take((3, 5), np.float32)) != lent  # the second array, free again
    del kept
    assert address(pool.take((3, 5), np.float32)) == lent


def test_other_shapes_get_their_own_arrays_and_a_full_pool_allocates_without_keeping():
    pool = BufferPool(capacity=2)
    held = [pool.take((4,), np.float32), pool.take((4,), np.float32)]
    assert pool.take((4,), np.float64).dtype == np.float64
    extra = pool.take((4,), np.float32)
    assert address(extra) not in {address(a) for a in held}
    del extra  # not pooled: the two held arrays are still all the pool has
    assert address(pool.take((4,), np.float32)) not in {address(a) for a in held}
    reused = address(held.pop())
    assert address(pool.take((4,), np.float32)) == reused


def test_outputs_kept_across_calls_stay_correct():
    torch.manual_seed(0)
    inputs = [torch.rand(10, 8, 32) * 0.8 for _ in range(3)]
    layer, reference = FusedLIF(FusedLIFParams(backend="numba")), SnnTorchLIF(LIFParams())
    outputs = [layer(x) for x in inputs]  # all alive at once, then one dropped and a new call
    del outputs[1]
    outputs.append(layer(inputs[1]))
    for x, spikes in zip([inputs[0], inputs[2], inputs[1]], outputs):
        assert torch.equal(spikes, reference(x))


def test_a_retained_graph_backpropagates_again_after_other_calls_reused_the_pool():
    torch.manual_seed(0)
    current = (torch.rand(10, 8, 32) * 0.8).requires_grad_()
    layer = FusedLIF(FusedLIFParams(backend="numba"))
    spikes = layer(current)
    first = torch.autograd.grad(spikes.sum(), current, retain_graph=True)[0].clone()
    for _ in range(3):  # forward and backward on other input, through the same pool
        other = (torch.rand_like(current) * 2).requires_grad_()
        torch.autograd.grad(layer(other).sum(), other)
    again, = torch.autograd.grad(spikes.sum(), current)
    assert first.abs().sum() > 0
    assert torch.equal(first, again)


def test_a_layer_in_evaluation_keeps_no_buffers_and_lets_go_of_its_training_ones():
    """Per layer, kept buffers would hold every layer's evaluation batch at once."""
    torch.manual_seed(0)
    layer = FusedLIF(FusedLIFParams(backend="numba"))
    current = torch.rand(10, 8, 32) * 0.8
    layer(current)
    pool = layer._kernels[current.device][0].buffers
    assert pool._pool
    reference = layer(current)
    layer.eval()
    evaluated = layer(torch.rand(10, 500, 32))
    assert not pool._pool
    layer.train()
    assert torch.equal(layer(current), reference) and pool._pool
    assert evaluated.shape == (10, 500, 32)
