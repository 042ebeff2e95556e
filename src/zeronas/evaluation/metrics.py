"""Zero-shot metrics: per-class mean top-1 accuracy, the GZSL harmonic mean, and the
within-class spread of features (a generator's diversity, against the real images')."""

from __future__ import annotations

import torch


def per_class_accuracy(pred: torch.Tensor, truth: torch.Tensor, classes: torch.Tensor | None = None) -> float:
    """Mean over target classes of (correct / count) for that class.

    Args:
        pred: predicted class ids, shape (N,).
        truth: true class ids, shape (N,).
        classes: the target classes to average over; defaults to the classes in ``truth``.
            A target class with no sample is an error, not a silent zero.
    """
    if pred.shape != truth.shape:
        raise ValueError(f"pred {tuple(pred.shape)} and truth {tuple(truth.shape)} differ in shape")
    classes = torch.unique(truth) if classes is None else classes
    accs = []
    for c in classes.tolist():
        mask = truth == c
        n = int(mask.sum())
        if n == 0:
            raise ValueError(f"class {c} has no samples")
        accs.append(float((pred[mask] == c).sum()) / n)
    return sum(accs) / len(accs)


def harmonic_mean(seen: float, unseen: float) -> float:
    """H = 2SU/(S+U), defined as 0 when both are 0."""
    return 0.0 if seen + unseen == 0 else 2 * seen * unseen / (seen + unseen)


def within_class_std(x: torch.Tensor, y: torch.Tensor, classes: torch.Tensor) -> float:
    """Mean over ``classes`` and feature dimensions of the per-class standard deviation of ``x``."""
    return torch.stack([x[y == c].std(dim=0) for c in classes.tolist()]).mean().item()
