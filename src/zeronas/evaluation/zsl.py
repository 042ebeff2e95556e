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
from zeronas.evaluation.classifiers import LabelMap, train_softmax
from zeronas.evaluation.metrics import harmonic_mean, per_class_accuracy


class FeatureGenerator(Protocol):
    """What scoring needs of a framework (:class:`zeronas.frameworks.Framework` is one)."""

    def synthesize(
        self, class_vectors: torch.Tensor, classes: torch.Tensor, per_class: int
    ) -> tuple[torch.Tensor, torch.Tensor]: ...

    def classifier_input(self, x: torch.Tensor) -> torch.Tensor: ...


@dataclass
class GZSLScores:
    """Class probabilities of a GZSL classifier on the test-seen and test-unseen images."""

    seen_prob: torch.Tensor
    unseen_prob: torch.Tensor
    labels: LabelMap
    seen_mask: torch.Tensor  # over local class index: True for seen classes

    def evaluate(self, task: ZSLTask, stacking_constant: float = 0.0) -> dict[str, float]:
        """S, U, H after subtracting ``stacking_constant`` from seen-class probabilities."""
        shift = stacking_constant * self.seen_mask.float()

        def predict(prob: torch.Tensor) -> torch.Tensor:
            return self.labels.to_global((prob - shift).argmax(dim=1)).cpu()

        s = per_class_accuracy(predict(self.seen_prob), task.test_seen_y.cpu(), task.seen_classes.cpu())
        u = per_class_accuracy(predict(self.unseen_prob), task.test_unseen_y.cpu(), task.unseen_classes.cpu())
        return {"seen": s, "unseen": u, "h": harmonic_mean(s, u)}


def zsl_accuracy(fw: FeatureGenerator, task: ZSLTask, cfg: EvalConfig) -> float:
    """Per-class top-1 on unseen test images, predicting among unseen classes only."""
    labels = LabelMap(task.unseen_classes)
    x, y = fw.synthesize(task.class_vectors, task.unseen_classes, cfg.syn_num_zsl)
    clf = train_softmax(
        fw.classifier_input(x),
        labels.to_local(y),
        len(task.unseen_classes),
        cfg.final_cls_lr_zsl,
        cfg.final_cls_epochs,
        cfg.final_cls_batch,
    )
    with torch.no_grad():
        pred = labels.to_global(clf(fw.classifier_input(task.test_unseen_x)).argmax(dim=1))
    return per_class_accuracy(pred.cpu(), task.test_unseen_y.cpu(), task.unseen_classes.cpu())


def gzsl_scores(fw: FeatureGenerator, task: ZSLTask, cfg: EvalConfig) -> GZSLScores:
    """Train the GZSL classifier on real seen + synthetic unseen features; score the test images."""
    classes = torch.cat([task.seen_classes, task.unseen_classes]).sort().values
    labels = LabelMap(classes)
    xs, ys = fw.synthesize(task.class_vectors, task.unseen_classes, cfg.syn_num_gzsl)
    x = fw.classifier_input(torch.cat([task.train_x, xs]))
    y = torch.cat([task.train_y, ys])
    clf = train_softmax(
        x, labels.to_local(y), len(classes), cfg.final_cls_lr_gzsl, cfg.final_cls_epochs, cfg.final_cls_batch
    )
    with torch.no_grad():
        seen_prob = torch.softmax(clf(fw.classifier_input(task.test_seen_x)), dim=1)
        unseen_prob = torch.softmax(clf(fw.classifier_input(task.test_unseen_x)), dim=1)
    seen_mask = torch.isin(classes, task.seen_classes.cpu()).to(seen_prob.device)
    return GZSLScores(seen_prob, unseen_prob, labels, seen_mask)
