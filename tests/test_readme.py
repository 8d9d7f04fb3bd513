"""The README's plugin example is real code: it registers and encodes."""

from __future__ import annotations

import re

import torch
from conftest import REPO

from snnbench.definition.plugins import load_plugins


def test_readme_plugin_example_registers_and_encodes(tmp_path, monkeypatch):
    readme = (REPO / "README.md").read_text()
    example = re.search(r"A complete encoder:\n\n```python\n(.*?)```", readme, re.S).group(1)
    (tmp_path / "readme_burst_plugin.py").write_text(example)
    monkeypatch.syspath_prepend(str(tmp_path))
    plugins = load_plugins(["readme_burst_plugin"])
    assert not plugins.failures
    spec = plugins.registries["encoder"].get("burst").spec
    encoder = spec.build(spec.params(timesteps=4), None)
    spikes = encoder(torch.tensor([[0.0, 0.5, 1.0]]))
    assert spikes.shape == (4, 1, 3)
    assert spikes.sum(0).tolist() == [[0, 2, 4]]
