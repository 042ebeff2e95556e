"""The probe scripts on the bundled data: what they print, and that they read no test sample unless asked."""

from __future__ import annotations

import re
import runpy
import sys
from pathlib import Path

import pytest
import torch

from zeronas.api import load_config, load_dataset
from zeronas.data import ZSLDataset
from zeronas.nas import ops

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "class_mean_probe.py"


@pytest.fixture(autouse=True)
def _own_op_registry(monkeypatch):
    """generator_mean_probe.py registers an operation; keep it out of the other tests."""
    monkeypatch.setattr(ops, "_BUILDERS", dict(ops._BUILDERS))


def test_the_probe_prints_every_regressor_and_reads_only_validation_tasks(monkeypatch, capsys):
    def no_test(self):
        raise AssertionError("the probe read the test task")

    monkeypatch.setattr(ZSLDataset, "test_task", no_test)
    monkeypatch.setattr(sys, "argv", [str(SCRIPT), "--folds", "2", "--mlp-steps", "100"])
    torch.manual_seed(0)
    runpy.run_path(str(SCRIPT), run_name="__main__")
    out = capsys.readouterr().out
    rows = re.findall(r"^  (.+?)\s+(\d+\.\d) ±\s+(\d+\.\d)$", out, flags=re.M)
    names = [r[0].strip() for r in rows]
    assert names[0] == "real means (reference)" and any(n.startswith("ridge") for n in names)
    assert any(n.startswith("rbf") for n in names) and any(n.startswith("mlp") for n in names)
    assert any(n.startswith("torch mlp") for n in names)
    assert all(0.0 <= float(r[1]) <= 100.0 for r in rows)
    # the held-out images' own means classify them far better than chance
    assert float(rows[0][1]) > 90.0


GENERATOR_PROBE = SCRIPT.parent / "generator_mean_probe.py"


def test_the_generator_probe_prints_ridge_and_each_epoch_and_reads_only_validation_tasks(monkeypatch, capsys):
    def no_test(self):
        raise AssertionError("the probe read the test task")

    monkeypatch.setattr(ZSLDataset, "test_task", no_test)
    # the defaults (fold 0, ridge 1), and another fold with another ridge lambda
    for extra, fold, ridge in (([], 0, "1"), (["--regress", "--fold", "2", "--ridge", "0.1"], 2, "0.1")):
        argv = [str(GENERATOR_PROBE), "--epochs", "2", "--every", "1", "--set", "model.fix_hidden=64", *extra]
        monkeypatch.setattr(sys, "argv", argv)
        runpy.run_path(str(GENERATOR_PROBE), run_name="__main__")
        out = capsys.readouterr().out
        assert f"validation fold {fold}:" in out
        rows = re.findall(
            r"^\s+(ridge \([\d.]+\)|epoch \d+)\s+(\d+\.\d+)\s+(\d+\.\d+)\s+(\d+\.\d)\s+(\d+\.\d+)$", out, flags=re.M
        )
        assert [r[0] for r in rows] == [f"ridge ({ridge})", "epoch 1", "epoch 2"]
        assert all(0.0 <= float(r[3]) <= 100.0 and float(r[1]) >= 0.0 for r in rows)
        if extra:  # a regressor's samples hug the class means: far less spread than real images
            real = float(re.search(r"std \(real (\d+\.\d+)\)", out).group(1))
            assert float(rows[-1][4]) < real


def test_the_generator_probe_anchors_g_at_the_ridge_means(monkeypatch, capsys):
    """With ``--anchor`` the fixed ridge path places the means from the first step: G's
    error stays at ridge's, where the same G without it starts far off."""
    arch = "G 3:64<fc_lrelu~2> out<fc~3> | D 3:64<fc_lrelu~2> out<linear~3>"
    errors = {}
    for extra in ([], ["--anchor"]):
        argv = [str(GENERATOR_PROBE), "--epochs", "1", "--regress", "--arch", arch, *extra]
        monkeypatch.setattr(sys, "argv", argv)
        torch.manual_seed(0)
        runpy.run_path(str(GENERATOR_PROBE), run_name="__main__")
        out = capsys.readouterr().out
        rows = dict(re.findall(r"^\s+(ridge \(1\)|epoch 1)\s+\d+\.\d+\s+(\d+\.\d+)", out, flags=re.M))
        errors[bool(extra)] = float(rows["epoch 1"]) / float(rows["ridge (1)"])
    assert errors[True] < 1.2 < 10 < errors[False]


GZSL_BY_EPOCH = SCRIPT.parent / "gzsl_by_epoch.py"


def test_gzsl_by_epoch_prints_each_epoch_and_reads_the_test_task_only_when_asked(monkeypatch, capsys):
    def no_test(self):
        raise AssertionError("a fold run read the test task")

    monkeypatch.setattr(ZSLDataset, "test_task", no_test)
    base = [str(GZSL_BY_EPOCH), "--epochs", "2", "--set", "model.fix_hidden=64", "--task", "fold1"]
    for extra, seen in (([], 5), (["--keep-seen", "3"], 3)):
        monkeypatch.setattr(sys, "argv", [*base, *extra])
        runpy.run_path(str(GZSL_BY_EPOCH), run_name="__main__")
        out = capsys.readouterr().out
        assert out.startswith(f"fold1: {seen} seen classes, ")
        rows = re.findall(r"^epoch (\d+): S (\d+\.\d) U (\d+\.\d) H (\d+\.\d) \| seen->unseen (\d\.\d\d)", out, re.M)
        assert [r[0] for r in rows] == ["1", "2"]
        assert all(0.0 <= float(v) <= 100.0 for r in rows for v in r[1:4])
    # train.fold_epoch=final: the fold's epoch has the final training's iterations
    ds = load_dataset()
    final = ds.raw.splits["trainval"].size // load_config(dataset=ds).train.batch_size
    monkeypatch.setattr(sys, "argv", [*base, "--epochs", "1", "--set", "train.fold_epoch=final"])
    runpy.run_path(str(GZSL_BY_EPOCH), run_name="__main__")
    assert capsys.readouterr().out.startswith(f"fold1: 5 seen classes, {final} iterations per epoch")
    monkeypatch.setattr(sys, "argv", [*base[:-1], "validation"])
    with pytest.raises(SystemExit):
        runpy.run_path(str(GZSL_BY_EPOCH), run_name="__main__")
