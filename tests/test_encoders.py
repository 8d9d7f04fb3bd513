"""The built-in encoders produce the codes their docstrings promise."""

from __future__ import annotations

import torch
from snnbench_plugins.encoders.coding import (
    DeltaEncoder,
    DeltaParams,
    DirectEncoder,
    DirectParams,
    EventsEncoder,
    LatencyEncoder,
    LatencyParams,
    RateEncoder,
    RateParams,
)

from snnbench.api.contracts import DatasetInfo, NoParams
from snnbench.api.sequence import TimeDistributed, is_constant_in_time, repeat_in_time

INFO = DatasetInfo("test", "static", (1, 2, 2), 10)
IMAGE = torch.tensor([[[[0.0, 0.25], [0.5, 1.0]]]])  # [B=1, C=1, 2, 2]


def test_rate_fires_in_proportion_to_intensity():
    torch.manual_seed(0)
    spikes = RateEncoder(RateParams(timesteps=4000), INFO)(IMAGE)
    assert spikes.shape == (4000, 1, 1, 2, 2)
    assert set(spikes.unique().tolist()) <= {0.0, 1.0}
    assert torch.allclose(spikes.mean(0), IMAGE, atol=0.03)
    assert spikes[:, 0, 0, 0, 0].sum() == 0  # a black pixel never fires
    half = RateEncoder(RateParams(timesteps=4000, gain=0.5), INFO)(IMAGE)
    assert abs(half[:, 0, 0, 1, 1].mean() - 0.5) < 0.03


def test_latency_is_one_spike_at_the_promised_step():
    spikes = LatencyEncoder(LatencyParams(timesteps=5), INFO)(IMAGE)
    per_pixel = spikes.sum(0)[0, 0]
    assert per_pixel.tolist() == [[0, 1], [1, 1]]  # the black pixel stays silent
    first = spikes[:, 0, 0].argmax(0)
    # round((T-1)(1-x)) with T=5: x=1 -> 0, x=0.5 -> 2, x=0.25 -> 3
    assert first[1, 1] == 0 and first[1, 0] == 2 and first[0, 1] == 3


def test_latency_codes_differ_between_images():
    encoder = LatencyEncoder(LatencyParams(timesteps=8), INFO)
    other = IMAGE.flip(-1)
    assert not torch.equal(encoder(IMAGE), encoder(other))


def test_latency_codes_real_digits_one_spike_per_pixel_that_decodes_back():
    """On real images: every lit pixel fires once, at the step its intensity
    promises, so the code tells images apart as well as the images themselves
    (rounded to T levels) do."""
    from snnbench_plugins.datasets.vision import DigitsParams, load_digits

    from snnbench.api.contracts import LoadContext

    images = load_digits(DigitsParams(), LoadContext(None))[0].inputs[:200]
    steps = 6
    spikes = LatencyEncoder(LatencyParams(timesteps=steps), INFO)(images)
    assert spikes.shape == (steps, *images.shape)
    assert torch.equal(spikes.sum(0), (images > 0).float())  # one spike per lit pixel, none for black
    fire_at = spikes.argmax(0).float()
    lit = images > 0
    assert torch.all((1 - fire_at / (steps - 1) - images).abs()[lit] <= 0.5 / (steps - 1) + 1e-6)
    codes = {tuple(code.flatten().tolist()) for code in spikes.transpose(0, 1)}
    levels = {tuple(torch.round((steps - 1) * (1 - x)).mul(x > 0).flatten().tolist()) for x in images}
    assert len(codes) == len(levels) > 190  # different images, different codes


def test_direct_is_a_constant_expand_without_copy():
    spikes = DirectEncoder(DirectParams(timesteps=6), INFO)(IMAGE)
    assert spikes.shape == (6, 1, 1, 2, 2)
    assert is_constant_in_time(spikes)
    assert spikes.data_ptr() == IMAGE.data_ptr()
    assert torch.equal(spikes[3], IMAGE)


def test_events_are_time_first_float_views_and_uint8_counts_are_cast_per_batch():
    frames = torch.randint(0, 4, (3, 5, 2, 4, 4), dtype=torch.uint8)  # [B, T, C, H, W] counts
    info = DatasetInfo("events", "frames", (5, 2, 4, 4), 10)
    encoded = EventsEncoder(NoParams(), info)(frames)
    assert encoded.dtype == torch.float32 and encoded.shape == (5, 3, 2, 4, 4)
    assert torch.equal(encoded, frames.transpose(0, 1).float())
    floats = frames.float()
    assert EventsEncoder(NoParams(), info)(floats).data_ptr() == floats.data_ptr()  # float input: a view


def test_delta_spike_count_is_intensity_over_threshold():
    spikes = DeltaEncoder(DeltaParams(timesteps=10, threshold=0.25), INFO)(IMAGE)
    assert set(spikes.unique().tolist()) <= {0.0, 1.0}
    assert spikes.sum(0)[0, 0].tolist() == [[0, 1], [2, 4]]  # floor(x / 0.25)
    # the brightest pixel crosses a level every 2.5 steps of its ramp
    assert spikes[:, 0, 0, 1, 1].nonzero().flatten().tolist() == [2, 4, 7, 9]


def test_time_distributed_constant_path_matches_the_full_path():
    torch.manual_seed(0)
    conv = TimeDistributed(torch.nn.Conv2d(1, 3, 3, padding=1))
    frame = torch.rand(4, 1, 5, 5, requires_grad=True)
    expanded = frame.unsqueeze(0).expand(7, *frame.shape)
    fast = conv(expanded)
    assert is_constant_in_time(fast)
    copied = frame.detach().clone().requires_grad_()
    slow = conv(copied.unsqueeze(0).repeat(7, 1, 1, 1, 1))
    assert torch.allclose(fast, slow, atol=1e-6)
    fast.square().sum().backward()
    slow.square().sum().backward()
    assert torch.allclose(frame.grad, copied.grad, atol=1e-4)


def test_a_repeated_step_reaches_the_next_layers_as_itself_and_trains_as_the_full_path():
    """Chained stateless layers on a sequence made by repeat_in_time see the step
    they were made from, not a ``x[0]`` slice of it (whose backward fills a zero
    tensor of the whole [T, ...] shape), and give the full path's gradients."""
    torch.manual_seed(0)
    conv, pool = TimeDistributed(torch.nn.Conv2d(1, 3, 3)), TimeDistributed(torch.nn.MaxPool2d(2))
    frame = torch.rand(4, 1, 6, 6, requires_grad=True)
    fast = pool(conv(repeat_in_time(frame, 7)))
    assert is_constant_in_time(fast) and fast.shape == (7, 4, 3, 2, 2)
    copied = frame.detach().clone().requires_grad_()
    slow = pool(conv(copied.unsqueeze(0).repeat(7, 1, 1, 1, 1)))
    assert torch.allclose(fast, slow, atol=1e-6)
    (fast * torch.arange(7.0).view(7, 1, 1, 1, 1)).sum().backward()
    (slow * torch.arange(7.0).view(7, 1, 1, 1, 1)).sum().backward()
    assert torch.allclose(frame.grad, copied.grad, atol=1e-4)
    assert not any("Select" in name for name in _graph_node_names(fast.grad_fn))
    assert any("Select" in name for name in _graph_node_names(TimeDistributed(torch.nn.Identity())(
        frame.unsqueeze(0).expand(7, *frame.shape)).grad_fn))  # a bare expand still takes x[0]


def _graph_node_names(root) -> list[str]:
    names, stack, visited = [], [root], set()
    while stack:
        node = stack.pop()
        if node is None or node in visited:
            continue
        visited.add(node)
        names.append(type(node).__name__)
        stack.extend(parent for parent, _ in node.next_functions)
    return names
