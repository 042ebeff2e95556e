"""Per-class mean top-1 accuracy and the GZSL harmonic mean (SPEC §3)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import balanced_accuracy_score

from zeronas.evaluation.metrics import harmonic_mean, per_class_accuracy, within_class_std


def t(*v):
    return torch.tensor(v, dtype=torch.long)


def test_per_class_accuracy_hand_computed():
    # class 0: 4 samples, 4 right; class 1: 2 samples, 1 right; class 2: 1 sample, 0 right
    truth = t(0, 0, 0, 0, 1, 1, 2)
    pred = t(0, 0, 0, 0, 1, 0, 1)
    expected = (4 / 4 + 1 / 2 + 0 / 1) / 3  # 0.5
    assert per_class_accuracy(pred, truth) == pytest.approx(expected)
    assert per_class_accuracy(pred, truth) == pytest.approx(0.5)
    overall = float((pred == truth).float().mean())  # 5/7
    assert overall == pytest.approx(5 / 7)
    assert per_class_accuracy(pred, truth) != pytest.approx(overall)
    assert per_class_accuracy(pred, truth) == pytest.approx(balanced_accuracy_score(truth.numpy(), pred.numpy()))


def test_per_class_accuracy_perfect_and_zero():
    truth = t(3, 3, 5, 7)
    assert per_class_accuracy(truth.clone(), truth) == 1.0
    assert per_class_accuracy(t(5, 5, 7, 3), truth) == 0.0


def test_per_class_accuracy_over_given_classes():
    # only classes 1 and 2 are targets; predictions of class ids outside the targets count as wrong
    truth = t(1, 1, 1, 2, 2)
    pred = t(1, 9, 1, 2, 0)
    assert per_class_accuracy(pred, truth, t(1, 2)) == pytest.approx((2 / 3 + 1 / 2) / 2)
    # a subset of the classes present: the average runs over that subset only
    assert per_class_accuracy(pred, truth, t(2)) == pytest.approx(0.5)


def test_per_class_accuracy_matches_sklearn_random():
    g = torch.Generator().manual_seed(0)
    truth = torch.randint(0, 7, (500,), generator=g)
    pred = torch.where(torch.rand(500, generator=g) < 0.6, truth, torch.randint(0, 7, (500,), generator=g))
    assert per_class_accuracy(pred, truth) == pytest.approx(balanced_accuracy_score(truth.numpy(), pred.numpy()))


def test_per_class_accuracy_target_class_without_samples_is_an_error():
    with pytest.raises(ValueError, match="class 4 has no samples"):
        per_class_accuracy(t(0, 1), t(0, 1), t(0, 1, 4))


def test_per_class_accuracy_shape_mismatch():
    with pytest.raises(ValueError, match="differ in shape"):
        per_class_accuracy(t(0, 1, 2), t(0, 1))


@pytest.mark.parametrize(
    "s,u,h",
    [
        (0.0, 0.0, 0.0),
        (1.0, 1.0, 1.0),
        (0.5, 0.5, 0.5),
        (0.9, 0.0, 0.0),
        (0.0, 0.4, 0.0),
        (0.6, 0.3, 2 * 0.6 * 0.3 / 0.9),  # 0.4
        (0.8, 0.2, 0.32),
    ],
)
def test_harmonic_mean(s, u, h):
    assert harmonic_mean(s, u) == pytest.approx(h)
    assert harmonic_mean(u, s) == pytest.approx(h)


def test_harmonic_mean_not_above_arithmetic_mean():
    for s, u in np.random.default_rng(0).random((50, 2)):
        assert min(s, u) - 1e-12 <= harmonic_mean(s, u) <= (s + u) / 2 + 1e-12


def test_within_class_std_hand_computed():
    # class 0: one feature at 0 and 2 (std 1.414), the other constant; class 1: 1 and 3 in both
    x = torch.tensor([[0.0, 5.0], [2.0, 5.0], [1.0, 1.0], [3.0, 3.0]])
    y = torch.tensor([0, 0, 1, 1])
    want = (2**0.5 + 0.0 + 2**0.5 + 2**0.5) / 4
    assert within_class_std(x, y, torch.tensor([0, 1])) == pytest.approx(want)
    assert within_class_std(x, y, torch.tensor([0])) == pytest.approx(2**0.5 / 2)
