"""``train.fold_epoch``: how many iterations a validation fold's epoch has.

A fold trains on fewer rows than the final training (its held-out classes and each training
class's test-seen share are missing), so with ``own`` epochs the epoch selected on the folds
stands for fewer steps than the same epoch of the final training. With ``final`` every fold's
epoch has the final training's iterations, counted from the seen training rows alone.
"""

from __future__ import annotations

from collections import Counter

import torch

from tests.engine.test_protocol import ARRAYS, FOLDS, DatasetSpy, tiny_config
from tests.synth import make_arrays, write_xlsa17
from zeronas.config import keyed
from zeronas.data import load_dataset
from zeronas.engine import Session, train_and_evaluate
from zeronas.engine.train import epoch_iterations
from zeronas.nas.genotype import fixed_genotype

CPU = torch.device("cpu")


def test_final_fold_epochs_have_the_final_trainings_iterations(tmp_path, monkeypatch):
    """Counts the generator steps of each stage. Fails when a fold's session ignores
    ``train.fold_epoch`` (its own rows set the epoch), or when the rows it uses are read from
    the test task (which must be built after every fold)."""
    ds = load_dataset(write_xlsa17(tmp_path / "data", make_arrays(**ARRAYS)))
    cfg = tiny_config()
    cfg.set("train.fold_epoch", "final", "test")
    batch = cfg.train.batch_size
    final_iters = ds.raw.splits["trainval"].size // batch
    own = [ds.validation_split(f, FOLDS)["train"].size // batch for f in range(FOLDS)]
    assert all(n < final_iters for n in own)  # so that the two settings differ here

    g_steps: Counter[str] = Counter()
    real_step = Session.step

    def counting_step(self, key, loss, pool):
        if key == "w_g":
            g_steps[self.task.name] += 1
        return real_step(self, key, loss, pool)

    monkeypatch.setattr(Session, "step", counting_step)
    events: list[tuple] = []
    spy = DatasetSpy(ds, events)
    m = train_and_evaluate(spy, fixed_genotype(16), cfg, 0, tmp_path / "run", CPU, log=lambda s: None)

    assert m["iterations_per_epoch"] == {"folds": [final_iters] * FOLDS, "final": final_iters, "fold_epoch": "final"}
    name = ds.name
    for f in range(FOLDS):
        assert g_steps[f"{name}/validation/fold{f}"] == cfg.train.epochs * final_iters
    assert g_steps[f"{name}/test"] == max(m["selected_epoch"].values()) * final_iters
    tasks = [e for e in events if e[0] in ("validation_task", "test_task")]
    assert tasks[-1] == ("test_task",) and tasks.count(("test_task",)) == 1

    cfg.set("train.fold_epoch", "own", "test")
    assert epoch_iterations(ds, cfg)["folds"] == own


def test_the_default_stays_out_of_grid_keys():
    """Cells run before the setting existed keep their keys; ``final`` gets cells of its own."""
    assert not keyed("train.fold_epoch", "own")
    assert keyed("train.fold_epoch", "final")
