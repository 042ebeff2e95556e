"""The leak-free protocol on the GAN path and in the search (README "nothing is selected on
test data", SPEC §3), checked from outside, in the style of ``tests/baselines/test_eszsl.py``:

* poisoning the test split (the features of every ``test_seen``/``test_unseen`` row) changes
  no selection of a training (validation figures, selected epochs, stacking constant, the
  select stages' rows) and nothing of a search (its history, alpha/beta, genotype);
* a spy on the dataset and on the scorers records the order of a training: every validation
  fold before the test task, the test task built once, and test data scored exactly once per
  selected epoch (ZSL once, the GZSL classifier once per distinct GZSL epoch);
* the search builds only the validation task, and every one of its steps draws its batch
  from its own half: architecture steps from ``val``, weight steps from ``tr`` (the
  authors' bug, an architecture step on the training batch, fails here).

Each test was seen to fail on a deliberately broken copy of the code; its docstring says
which.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

import zeronas.engine.train as train_module
import zeronas.evaluation.selection as selection_module
from tests.synth import make_arrays, write_xlsa17
from zeronas.config import Config
from zeronas.data import ZSLDataset, load_dataset
from zeronas.engine import SearchSpace, Session, search, search_iteration, split_halves, train_and_evaluate
from zeronas.nas.genotype import fixed_genotype

CPU = torch.device("cpu")
FOLDS = 2
# 10 classes (3 unseen; 7 seen, of which 0 and 1 validate in fold 0), 16-d features
ARRAYS = dict(n_classes=10, n_unseen=3, per_class=20, feat_dim=16, att_dim=6, seed=4, val_classes=(0, 1))


def tiny_config() -> Config:
    cfg = Config()
    for key, value in {
        "model.fix_hidden": 16,
        "train.epochs": 3,
        "train.batch_size": 32,
        "train.eval_every": 1,
        "eval.folds": FOLDS,
        "eval.syn_num_zsl": 20,
        "eval.syn_num_gzsl": 20,
        "eval.final_cls_epochs": 3,
        "eval.final_cls_batch": 32,
        "clswgan.pretrain_cls_epochs": 2,
        "search.epochs": 2,
        "search.batch_size": 16,
        "search.g_widths": (8, 8, 8, 8),
        "search.d_widths": (8, 8, 8, 8),
        "search.eval_every": 1,
        "search.select": "val",  # candidates retrained on the validation folds choose the genotype
    }.items():
        cfg.set(key, value, "test")
    return cfg


def poisoned(a: dict, rows: np.ndarray) -> dict:
    """The arrays with the features of ``rows`` shuffled among themselves, scaled and noised."""
    rng = np.random.default_rng(123)
    feats = a["features"].copy()
    feats[rows] = rng.permutation(feats[rows]) * 3.0 + rng.random(feats[rows].shape).astype(np.float32)
    return dict(a, features=feats)


@pytest.fixture(scope="module")
def arrays() -> dict:
    return make_arrays(**ARRAYS)


@pytest.fixture(scope="module")
def datasets(tmp_path_factory, arrays) -> dict[str, ZSLDataset]:
    """The dataset, the same with its test split poisoned, and with its fold-0 validation
    classes' (trainval) rows poisoned."""
    root = tmp_path_factory.mktemp("protocol")
    test_rows = np.concatenate([arrays["test_seen"], arrays["test_unseen"]])
    clean = load_dataset(write_xlsa17(root / "clean", arrays))
    val_rows = clean.validation_split()["test_unseen"]
    return {
        "clean": clean,
        "test_poisoned": load_dataset(write_xlsa17(root / "test_poisoned", poisoned(arrays, test_rows))),
        "val_poisoned": load_dataset(write_xlsa17(root / "val_poisoned", poisoned(arrays, val_rows))),
    }


def rows(path: Path) -> list[dict]:
    with path.open(newline="") as f:
        return [{k: v for k, v in r.items() if k != "seconds"} for r in csv.DictReader(f)]


# --------------------------------------------------------------------------- spies


class DatasetSpy:
    """The dataset, recording each task it builds in ``events``."""

    def __init__(self, ds: ZSLDataset, events: list[tuple]):
        self._ds, self._events = ds, events

    def __getattr__(self, name: str):
        return getattr(self._ds, name)

    def validation_task(self, fold: int = 0, folds: int = 1):
        self._events.append(("validation_task", fold, folds))
        return self._ds.validation_task(fold, folds)

    def test_task(self):
        self._events.append(("test_task",))
        return self._ds.test_task()


def spy_scorers(monkeypatch, events: list[tuple]) -> None:
    """Record every ZSL and GZSL scoring (the task's name, and in the final stage the epoch)."""
    epoch: dict[str, int | None] = {"final": None}
    real_zsl, real_gzsl, real_once = (
        selection_module.zsl_accuracy,
        selection_module.gzsl_scores,
        train_module.evaluate_test_once,
    )

    def zsl(fw, task, cfg):
        events.append(("zsl_accuracy", task.name, epoch["final"]))
        return real_zsl(fw, task, cfg)

    def gzsl(fw, task, cfg):
        events.append(("gzsl_scores", task.name, epoch["final"]))
        return real_gzsl(fw, task, cfg)

    def once(fw, task, cfg, selection, e, results):
        epoch["final"] = e
        return real_once(fw, task, cfg, selection, e, results)

    monkeypatch.setattr(selection_module, "zsl_accuracy", zsl)
    monkeypatch.setattr(selection_module, "gzsl_scores", gzsl)
    monkeypatch.setattr(train_module, "evaluate_test_once", once)


def is_test(name: str) -> bool:
    return name.endswith("/test")


# --------------------------------------------------------------------------- the GAN path


@pytest.fixture(scope="module")
def trained(tmp_path_factory, datasets) -> dict:
    """``train_and_evaluate`` (FIX) on the clean dataset, spied, and on the poisoned one."""
    out: dict = {}
    with pytest.MonkeyPatch.context() as mp:
        events: list[tuple] = []
        spy_scorers(mp, events)
        d = tmp_path_factory.mktemp("train_clean")
        m = train_and_evaluate(
            DatasetSpy(datasets["clean"], events), fixed_genotype(16), tiny_config(), 0, d, CPU, log=lambda s: None
        )
        out["clean"] = (m, rows(d / "history.csv"), events)
    d = tmp_path_factory.mktemp("train_poisoned")
    m = train_and_evaluate(datasets["test_poisoned"], fixed_genotype(16), tiny_config(), 0, d, CPU, log=lambda s: None)
    out["test_poisoned"] = (m, rows(d / "history.csv"), None)
    return out


def test_poisoned_test_split_changes_no_selection_of_a_training(trained):
    """Protects: the select stages train and score on validation folds only, and the epochs
    and the stacking constant are chosen from them alone. Fails when ``train_and_evaluate``
    selects on ``dataset.test_task()`` instead of ``dataset.validation_task(f, folds)``."""
    m0, hist0, _ = trained["clean"]
    m1, hist1, _ = trained["test_poisoned"]
    assert m1["validation"] == m0["validation"]
    assert m1["selected_epoch"] == m0["selected_epoch"]
    assert m1["calibrated"]["stacking_constant"] == m0["calibrated"]["stacking_constant"]
    select0 = [r for r in hist0 if r["stage"] != "final"]
    assert {r["stage"] for r in select0} == {f"select{f}" for f in range(FOLDS)}
    assert [r for r in hist1 if r["stage"] != "final"] == select0
    # the poison did reach the test figures
    test_figures = ("zsl_top1", "gzsl_seen", "gzsl_unseen", "gzsl_h")
    assert [m1[k] for k in test_figures] + [m1["calibrated"]["gzsl_h"]] != [m0[k] for k in test_figures] + [
        m0["calibrated"]["gzsl_h"]
    ]


def test_every_validation_fold_comes_before_the_test_task_which_is_built_once(trained):
    """Protects the order of the protocol: all folds trained and scored, then the test task.
    Fails when a select stage uses ``dataset.test_task()``, or when the final stage trains
    on a validation task (no test task at all)."""
    _, _, events = trained["clean"]
    tasks = [e for e in events if e[0] in ("validation_task", "test_task")]
    assert tasks == [("validation_task", f, FOLDS) for f in range(FOLDS)] + [("test_task",)]
    first_test = events.index(("test_task",))
    before = [e for e in events[:first_test] if e[0] in ("zsl_accuracy", "gzsl_scores")]
    assert before and not any(is_test(e[1]) for e in before)  # every epoch of every fold scored on validation
    assert {e[1] for e in before} == {f"clean/validation/fold{f}" for f in range(FOLDS)}
    assert not any(e[0] in ("zsl_accuracy", "gzsl_scores") and not is_test(e[1]) for e in events[first_test:])


def test_test_data_is_scored_once_per_selected_epoch(trained):
    """Protects "each test figure was computed once, at its selected epoch": ZSL scored once
    on the test task at the ZSL epoch, the GZSL classifier trained once per distinct GZSL
    epoch (plain and calibrated share one when their epochs agree). Fails when the final
    stage scores every epoch (``evaluate_test_once`` ignoring the selection)."""
    m, _, events = trained["clean"]
    sel = m["selected_epoch"]
    test_zsl = [e[2] for e in events if e[0] == "zsl_accuracy" and is_test(e[1])]
    test_gzsl = [e[2] for e in events if e[0] == "gzsl_scores" and is_test(e[1])]
    assert test_zsl == [sel["zsl"]]
    assert sorted(test_gzsl) == sorted({sel["gzsl"], sel["gzsl_calibrated"]})


def test_an_epoch_chosen_at_the_last_epoch_trained_is_warned(trained):
    """A metric whose validation figure peaked at the last epoch trained may still be rising:
    ``metrics.json["warnings"]`` names each such metric and no other."""
    m, _, _ = trained["clean"]
    last = [metric for metric, epoch in m["selected_epoch"].items() if epoch == 3]
    assert last, "this training chooses no epoch at its last; the test checks nothing"
    assert [w.split(":")[0] for w in m["warnings"]] == last
    assert all("epoch 3 is the largest value tried (1..3)" in w for w in m["warnings"])


def test_a_validation_alone_warns_the_same_way(tmp_path, datasets):
    """``validate_genotype`` (``zeronas train --validate-only``, a search's candidates) logs the
    same warnings from its own folds, with no test data read."""
    logged: list[str] = []
    selection = train_module.validate_genotype(
        datasets["test_poisoned"], fixed_genotype(16), tiny_config(), 0, tmp_path, CPU, log=logged.append
    )
    last = [metric for metric, choice in selection.items() if choice["epoch"] == 3]
    assert last, "this validation chooses no epoch at its last; the test checks nothing"
    assert [line.split(":")[1].strip() for line in logged if line.startswith("warning: ")] == last


# --------------------------------------------------------------------------- the search


def search_files(run_dir: Path) -> dict:
    return {
        "history": rows(run_dir / "search_history.csv"),
        "arch_history": json.loads((run_dir / "arch_history.json").read_text()),
        "genotype": json.loads((run_dir / "genotype.json").read_text()),
    }


@pytest.fixture(scope="module")
def searched(tmp_path_factory, datasets) -> dict:
    """A tiny search of each dataset (the clean one through the dataset spy)."""
    out: dict = {}
    for name, ds in datasets.items():
        d = tmp_path_factory.mktemp(f"search_{name}")
        events: list[tuple] = []
        search(DatasetSpy(ds, events), tiny_config(), 0, d, CPU, log=lambda s: None)
        out[name] = {**search_files(d), "events": events}
    return out


def test_the_search_builds_the_validation_task_only(searched):
    """Protects: the search never builds the test task, neither for its epochs (one
    validation split) nor for ``search.select = "val"`` (each candidate retrained on every
    validation fold). Fails when ``search_session`` or ``choose_by_validation`` uses
    ``dataset.test_task()``."""
    events = searched["clean"]["events"]
    candidates = len(searched["clean"]["genotype"]["search"]["candidates"])
    assert candidates >= 1
    assert events == [("validation_task", 0, 1)] + [("validation_task", f, FOLDS) for f in range(FOLDS)] * candidates


def test_poisoned_test_split_changes_nothing_of_a_search(searched):
    """Protects: no step and no score of the search reads a test sample (``search.select =
    "val"``, so the validation scores choose the genotype). Fails when ``search_session``
    uses ``dataset.test_task()`` (its ZSL scores are then on test images)."""
    assert searched["test_poisoned"]["history"] == searched["clean"]["history"]
    assert searched["test_poisoned"]["arch_history"] == searched["clean"]["arch_history"]
    assert searched["test_poisoned"]["genotype"] == searched["clean"]["genotype"]


def test_validation_class_samples_reach_the_search_scores_only(searched):
    """Protects: the search trains (weights and architecture) on the validation task's
    training classes only; its validation-class samples serve its ZSL scores alone. With
    those samples poisoned the scores change and alpha/beta do not."""
    clean, val = searched["clean"], searched["val_poisoned"]
    assert [r["val_zsl"] for r in val["history"]] != [r["val_zsl"] for r in clean["history"]]
    strip = [{k: v for k, v in r.items() if k != "val_zsl"} for r in clean["history"]]
    assert [{k: v for k, v in r.items() if k != "val_zsl"} for r in val["history"]] == strip
    assert val["arch_history"] == clean["arch_history"]


class PoolSpy:
    """Records, for each step of a session, the parameter set, the pool named, and whether
    the batch drawn lies in that pool's rows."""

    def __init__(self, monkeypatch, session: Session):
        self.calls: list[tuple[str, str]] = []
        self.batches: list[tuple[str, bool]] = []
        real_step, real_batch = Session.step, Session.batch
        spy = self

        def step(s: Session, key: str, loss, pool: str):
            spy.calls.append((key, pool))
            return real_step(s, key, loss, pool)

        def batch(s: Session, pool: str):
            x, c, y = real_batch(s, pool)
            pool_x = s.task.train_x[s.pools[pool]]
            inside = bool((x[:, None, :] == pool_x[None, :, :]).all(dim=2).any(dim=1).all())
            spy.batches.append((pool, inside))
            return x, c, y

        monkeypatch.setattr(Session, "step", step)
        monkeypatch.setattr(Session, "batch", batch)


@pytest.fixture
def searcher(synthetic_task) -> Session:
    cfg = tiny_config()
    torch.manual_seed(0)
    return Session(cfg, synthetic_task, CPU, SearchSpace(), cfg.search, pools=split_halves)


def test_each_search_step_draws_from_its_half(monkeypatch, searcher):
    """Protects Algorithm 1's data split through the public ``search_iteration``: n_d x
    (omega_d on D_val, theta_d on D_tr), then omega_g on D_val, theta_g on D_tr, each batch
    drawn from the rows of its half. Fails on the authors' bug (the generator's architecture
    step on the training batch: ``"tr"`` for ``a_g``) and on the same slip for ``a_d``."""
    s = searcher
    tr, val = set(s.pools["tr"].tolist()), set(s.pools["val"].tolist())
    assert tr and val and not tr & val
    spy = PoolSpy(monkeypatch, s)
    search_iteration(s)
    n_d = s.loop.critic_iters
    assert spy.calls == [("a_d", "val"), ("w_d", "tr")] * n_d + [("a_g", "val"), ("w_g", "tr")]
    assert [p for p, _ in spy.batches] == [p for _, p in spy.calls]
    assert all(inside for _, inside in spy.batches)


def test_warm_up_iterations_take_weight_steps_on_the_training_half_only(monkeypatch, searcher):
    spy = PoolSpy(monkeypatch, searcher)
    search_iteration(searcher, with_arch=False)
    assert spy.calls == [("w_d", "tr")] * searcher.loop.critic_iters + [("w_g", "tr")]
