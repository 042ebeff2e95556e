"""A framework's extra GZSL decision rule (``Framework.gzsl_rules``/``gzsl_rule``): scored
like plain GZSL, its epoch chosen on the validation folds, the test task scored once at that
epoch, and nothing of it chosen on test data (a poisoned test split changes no selection)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

import zeronas.evaluation.selection as selection_module
from tests.engine.test_protocol import ARRAYS, CPU, FOLDS, DatasetSpy, poisoned, tiny_config
from tests.synth import make_arrays, write_xlsa17
from zeronas.data import load_dataset
from zeronas.engine import train_and_evaluate
from zeronas.evaluation import evaluate_test_once, select_epochs
from zeronas.evaluation.calibration import StackedTask
from zeronas.evaluation.zsl import rule_scores
from zeronas.frameworks import CLSWGAN, REGISTRY, register_framework
from zeronas.nas.genotype import fixed_genotype

NEAREST = "nearest class mean: real seen means, synthetic unseen means"


class NearestMean(CLSWGAN):
    """f-CLSWGAN with one extra rule: each image goes to the nearest class mean (real means
    of the seen classes, synthetic means of the unseen ones): training side and G only."""

    name = "toy_nearest"
    title = "toy"
    gzsl_rules = {"nearest": NEAREST}
    calls: list[str] = []  # the task of each rule call

    def gzsl_rule(self, key, task, cfg):
        NearestMean.calls.append(task.name)
        x, y = self.synthesize(task.class_vectors, task.unseen_classes, 10)
        x, y = torch.cat([task.train_x, x]), torch.cat([task.train_y, y])
        classes = torch.unique(y)
        means = torch.stack([x[y == c].mean(0) for c in classes])
        return tuple(classes[torch.cdist(t, means).argmin(1)] for t in (task.test_seen_x, task.test_unseen_x))


# --------------------------------------------------------------------------- scoring and selection
def test_rule_scores_are_per_class_accuracies_and_their_harmonic_mean():
    # seen classes 0, 1; unseen 2. Seen images: class 0 2/2 right, class 1 1/2 -> S = 3/4;
    # unseen images: 1/4 right -> U = 1/4; H = 2 * 3/16 / 1 = 3/8
    task = SimpleNamespace(
        test_seen_y=torch.tensor([0, 0, 1, 1]),
        test_unseen_y=torch.tensor([2, 2, 2, 2]),
        seen_classes=torch.tensor([0, 1]),
        unseen_classes=torch.tensor([2]),
    )
    preds = (torch.tensor([0, 0, 1, 2]), torch.tensor([2, 0, 1, 1]))
    fw = SimpleNamespace(gzsl_rule=lambda key, t, cfg: preds)
    assert rule_scores(fw, "r", task, None) == pytest.approx({"seen": 0.75, "unseen": 0.25, "h": 0.375})


def _row(epoch: int, h: float, rule_h: float) -> dict:
    return {
        "stage": "select",
        "epoch": epoch,
        **dict(val_zsl=0.5, val_seen=0.5, val_unseen=0.5, val_h=h),
        **dict(val_rule_od_seen=0.9, val_rule_od_unseen=0.1, val_rule_od_h=rule_h),
    }


def test_a_rule_gets_its_own_epoch_on_its_mean_validation_h():
    blind = StackedTask.from_state(  # any margins: the calibrated choice is not under test
        {"seen": [[0.1], [0], [2]], "unseen": [[0.1], [0], [2]], "y": [[0], [2], [0], [2]]}
    )
    folds = [[_row(1, 0.6, 0.2), _row(2, 0.1, 0.5)], [_row(1, 0.6, 0.4), _row(2, 0.1, 0.3)]]  # rule means .3, .4
    sel = select_epochs(folds, [{1: blind, 2: blind}] * 2, 11)
    assert sel["gzsl"]["epoch"] == 1
    assert sel["gzsl_od"] == {
        "epoch": 2,
        "val_seen": 0.9,
        "val_unseen": 0.1,
        "val_h": pytest.approx(0.4),
        "val_h_folds": [0.5, 0.3],
        "val_h_std": pytest.approx(0.1414, abs=1e-4),
    }


def test_the_rule_is_scored_on_test_at_its_selected_epoch_only(monkeypatch):
    calls: list[int] = []
    now = {"epoch": 0}

    def scores(fw, key, task, cfg):
        calls.append(now["epoch"])
        return {"seen": 0.5, "unseen": 0.25, "h": 1 / 3}

    monkeypatch.setattr(selection_module, "rule_scores", scores)
    monkeypatch.setattr(selection_module, "zsl_accuracy", lambda fw, task, cfg: 0.7)
    monkeypatch.setattr(selection_module, "gzsl_scores", lambda fw, task, cfg: None)
    fw = SimpleNamespace(gzsl_rules={"od": "the label"})
    every = {"epoch": 9}  # never reached: only the rule is scored
    selection = {"zsl": every, "gzsl": every, "gzsl_calibrated": every, "gzsl_od": {"epoch": 2}}
    results: dict = {}
    for e in (1, 2, 3):
        now["epoch"] = e
        evaluate_test_once(fw, None, None, selection, e, results)  # type: ignore[arg-type]
    assert calls == [2]
    assert results == {"rules": {"od": {"label": "the label", "gzsl_seen": 0.5, "gzsl_unseen": 0.25, "gzsl_h": 1 / 3}}}


def test_a_rule_key_must_be_able_to_name_a_metric():
    class Bad(CLSWGAN):
        name, title = "toy_bad_rule", "toy"
        gzsl_rules = {"calibrated": "clashes with metrics.json's calibrated GZSL"}

    with pytest.raises(TypeError, match="GZSL rule keys"):
        register_framework(Bad)
    assert "toy_bad_rule" not in REGISTRY


# --------------------------------------------------------------------------- no test data chosen on
@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> dict:
    """``train_and_evaluate`` of the toy framework on the clean dataset (spied) and on the same
    with its test split poisoned."""
    arrays = make_arrays(**ARRAYS)
    root = tmp_path_factory.mktemp("rules")
    test_rows = torch.cat([torch.as_tensor(arrays["test_seen"]), torch.as_tensor(arrays["test_unseen"])]).numpy()
    clean = load_dataset(write_xlsa17(root / "clean", arrays))
    dirty = load_dataset(write_xlsa17(root / "dirty", poisoned(arrays, test_rows)))
    cfg = tiny_config()
    cfg.model.framework = "toy_nearest"
    out: dict = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(REGISTRY, "toy_nearest", NearestMean)
        for name, ds in (("clean", clean), ("dirty", dirty)):
            events: list[tuple] = []
            NearestMean.calls = []
            d = root / f"run_{name}"
            m = train_and_evaluate(DatasetSpy(ds, events), fixed_genotype(16), cfg, 0, d, CPU, log=lambda s: None)
            out[name] = (m, events, list(NearestMean.calls))
    return out


def test_poisoned_test_split_changes_no_selection_of_the_rule(trained):
    """Fails when the rule's epoch is chosen on the test task's figures."""
    (m0, _, _), (m1, _, _) = trained["clean"], trained["dirty"]
    assert m0["validation"]["gzsl_nearest"] == m1["validation"]["gzsl_nearest"]
    assert m0["selected_epoch"] == m1["selected_epoch"] and "gzsl_nearest" in m0["selected_epoch"]
    assert m0["rules"]["nearest"]["label"] == NEAREST
    assert m0["rules"]["nearest"] != m1["rules"]["nearest"]  # the poison reached the rule's test figures


def test_the_rule_reads_the_test_task_once_after_every_validation_fold(trained):
    """Fails when the rule is scored on the test task in a select stage, or at every final epoch."""
    m, events, calls = trained["clean"]
    test_calls = [c for c in calls if c.endswith("/test")]
    assert len(test_calls) == 1 and calls[-1].endswith("/test")
    assert {c for c in calls[:-1]} == {f"clean/validation/fold{f}" for f in range(FOLDS)}
    assert events.index(("test_task",)) > max(i for i, e in enumerate(events) if e[0] == "validation_task")


# --------------------------------------------------------------------------- tables
def _metrics(h: float, rule_h: float | None = None) -> dict:
    m: dict = {
        "zsl_top1": 0.5,
        "gzsl_seen": 0.5,
        "gzsl_unseen": 0.5,
        "gzsl_h": h,
        "calibrated": {"gzsl_h": h},
        "validation": {"zsl": {"val_zsl_top1": 0.5}, "gzsl_calibrated": {"val_h": h}},
    }
    if rule_h is not None:
        m["rules"] = {"od": {"label": "OD", "gzsl_h": rule_h}}
        m["validation"]["gzsl_od"] = {"val_h": rule_h / 2}
    return m


def test_table_columns_of_a_rule_appear_only_where_a_framework_has_it():
    from zeronas.experiments.tables import COLUMNS, _columns, _random_figures, _row_values

    plain, od = _row_values(_metrics(0.4)), _row_values(_metrics(0.4, 0.6))
    assert od == {**plain, "val_rule_od_h": 0.3, "rule_od_h": 0.6}
    assert _columns([plain]) == COLUMNS
    assert _columns([plain, od]) == (*COLUMNS, ("val_rule_od_h", "val H (od)"), ("rule_od_h", "H (od)"))
    figures = list(_random_figures([plain, plain], _columns([plain, od])).values())
    assert figures[-2:] == [None, None] and None not in figures[:-2]
