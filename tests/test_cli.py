"""``zeronas data check`` on good datasets: summary lines and exit status 0."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import zeronas.cli
from tests.synth import make_arrays, write_npz, write_xlsa17

# make_arrays(): 8 classes x 20 samples, classes 5-7 unseen, 4 of every seen class's 20
# samples in test-seen, validation classes 0 and 1 (val_loc). Validation task: train
# classes 2, 3, 4 keep 13 of their 16 trainval samples, hold out 3; classes 0, 1 give 32.
SUMMARY = [
    "  features: 16-d, class vectors: 6-d",
    "  classes: 8 = 5 seen + 3 unseen; 2 of the seen are validation classes (classes of val_loc)",
    "  samples: trainval 80, test-seen 20, test-unseen 60",
    "  validation task: train 39, seen 9, unseen 32 (all from trainval)",
]


def _check_in_process(path, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["zeronas", "data", "check", str(path)])
    try:
        zeronas.cli.main()
    except SystemExit as exc:  # click may exit 0 explicitly
        assert exc.code in (0, None), capsys.readouterr().err
    return capsys.readouterr()


def test_data_check_xlsa17_subprocess(tmp_path):
    folder = write_xlsa17(tmp_path / "toy")
    proc = subprocess.run(
        [sys.executable, "-m", "zeronas.cli", "data", "check", str(folder)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stdout.splitlines() == [f"{folder}: OK", *SUMMARY]


@pytest.mark.parametrize("hdf5", [False, True])
def test_data_check_xlsa17(tmp_path, monkeypatch, capsys, hdf5):
    folder = write_xlsa17(tmp_path / "toy", hdf5=hdf5)
    out = _check_in_process(folder, monkeypatch, capsys)
    assert out.out.splitlines() == [f"{folder}: OK", *SUMMARY]
    assert out.err == ""


def test_data_check_npz(tmp_path, monkeypatch, capsys):
    path = write_npz(tmp_path / "toy.npz", val_classes=np.array([0, 1]))
    out = _check_in_process(path, monkeypatch, capsys)
    lines = out.out.splitlines()
    assert lines[0] == f"{path}: OK"
    assert lines[1:] == [SUMMARY[0], SUMMARY[1].replace("classes of val_loc", "val_classes"), *SUMMARY[2:]]


def test_data_check_derived_validation_classes(tmp_path, monkeypatch, capsys):
    folder = write_xlsa17(tmp_path / "toy", make_arrays(val_classes=()))
    out = _check_in_process(folder, monkeypatch, capsys)
    lines = out.out.splitlines()
    assert lines[0] == f"{folder}: OK"
    # round(5 * 3 / 8) = 2 validation classes, drawn with split seed 0
    assert lines[2] == "  classes: 8 = 5 seen + 3 unseen; 2 of the seen are validation classes (derived (split_seed=0))"
    assert lines[3] == SUMMARY[2]
    assert lines[4].startswith("  validation task: train ") and lines[4].endswith("(all from trainval)")
