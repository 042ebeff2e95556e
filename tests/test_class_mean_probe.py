"""scripts/class_mean_probe.py on the bundled data: one row per regressor, reads no test sample."""

from __future__ import annotations

import re
import runpy
import sys
from pathlib import Path

import torch

from zeronas.data import ZSLDataset

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "class_mean_probe.py"


def test_the_probe_prints_every_regressor_and_reads_only_validation_tasks(monkeypatch, capsys):
    def no_test(self):
        raise AssertionError("the probe read the test task")

    monkeypatch.setattr(ZSLDataset, "test_task", no_test)
    monkeypatch.setattr(sys, "argv", [str(SCRIPT), "--folds", "2"])
    torch.manual_seed(0)
    runpy.run_path(str(SCRIPT), run_name="__main__")
    out = capsys.readouterr().out
    rows = re.findall(r"^  (.+?)\s+(\d+\.\d) ±\s+(\d+\.\d)$", out, flags=re.M)
    names = [r[0].strip() for r in rows]
    assert names[0] == "real means (reference)" and any(n.startswith("ridge") for n in names)
    assert any(n.startswith("rbf") for n in names) and any(n.startswith("mlp") for n in names)
    assert all(0.0 <= float(r[1]) <= 100.0 for r in rows)
    # the held-out images' own means classify them far better than chance
    assert float(rows[0][1]) > 90.0
