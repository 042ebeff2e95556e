"""A full or read-only disk: the previous file stays intact and the error is one line (exit 74)."""

from __future__ import annotations

import errno
import json
import os
import sys
import tempfile
from pathlib import Path

import pytest
import torch

import zeronas.cli
import zeronas.runs
from zeronas.errors import WRITE_ERROR_STATUS, WriteError
from zeronas.runs import CHECKPOINT, atomic_write_text, load_checkpoint, save_checkpoint, write_json

ENOSPC = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


class FullDisk:
    """A file that accepts ``room`` bytes, then fails as a full disk does."""

    def __init__(self, f, room: int):
        self.f, self.room = f, room

    def write(self, data) -> int:
        if len(data) > self.room:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.room -= len(data)
        return self.f.write(data)

    def __getattr__(self, name):
        return getattr(self.f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.f.close()


def full_disk(monkeypatch, room: int = 0, when=lambda path: True) -> None:
    """Make the writer of zeronas.runs fail after ``room`` bytes, for the temp files ``when`` accepts."""
    real = os.fdopen

    def fdopen(fd, mode="r", *args, **kwargs):
        f = real(fd, mode, *args, **kwargs)
        return FullDisk(f, room) if when(os.readlink(f"/proc/self/fd/{fd}")) else f

    monkeypatch.setattr(zeronas.runs, "_fdopen", fdopen)


def _no_temp_files(folder: Path) -> bool:
    return not [p for p in folder.iterdir() if p.name.endswith(".tmp")]


def test_a_full_disk_keeps_the_previous_metrics(tmp_path, monkeypatch):
    path = tmp_path / "metrics.json"
    write_json(path, {"zsl_top1": 0.5})
    before = path.read_text()
    full_disk(monkeypatch)
    with pytest.raises(WriteError) as err:
        write_json(path, {"zsl_top1": 0.75})
    assert str(err.value) == f"{path}: cannot write (No space left on device); the previous file is kept"
    assert path.read_text() == before and _no_temp_files(tmp_path)


def test_a_full_disk_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    """torch.save wraps the failed write in a RuntimeError: still one line, the old checkpoint intact."""
    save_checkpoint(tmp_path, {"kind": "train", "stage": "select", "epoch": 1, "w": torch.zeros(10)})
    full_disk(monkeypatch, room=1000)  # fails part-way through the new checkpoint
    with pytest.raises(WriteError, match="No space left on device"):
        save_checkpoint(tmp_path, {"kind": "train", "stage": "select", "epoch": 2, "w": torch.ones(100_000)})
    assert load_checkpoint(tmp_path / CHECKPOINT)["epoch"] == 1
    assert _no_temp_files(tmp_path)


def test_a_read_only_disk_is_one_line(tmp_path, monkeypatch):
    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    with pytest.raises(WriteError) as err:
        atomic_write_text(tmp_path / "new.json", "{}")
    assert str(err.value) == f"{tmp_path / 'new.json'}: cannot write (Read-only file system); nothing was written"


def test_a_failed_checkpoint_stops_the_run_with_one_line_and_it_resumes(tmp_path, monkeypatch, capsys):
    run = tmp_path / "run"
    tiny = ["--set", "model.fix_hidden=32", "--set", "eval.syn_num_zsl=20", "--set", "eval.syn_num_gzsl=20"]
    tiny += ["--set", "eval.final_cls_epochs=2", "--set", "clswgan.pretrain_cls_epochs=2", "--set", "eval.folds=1"]
    writes = []

    def second_checkpoint(path: str) -> bool:
        if Path(path).name.startswith(f".{CHECKPOINT}."):
            writes.append(path)
            return len(writes) == 2
        return False

    full_disk(monkeypatch, when=second_checkpoint)
    monkeypatch.setattr(sys, "argv", ["zeronas", "train", "--out", str(run), "--epochs", "3", *tiny])
    with pytest.raises(SystemExit) as exit_:
        zeronas.cli.main()
    err = capsys.readouterr().err  # the epoch lines, then the error
    assert exit_.value.code == WRITE_ERROR_STATUS and "Traceback" not in err
    assert err.splitlines()[-1] + "\n" == (
        f"zeronas: error: {run / CHECKPOINT}: cannot write (No space left on device); the previous file is kept; "
        f"free space, then continue with: zeronas train --resume {run}\n"
    )
    assert load_checkpoint(run / CHECKPOINT)["epoch"] == 1 and _no_temp_files(run)

    monkeypatch.setattr(zeronas.runs, "_fdopen", os.fdopen)
    monkeypatch.setattr(sys, "argv", ["zeronas", "train", "--resume", str(run)])
    zeronas.cli.main()  # returns: finished
    assert json.loads((run / "metrics.json").read_text())["zsl_top1"] >= 0
