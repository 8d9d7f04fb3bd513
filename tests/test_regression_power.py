"""What the gate can catch (docs/regression-power.md): the test-only
slowdown hook (``SNNBENCH_INJECT_SLOWDOWN``) and the smallest slowdown a
timing verdict says its rounds could have caught."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import suite_toml

from snnbench.cli import main
from snnbench.comparison.compare import (
    Comparison,
    detection_summary,
    judge_timing,
    render,
)
from snnbench.results.detection import detectable_slowdown
from snnbench.results.store import ResultStore

TINY = suite_toml("power", extra="""
    [params.encoder.rate]
    timesteps = 8

    [params.architecture.mlp]
    hidden = [32]

    [training]
    epochs = 1
    batch_size = 64
    """)

def suite_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "power.toml"
    path.write_text(text)
    return path


def run_tiny(tmp_path: Path, db: Path) -> int:
    return main(["run", str(suite_file(tmp_path, TINY)), "--db", str(db), "--no-progress"])


def test_the_injected_slowdown_changes_no_result_and_marks_its_rows(monkeypatch, tmp_path):
    assert run_tiny(tmp_path, tmp_path / "plain.db") == 0
    monkeypatch.setenv("SNNBENCH_INJECT_SLOWDOWN", "0.5")
    assert run_tiny(tmp_path, tmp_path / "slowed.db") == 0
    rows = {}
    for name in ("plain", "slowed"):
        with ResultStore(tmp_path / f"{name}.db", create=False) as store:
            (rows[name],) = store.rows()
    assert rows["slowed"]["environment"]["injected_slowdown"] == 0.5
    assert "injected_slowdown" not in rows["plain"]["environment"]
    for key in ("accuracy", "sparsity", "final_train_loss"):  # a sleep changes no number the model computes
        assert rows["slowed"]["metrics"][key] == rows["plain"]["metrics"][key]


@pytest.mark.parametrize("value", ["fast", "1.0", "-0.1"])
def test_a_bad_injected_slowdown_is_refused_before_anything_trains(monkeypatch, capsys, tmp_path, value):
    monkeypatch.setenv("SNNBENCH_INJECT_SLOWDOWN", value)
    assert run_tiny(tmp_path, tmp_path / "x.db") == 2
    err = capsys.readouterr().err
    assert f"SNNBENCH_INJECT_SLOWDOWN={value!r}: give the share of throughput to take away" in err
    assert "Traceback" not in err
    with ResultStore(tmp_path / "x.db", create=False) as store:
        assert store.rows() == []


def test_the_detectable_slowdown_grows_with_the_noise_of_the_rounds():
    quiet = detectable_slowdown([100.0, 100.0, 100.0], [99.0, 99.0, 99.0], 0.99, 0.99, 0.10)
    assert quiet == pytest.approx(0.10)  # no noise: the tolerance alone
    noisy = detectable_slowdown([100.0, 120.0, 90.0], [99.0, 101.0, 110.0], 1.0, 1.15, 0.10)
    logs = np.log([99 / 100, 101 / 120, 110 / 90])  # head / base, pair by pair
    se = np.std(logs, ddof=1) / np.sqrt(3)
    assert noisy == pytest.approx(1 - 0.9 * np.exp(-(np.log(1.15) + 1.2815516 * se)))  # 0.3185
    assert quiet < noisy < 0.5
    assert detectable_slowdown([100.0], [90.0], 0.9, 0.9, 0.10) is None  # one pair: no spread


def test_compare_prints_what_its_rounds_could_have_caught():
    base = [100.0, 104.0, 98.0, 101.0, 103.0, 99.0]
    head = [x * 0.8 for x in (101.0, 99.0, 102.0, 97.0, 100.0, 104.0)]
    finding = judge_timing("cell", "train_samples_per_s", base, head, {"rel": 0.10})
    assert finding.regressed and 0.10 < finding.detectable < 0.30
    comparison = Comparison(base={"ref": "a", "commit": "a", "version": "a"},
                            head={"ref": "b", "commit": "b", "version": "b"}, workload="w",
                            machine={"cpu": "cpu", "isa": "AVX2", "threads": 2}, repeats=6, alpha=0.05,
                            timing=[finding])
    assert "could catch" in render(comparison)
    assert f"{finding.detectable:.0%}" in render(comparison).splitlines()[-1]
    assert detection_summary(comparison) == (
        f"given the noise of these rounds, they would catch (9 times in 10) train_samples_per_s slowdowns of "
        f"{finding.detectable:.0%} or more (docs/regression-power.md)")
    two_rounds = judge_timing("cell", "train_samples_per_s", base[:2], head[:2], {"rel": 0.10})
    comparison.timing = [two_rounds]
    assert "not estimable (fewer than two pairs of rounds" in detection_summary(comparison)
