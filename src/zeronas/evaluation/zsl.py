"""ZSL and GZSL scoring of a generator: synthesise, train the final classifier, score.

Works on any :class:`~zeronas.data.ZSLTask`; model selection calls it on the validation
task, the final report calls it once on the test task.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch

from zeronas.config import EvalConfig
from zeronas.data import ZSLTask
from zeronas.evaluation.calibration import Stack, StackedTask, apply_constant, choose_constant
from zeronas.evaluation.classifiers import LabelMap, train_final_softmax
from zeronas.evaluation.metrics import harmonic_mean, per_class_accuracy


class FeatureGenerator(Protocol):
    """What scoring needs of a framework (:class:`zeronas.frameworks.Framework` is one)."""

    def synthesize(
        self, class_vectors: torch.Tensor, classes: torch.Tensor, per_class: int
    ) -> tuple[torch.Tensor, torch.Tensor]: ...

    def classifier_input(self, x: torch.Tensor) -> torch.Tensor: ...


@dataclass
class GZSLScores:
    """Class probabilities of a GZSL classifier on the test-seen and test-unseen images.

    Calibrated stacking works on probabilities: their margins are bounded, so a constant
    chosen on the validation folds keeps its meaning on the test task, whose classifier
    (more classes, more data) is sharper; log-probability margins grow with sharpness and
    a validation constant then flips too few test images."""

    seen_scores: torch.Tensor
    unseen_scores: torch.Tensor
    labels: LabelMap
    seen_mask: torch.Tensor  # over local class index: True for seen classes

    def stacked(self, task: ZSLTask) -> StackedTask:
        """The per-image stacking margins (see :mod:`zeronas.evaluation.calibration`)."""
        classes = self.labels.classes.numpy()
        mask = self.seen_mask.cpu().numpy()
        return StackedTask(
            Stack.of(self.seen_scores.cpu().double().numpy(), classes, mask),
            Stack.of(self.unseen_scores.cpu().double().numpy(), classes, mask),
            task.test_seen_y.cpu().numpy(),
            task.test_unseen_y.cpu().numpy(),
            task.seen_classes.cpu().numpy(),
            task.unseen_classes.cpu().numpy(),
        )

    def evaluate(self, task: ZSLTask, stacking_constant: float = 0.0) -> dict[str, float]:
        """S, U, H after subtracting ``stacking_constant`` from the seen-class probabilities."""
        return apply_constant(self.stacked(task), stacking_constant)


def choose_calibration(scored: list[tuple[GZSLScores, ZSLTask]], points: int) -> tuple[float, dict[str, float]]:
    """Calibrated stacking: the constant with the best mean H over validation tasks (folds),
    and the mean S, U, H it gives. Call it on validation tasks only; the constant is then
    applied unchanged to test."""
    return choose_constant([sc.stacked(task) for sc, task in scored], points)


@dataclass
class ZSLClassifier:
    """The final ZSL softmax over the unseen classes, with the synthetic features it was trained on."""

    fw: FeatureGenerator
    clf: torch.nn.Module
    labels: LabelMap
    train_x: torch.Tensor  # classifier inputs
    train_y: torch.Tensor  # local labels

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Global class labels of the image features ``x``."""
        with torch.no_grad():
            return self.labels.to_global(self.clf(self.fw.classifier_input(x)).argmax(dim=1))

    def accuracy(self, task: ZSLTask) -> float:
        """Per-class top-1 on ``task``'s unseen images, predicting among unseen classes only."""
        pred = self.predict(task.test_unseen_x)
        return per_class_accuracy(pred.cpu(), task.test_unseen_y.cpu(), task.unseen_classes.cpu())

    def fit_accuracy(self) -> float:
        """Accuracy on its own training features: how well the kept iterate fits them."""
        with torch.no_grad():
            return (self.clf(self.train_x).argmax(dim=1) == self.train_y).float().mean().item()


def fit_zsl_classifier(fw: FeatureGenerator, task: ZSLTask, cfg: EvalConfig) -> ZSLClassifier:
    """Synthesise ``cfg.syn_num_zsl`` features per unseen class and train the final ZSL softmax on them."""
    labels = LabelMap(task.unseen_classes)
    x, y = fw.synthesize(task.class_vectors, task.unseen_classes, cfg.syn_num_zsl)
    x, y = fw.classifier_input(x), labels.to_local(y)
    clf = train_final_softmax(x, y, len(task.unseen_classes), cfg, cfg.final_cls_lr_zsl)
    return ZSLClassifier(fw, clf, labels, x, y)


def zsl_accuracy(fw: FeatureGenerator, task: ZSLTask, cfg: EvalConfig) -> float:
    """Per-class top-1 on unseen test images, predicting among unseen classes only."""
    return fit_zsl_classifier(fw, task, cfg).accuracy(task)


def gzsl_scores(fw: FeatureGenerator, task: ZSLTask, cfg: EvalConfig) -> GZSLScores:
    """Train the GZSL classifier on real seen + synthetic unseen features; score the test images."""
    classes = torch.cat([task.seen_classes, task.unseen_classes]).sort().values
    labels = LabelMap(classes)
    xs, ys = fw.synthesize(task.class_vectors, task.unseen_classes, cfg.syn_num_gzsl)
    x = fw.classifier_input(torch.cat([task.train_x, xs]))
    y = torch.cat([task.train_y, ys])
    clf = train_final_softmax(
        x, labels.to_local(y), len(classes), cfg, cfg.final_cls_lr_gzsl, balanced=cfg.gzsl_balanced
    )
    with torch.no_grad():
        seen_scores = torch.softmax(clf(fw.classifier_input(task.test_seen_x)), dim=1)
        unseen_scores = torch.softmax(clf(fw.classifier_input(task.test_unseen_x)), dim=1)
    return GZSLScores(seen_scores, unseen_scores, labels, torch.isin(classes, task.seen_classes.cpu()))


def gzsl_rules(fw: object) -> dict[str, str]:
    """The extra GZSL decision rules of ``fw``, ``key -> label`` (``Framework.gzsl_rules``;
    none for a scorer that declares none)."""
    return dict(getattr(fw, "gzsl_rules", {}))


def rule_scores(fw: object, key: str, task: ZSLTask, cfg: EvalConfig) -> dict[str, float]:
    """S, U, H of ``fw``'s GZSL rule ``key`` on ``task`` (per-class accuracy over the seen
    classes on test-seen images and over the unseen classes on test-unseen images, as for
    the plain GZSL classifier)."""
    seen_pred, unseen_pred = fw.gzsl_rule(key, task, cfg)  # type: ignore[attr-defined]
    seen = per_class_accuracy(seen_pred.cpu(), task.test_seen_y.cpu(), task.seen_classes.cpu())
    unseen = per_class_accuracy(unseen_pred.cpu(), task.test_unseen_y.cpu(), task.unseen_classes.cpu())
    return {"seen": seen, "unseen": unseen, "h": harmonic_mean(seen, unseen)}
