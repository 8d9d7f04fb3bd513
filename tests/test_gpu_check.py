"""``make gpu-check`` on a machine without CUDA: every CUDA step says it is
skipped and why, the summaries are written, and the command succeeds."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from conftest import REPO


@pytest.mark.skipif(torch.cuda.is_available(), reason="on a CUDA machine the check runs for real (make gpu-check)")
def test_the_gpu_check_skips_its_cuda_steps_with_a_reason_and_writes_its_summaries(tmp_path):
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "gpu_check.py"), "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["cuda"] is False
    assert [step["name"] for step in summary["steps"]] == ["gpu-tests", "neurons", "harness-overhead", "eval-overhead", "encoders"]
    assert all(step["status"] == "skipped" and "CUDA" in step["detail"] for step in summary["steps"])
    assert "| encoders | skipped |" in (tmp_path / "summary.md").read_text()
