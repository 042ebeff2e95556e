"""``train_and_evaluate`` crashed part-way resumes to the metrics of an uninterrupted run:
in the middle of a later validation fold (its finished folds' rows and stacking margins come
from the checkpoint) and in the final stage (the selection and the test figures already
computed come from the checkpoint). The crash is an exception raised right after an epoch's
checkpoint, as a ``kill -9`` there would leave it (the CLI's SIGKILL tests are in
``tests/test_runs.py``)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch

from tests.engine.test_protocol import ARRAYS, tiny_config
from tests.synth import make_arrays, write_xlsa17
from zeronas.data import load_dataset
from zeronas.engine import train_and_evaluate
from zeronas.errors import ZeroNASError
from zeronas.nas.genotype import fixed_genotype
from zeronas.runs import CHECKPOINT, load_checkpoint

CPU = torch.device("cpu")


class Crash(Exception):
    pass


def crash_at(stage: str, epoch: int):
    def hook(name: str, e: int, session) -> None:
        if (name, e) == (stage, epoch):
            raise Crash

    return hook


def crash(dataset, run_dir: Path, stage: str, epoch: int) -> None:
    """FIX trained with the tiny config into ``run_dir``, crashed after ``epoch`` of ``stage``."""
    with pytest.raises(Crash):
        train_and_evaluate(
            dataset,
            fixed_genotype(16),
            tiny_config(),
            0,
            run_dir,
            CPU,
            log=lambda s: None,
            on_epoch=crash_at(stage, epoch),
        )


def rows(path: Path) -> list[dict]:
    with path.open(newline="") as f:
        return [{k: v for k, v in r.items() if k != "seconds"} for r in csv.DictReader(f)]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return load_dataset(write_xlsa17(tmp_path_factory.mktemp("resume") / "d", make_arrays(**ARRAYS)))


@pytest.fixture(scope="module")
def reference(tmp_path_factory, dataset) -> Path:
    d = tmp_path_factory.mktemp("uninterrupted")
    train_and_evaluate(dataset, fixed_genotype(16), tiny_config(), 0, d, CPU, log=lambda s: None)
    return d


@pytest.mark.parametrize("stage, epoch", [("select1", 1), ("final", 1)])
def test_a_training_crashed_part_way_resumes_to_the_same_metrics(tmp_path, dataset, reference, stage, epoch):
    """Protects resume in a later fold (the earlier folds' rows and margins are restored, not
    retrained) and in the final stage (the selection and the test figures computed before
    the crash are restored; the test task is not scored again at those epochs)."""
    crash(dataset, tmp_path, stage, epoch)
    ckpt = load_checkpoint(tmp_path / CHECKPOINT)
    assert (ckpt["stage"], ckpt["epoch"]) == (stage, epoch)
    assert not (tmp_path / "metrics.json").exists()
    if stage == "final":  # the crash is inside the final stage, not at its end
        assert ckpt["selection"] is not None
        assert max(v["epoch"] for v in ckpt["selection"].values()) > epoch
    train_and_evaluate(dataset, fixed_genotype(16), tiny_config(), 0, tmp_path, CPU, resume=True, log=lambda s: None)
    assert (tmp_path / "metrics.json").read_text() == (reference / "metrics.json").read_text()
    assert rows(tmp_path / "history.csv") == rows(reference / "history.csv")


def test_a_training_resumed_with_fewer_epochs_than_it_ran_is_refused(tmp_path, dataset):
    """A configuration asking for fewer epochs than the checkpoint holds is refused in the
    engine, whoever calls it (the command line refuses earlier), before the
    checkpoint or the history is touched: otherwise the fold's rows past ``train.epochs`` would
    reach the epoch selection."""
    crash(dataset, tmp_path, "select0", 3)
    before = {p.name: p.read_bytes() for p in (tmp_path / CHECKPOINT, tmp_path / "history.csv")}
    fewer = tiny_config()
    fewer.set("train.epochs", 2, "test")
    with pytest.raises(
        ZeroNASError, match=r"stage 'select0' has already run 3 epochs of \d+ iterations; .* asks for 2$"
    ):
        train_and_evaluate(dataset, fixed_genotype(16), fewer, 0, tmp_path, CPU, resume=True, log=lambda s: None)
    assert {p: (tmp_path / p).read_bytes() for p in before} == before
    assert not (tmp_path / "metrics.json").exists()
