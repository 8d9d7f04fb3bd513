"""The README stays short and true: its plugin is real code that registers
and encodes, its leaderboard table is what the committed result file
renders to, and its links lead to files that exist."""

from __future__ import annotations

import re

import torch
from conftest import REPO
from doc_blocks import blocks

from snnbench.definition.plugins import load_plugins
from snnbench.results.leaderboard import aggregate, render
from snnbench.results.result_file import read_result_file

README = REPO / "README.md"
#: what the README's table shows of leaderboard/encoders-cpu.json (as the docs' getting-started page)
TABLE_METRICS = ["accuracy", "sparsity", "encoder_density", "synops_ac", "synops_mac", "train_samples_per_s"]


def test_the_readme_is_a_page_a_newcomer_reads():
    lines = README.read_text().splitlines()
    assert len(lines) <= 210, f"README.md has {len(lines)} lines: move detail into docs/"
    assert lines[0] == "# snnbench"


def test_readme_plugin_example_registers_and_encodes(tmp_path, monkeypatch):
    example, = [b for b in blocks(README) if b.language == "python" and b.mark == "tested"]
    imports = set(re.findall(r"^(?:from|import) (snnbench[\w.]*)", example.body, re.M))
    assert imports == {"snnbench.api"}, f"the README's plugin imports {imports}; a plugin imports only snnbench.api"
    (tmp_path / "readme_burst_plugin.py").write_text(example.body)
    monkeypatch.syspath_prepend(str(tmp_path))
    plugins = load_plugins(["readme_burst_plugin"])
    assert not plugins.failures
    spec = plugins.registries["encoder"].get("burst").spec
    encoder = spec.build(spec.params(timesteps=4), None)
    spikes = encoder(torch.tensor([[0.0, 0.5, 1.0]]))
    assert spikes.shape == (4, 1, 3)
    assert spikes.sum(0).tolist() == [[0, 2, 4]]


def test_the_readme_table_is_the_committed_result_file_rendered():
    _, results = read_result_file(REPO / "leaderboard" / "encoders-cpu.json")
    expected = render(aggregate(results.ok, ["encoder"]), ["encoder"], fmt="md", metrics=TABLE_METRICS)
    assert expected in README.read_text(), (
        "README.md's leaderboard table differs from leaderboard/encoders-cpu.json rendered; paste this:\n\n"
        + expected)


def test_readme_links_lead_to_files_that_exist():
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", README.read_text())
    local = [t for t in targets if not re.match(r"\w+://", t)]
    assert local
    missing = [t for t in local if not (REPO / t).exists()]
    assert not missing, f"README.md links to missing files: {missing}"
