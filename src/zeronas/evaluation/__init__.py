"""Evaluation: metrics, the linear softmax classifiers (frozen and final), ZSL/GZSL scoring,
calibrated stacking and the selection protocol (validation classes only, test once)."""

from zeronas.evaluation.classifiers import LabelMap, train_softmax
from zeronas.evaluation.metrics import harmonic_mean, per_class_accuracy
from zeronas.evaluation.selection import (
    choose_genotype,
    edge_warnings,
    evaluate_test_once,
    select_epochs,
    validation_scores,
)
from zeronas.evaluation.zsl import (
    FeatureGenerator,
    GZSLScores,
    ZSLClassifier,
    choose_calibration,
    fit_zsl_classifier,
    gzsl_scores,
    zsl_accuracy,
)

__all__ = [
    "FeatureGenerator",
    "GZSLScores",
    "LabelMap",
    "ZSLClassifier",
    "choose_calibration",
    "choose_genotype",
    "edge_warnings",
    "evaluate_test_once",
    "fit_zsl_classifier",
    "gzsl_scores",
    "harmonic_mean",
    "per_class_accuracy",
    "select_epochs",
    "train_softmax",
    "validation_scores",
    "zsl_accuracy",
]
