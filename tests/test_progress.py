"""What a run prints while a cell trains when its output is a log, not a
terminal (snnbench.running.progress): a line for each long epoch, so a
reproduction left running in the background shows signs of life."""

from __future__ import annotations

import re

import pytest
from conftest import suite_toml
from test_cli import cli

from snnbench.running import progress
from snnbench.running.progress import duration

SUITE = suite_toml("epochs-logged", extra="""
    [params.encoder.rate]
    timesteps = 4
    [training]
    epochs = 2
    batch_size = 32
    train_limit = 200
    """)
EPOCH_LINE = re.compile(r"^digits/rate/snntorch-lif/mlp/bptt epoch (\d)/2: loss (\d+\.\d{4}), "
                        r"train accuracy (\d+\.\d\d)% \((\d+ s)(; about \d+ s left)?\)$", re.MULTILINE)


@pytest.mark.parametrize("logged_from, lines", [(0.0, 2), (3600.0, 0)])
def test_a_log_gets_a_line_for_each_long_epoch(tmp_path, capsys, monkeypatch, logged_from, lines):
    """capsys is no terminal, so the bars are off as in a log; the threshold is
    lowered to 0 s for this tiny cell to count as long."""
    monkeypatch.setattr(progress, "LOGGED_EPOCH_SECONDS", logged_from)
    (tmp_path / "s.toml").write_text(SUITE)
    code, out, _ = cli(capsys, "run", tmp_path / "s.toml", "--db", tmp_path / "r.db")
    assert code == 0
    epochs = EPOCH_LINE.findall(out)
    assert [int(epoch) for epoch, *_ in epochs] == [1, 2][:lines]
    for _, loss, accuracy, _, _ in epochs:
        assert float(loss) > 0 and 0 < float(accuracy) <= 100
    assert [bool(left) for *_, left in epochs] == [True, False][:lines]  # the last epoch has none left


def test_no_progress_asks_for_cell_lines_only(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(progress, "LOGGED_EPOCH_SECONDS", 0.0)
    (tmp_path / "s.toml").write_text(SUITE)
    code, out, _ = cli(capsys, "run", tmp_path / "s.toml", "--db", tmp_path / "r.db", "--no-progress")
    assert code == 0 and not EPOCH_LINE.findall(out) and "epochs-logged" in out


@pytest.mark.parametrize("seconds, text", [(0.4, "0 s"), (42.3, "42 s"), (59.6, "1 min 00 s"),
                                           (1872, "31 min 12 s"), (18180, "5 h 03 min")])
def test_durations_read_as_a_person_writes_them(seconds, text):
    assert duration(seconds) == text


def test_time_left_is_estimated_from_the_stage_in_progress(capsys):
    """A staged rule's epochs differ by stage (a layer's STDP epoch against a
    readout epoch): the estimate must not mix them."""
    cell = progress.CellProgress("cell", samples_per_epoch=10, enabled=None)
    cell.start_epoch(0, 1, stage="layer 1 STDP")
    cell.end_epoch(None, 0.5, seconds=3000.0)
    for epoch, seconds in enumerate([100.0, 140.0]):
        cell.start_epoch(epoch, 4, stage="layer 2 R-STDP")
        cell.end_epoch(None, 0.5, seconds=seconds)
    cell.close()
    lines = capsys.readouterr().out.splitlines()
    assert lines[1] == "cell layer 2 R-STDP epoch 1/4: train accuracy 50.00% (1 min 40 s; about 5 min 00 s left in this stage)"
    assert lines[2] == "cell layer 2 R-STDP epoch 2/4: train accuracy 50.00% (2 min 20 s; about 4 min 00 s left in this stage)"
