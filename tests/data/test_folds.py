"""Class-disjoint validation folds of the seen classes (SPEC §3): disjoint, seeded, from
trainval only, fold 0 the file's own validation classes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.synth import make_arrays, write_xlsa17
from zeronas.data import load_dataset


@pytest.fixture(scope="module")
def ds12(tmp_path_factory):
    a = make_arrays(n_classes=12, n_unseen=3, per_class=10, val_classes=(0, 1))
    return load_dataset(write_xlsa17(tmp_path_factory.mktemp("d") / "d12", a)), a


def test_folds_are_class_disjoint_and_fold0_is_the_files(ds12):
    ds, a = ds12
    folds = ds.fold_classes(3)
    assert folds[0].tolist() == [0, 1]  # the classes of val_loc
    assert all(f.size == 2 for f in folds)
    flat = np.concatenate(folds)
    assert np.unique(flat).size == flat.size  # disjoint
    assert set(flat) <= set(ds.seen_classes.tolist())
    assert ds.fold_classes(3)[1].tolist() == folds[1].tolist()  # seeded


@pytest.mark.parametrize("fold", [0, 1, 2])
def test_fold_tasks_use_trainval_only_and_hold_out_their_classes(ds12, fold):
    ds, a = ds12
    split = ds.validation_split(fold, 3)
    test = set(a["test_seen"]) | set(a["test_unseen"])
    every = np.concatenate(list(split.values()))
    assert not set(every.tolist()) & test  # no test sample, ever
    assert set(every.tolist()) <= set(a["trainval"].tolist())
    fold_classes = set(ds.fold_classes(3)[fold].tolist())
    labels = a["labels"]
    assert set(labels[split["test_unseen"]].tolist()) == fold_classes
    assert not set(labels[split["train"]].tolist()) & fold_classes
    assert not set(labels[split["test_seen"]].tolist()) & fold_classes


def test_fold0_task_is_the_single_validation_task(ds12):
    ds, _ = ds12
    one, first = ds.validation_task(), ds.validation_task(0, 3)
    assert torch.equal(one.train_x, first.train_x) and torch.equal(one.test_unseen_y, first.test_unseen_y)


def test_too_many_folds_is_a_clear_error(ds12):
    ds, _ = ds12
    from zeronas.errors import DataError

    with pytest.raises(DataError, match="too few for"):
        ds.fold_classes(20)
