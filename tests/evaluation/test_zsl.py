"""The label spaces of ZSL and GZSL scoring (SPEC §1, §3), on a hand-made task with
non-contiguous class ids and a stand-in generator that returns each class's prototype:

* ZSL predicts among the unseen classes only, GZSL over seen ∪ unseen;
* GZSL scores are class probabilities over the sorted union, and calibrated stacking
  subtracts its constant from the seen classes' columns only;
* ``LabelMap`` maps global ids to a classifier's 0..k-1 and back.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

import zeronas.evaluation.zsl as zsl_module
from zeronas.config import EvalConfig
from zeronas.data import ZSLTask
from zeronas.evaluation import (
    GZSLScores,
    LabelMap,
    choose_calibration,
    fit_zsl_classifier,
    gzsl_scores,
    zsl_accuracy,
)
from zeronas.evaluation.calibration import apply_constant, choose_constant

SEEN, UNSEEN = [1, 4, 7], [2, 9]
N_CLASSES, DIM = 10, 10


class Prototypes:
    """A stand-in generator: class ``c``'s synthetic features are ``e_c`` plus a little noise."""

    def synthesize(self, class_vectors, classes, per_class):
        y = classes.repeat_interleave(per_class)
        return torch.eye(DIM)[y] + 0.01 * torch.randn(y.numel(), DIM), y

    def classifier_input(self, x):
        return x


def make_task(unseen_look_like: int | None = None, n: int = 6) -> ZSLTask:
    """Real features are the class prototypes plus noise; with ``unseen_look_like`` every
    unseen test image is a copy of that class's prototype instead."""
    g = torch.Generator().manual_seed(0)

    def images(classes: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        y = torch.tensor(classes).repeat_interleave(n)
        return torch.eye(DIM)[y] + 0.01 * torch.randn(y.numel(), DIM, generator=g), y

    train_x, train_y = images(SEEN)
    ts_x, ts_y = images(SEEN)
    tu_x, tu_y = images(UNSEEN)
    if unseen_look_like is not None:
        tu_x = torch.eye(DIM)[torch.full_like(tu_y, unseen_look_like)]
    return ZSLTask(
        name="hand/test",
        train_x=train_x,
        train_y=train_y,
        test_seen_x=ts_x,
        test_seen_y=ts_y,
        test_unseen_x=tu_x,
        test_unseen_y=tu_y,
        class_vectors=torch.eye(N_CLASSES),
        seen_classes=torch.tensor(SEEN),
        unseen_classes=torch.tensor(UNSEEN),
    )


CFG = EvalConfig(
    syn_num_zsl=20,
    syn_num_gzsl=20,
    final_cls_lr_zsl=0.05,
    final_cls_lr_gzsl=0.05,
    final_cls_epochs=30,
    final_cls_batch=16,
)


def spy_predictions(monkeypatch) -> list[torch.Tensor]:
    preds: list[torch.Tensor] = []
    real = zsl_module.per_class_accuracy

    def spy(pred, truth, classes=None):
        preds.append(pred.clone())
        return real(pred, truth, classes)

    monkeypatch.setattr(zsl_module, "per_class_accuracy", spy)
    return preds


def test_zsl_predicts_among_unseen_classes_only(monkeypatch):
    """Unseen test images that look exactly like seen class 4 must still be labelled 2 or 9."""
    torch.manual_seed(0)
    preds = spy_predictions(monkeypatch)
    assert zsl_accuracy(Prototypes(), make_task(), CFG) == 1.0
    acc = zsl_accuracy(Prototypes(), make_task(unseen_look_like=4), CFG)
    assert set(preds[-1].tolist()) <= set(UNSEEN)
    assert acc == pytest.approx(0.5)  # one unseen class takes every image


def test_the_zsl_classifier_reports_its_fit_on_its_own_training_features():
    """Separable prototypes are fitted exactly; features that ignore the class cannot be."""
    torch.manual_seed(0)
    zsl = fit_zsl_classifier(Prototypes(), make_task(), CFG)
    assert zsl.fit_accuracy() == 1.0
    assert set(zsl.train_y.tolist()) == {0, 1}  # local labels of the unseen classes

    class Blind(Prototypes):
        def synthesize(self, class_vectors, classes, per_class):
            y = classes.repeat_interleave(per_class)
            return torch.randn(y.numel(), DIM), y

    assert fit_zsl_classifier(Blind(), make_task(), CFG).fit_accuracy() < 0.9


class Recording(Prototypes):
    """Prototypes that records what scoring asks it for."""

    def __init__(self):
        self.asked: list[tuple] = []

    def synthesize(self, class_vectors, classes, per_class):
        self.asked.append((class_vectors, classes, per_class))
        return super().synthesize(class_vectors, classes, per_class)


def test_scoring_synthesises_the_unseen_classes_from_the_tasks_class_vectors():
    torch.manual_seed(0)
    task, fw = make_task(), Recording()
    cfg = replace(CFG, syn_num_zsl=7, syn_num_gzsl=9)
    zsl_accuracy(fw, task, cfg)
    gzsl_scores(fw, task, cfg)
    assert [(v is task.class_vectors, c is task.unseen_classes, n) for v, c, n in fw.asked] == [
        (True, True, 7),
        (True, True, 9),
    ]


@pytest.mark.parametrize("balanced", [False, True])
def test_the_gzsl_classifier_is_class_balanced_as_configured(monkeypatch, balanced):
    trained: list[dict] = []
    real = zsl_module.train_final_softmax

    def spy(*args, **kwargs):
        trained.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(zsl_module, "train_final_softmax", spy)
    torch.manual_seed(0)
    gzsl_scores(Prototypes(), make_task(), replace(CFG, gzsl_balanced=balanced))
    assert [k.get("balanced") for k in trained] == [balanced]


def test_zsl_accuracy_needs_test_images_of_every_unseen_class():
    """Per-class accuracy over the task's unseen classes: a class without test images is an
    error, not left out of the mean."""
    task = make_task()
    keep = task.test_unseen_y != 9
    task.test_unseen_x, task.test_unseen_y = task.test_unseen_x[keep], task.test_unseen_y[keep]
    torch.manual_seed(0)
    with pytest.raises(ValueError, match="^class 9 has no samples$"):
        zsl_accuracy(Prototypes(), task, CFG)


def test_gzsl_scores_are_probabilities_over_seen_and_unseen():
    torch.manual_seed(0)
    scores = gzsl_scores(Prototypes(), make_task(), CFG)
    assert scores.labels.classes.tolist() == sorted(SEEN + UNSEEN)
    assert scores.seen_mask.tolist() == [c in SEEN for c in sorted(SEEN + UNSEEN)]
    for s in (scores.seen_scores, scores.unseen_scores):
        assert s.shape[1] == len(SEEN + UNSEEN) and (s >= 0).all()
        torch.testing.assert_close(s.sum(dim=1), torch.ones(s.shape[0]))
    assert scores.evaluate(make_task()) == {"seen": 1.0, "unseen": 1.0, "h": 1.0}


def test_gzsl_can_predict_a_seen_class_for_an_unseen_image():
    """GZSL predicts over every class: unseen images that look like class 4 go to class 4."""
    torch.manual_seed(0)
    task = make_task(unseen_look_like=4)
    scores = gzsl_scores(Prototypes(), task, CFG)
    labels = scores.labels.to_global(scores.unseen_scores.argmax(dim=1))
    assert set(labels.tolist()) == {4}
    assert scores.evaluate(task) == {"seen": 1.0, "unseen": 0.0, "h": 0.0}


def hand_scores() -> tuple[GZSLScores, ZSLTask]:
    """Probabilities over classes 1, 2, 4, 7, 9 (seen 1, 4, 7), set by hand."""
    task = make_task(n=1)  # seen images of 1, 4, 7; unseen images of 2, 9
    classes = torch.tensor([1, 2, 4, 7, 9])
    seen = torch.tensor(
        [
            [0.50, 0.30, 0.10, 0.05, 0.05],  # a class-1 image: margin 0.2
            [0.10, 0.35, 0.45, 0.05, 0.05],  # class 4: margin 0.1
            [0.05, 0.10, 0.05, 0.70, 0.10],  # class 7: margin 0.6
        ]
    )
    unseen = torch.tensor(
        [
            [0.40, 0.30, 0.10, 0.10, 0.10],  # a class-2 image: margin 0.1
            [0.10, 0.05, 0.50, 0.10, 0.25],  # class 9: margin 0.25
        ]
    )
    return GZSLScores(seen, unseen, LabelMap(classes), torch.isin(classes, torch.tensor(SEEN))), task


@pytest.mark.parametrize("constant", [-0.3, 0.0, 0.05, 0.15, 0.22, 0.3, 0.65])
def test_calibration_subtracts_the_constant_from_seen_columns_only(constant):
    scores, task = hand_scores()
    shift = constant * scores.seen_mask.float()

    def accuracy(s: torch.Tensor, y: torch.Tensor) -> float:
        pred = scores.labels.to_global((s - shift).argmax(dim=1))
        return float((pred == y).float().mean())  # one image per class: per-class mean = mean

    s, u = accuracy(scores.seen_scores, task.test_seen_y), accuracy(scores.unseen_scores, task.test_unseen_y)
    h = 0.0 if s + u == 0 else 2 * s * u / (s + u)
    assert scores.evaluate(task, constant) == pytest.approx({"seen": s, "unseen": u, "h": h})


def test_hand_scores_by_hand():
    scores, task = hand_scores()
    assert scores.evaluate(task) == pytest.approx({"seen": 1.0, "unseen": 0.0, "h": 0.0})
    # 0.25 <= c < 0.6 flips both unseen images and the seen images of classes 1 and 4
    assert scores.evaluate(task, 0.3) == pytest.approx({"seen": 1 / 3, "unseen": 1.0, "h": 0.5})
    # 0.1 <= c < 0.2: class 4's image and class 2's image flip
    assert scores.evaluate(task, 0.15) == pytest.approx({"seen": 2 / 3, "unseen": 0.5, "h": 4 / 7})


def test_choose_calibration_is_the_joint_choice_over_validation_tasks():
    scores, task = hand_scores()
    sharper = GZSLScores(scores.seen_scores**2, scores.unseen_scores**2, scores.labels, scores.seen_mask)
    chosen = choose_calibration([(scores, task), (sharper, task)], 21)
    assert chosen == choose_constant([scores.stacked(task), sharper.stacked(task)], 21)
    constant, figures = chosen
    h = [apply_constant(sc.stacked(task), constant)["h"] for sc in (scores, sharper)]
    assert figures["h"] == pytest.approx(sum(h) / 2) and figures["h"] > 0.5


def test_label_map_round_trips_non_contiguous_ids():
    lm = LabelMap(torch.tensor([7, 1, 4]))  # the order given is the local order
    assert lm.to_local(torch.tensor([4, 7, 1, 7])).tolist() == [2, 0, 1, 0]
    assert lm.to_global(torch.tensor([1, 2, 0])).tolist() == [1, 4, 7]
    y = torch.tensor([1, 4, 7, 7, 4])
    assert torch.equal(lm.to_global(lm.to_local(y)), y)
    assert lm.to_local(torch.tensor([0, 2, 5])).tolist() == [-1, -1, -1]  # not among its classes
