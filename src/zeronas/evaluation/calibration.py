"""Calibrated stacking (Chao et al., ECCV 2016) for any GZSL scorer.

Subtracting a constant ``c`` from the seen-class scores predicts, for each image, its best
seen class when ``max seen score - max unseen score > c`` and its best unseen class
otherwise. So one pass over the images gives S, U and H for every constant at once.

The constants tried are 0 and the midpoints between consecutive distinct quantiles of the
pooled margins (``points`` of them, 0 % .. 100 %) of the *validation* images, in the
scorer's own units (probabilities for the softmax classifiers, raw scores for ESZSL): a
grid scaled to the scores, two-sided (a negative constant favours seen classes), and never
exactly on an image's margin (no argmax ties). The constant with the best mean H
over the validation folds is applied unchanged to the test scores; ties go to the constant
closest to 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass
class Stack:
    """Per image: margin (best seen - best unseen score), best seen class, best unseen class."""

    margin: np.ndarray
    best_seen: np.ndarray
    best_unseen: np.ndarray

    @classmethod
    def of(cls, scores: np.ndarray, classes: np.ndarray, seen_mask: np.ndarray) -> Stack:
        """From (n, C) scores over ``classes`` (global ids) with ``seen_mask`` over the columns."""
        seen_idx, unseen_idx = np.flatnonzero(seen_mask), np.flatnonzero(~seen_mask)
        s_arg, u_arg = scores[:, seen_idx].argmax(axis=1), scores[:, unseen_idx].argmax(axis=1)
        rows = np.arange(scores.shape[0])
        margin = scores[rows, seen_idx[s_arg]] - scores[rows, unseen_idx[u_arg]]
        return cls(margin.astype(np.float64), classes[seen_idx[s_arg]], classes[unseen_idx[u_arg]])

    def accuracy(self, truth: np.ndarray, classes: np.ndarray, constants: np.ndarray) -> np.ndarray:
        """Per-class mean accuracy over ``classes`` for each constant, shape (K,)."""
        pick_seen = self.margin[None, :] > constants[:, None]  # (K, n)
        correct = np.where(pick_seen, (self.best_seen == truth)[None, :], (self.best_unseen == truth)[None, :])
        onehot = (truth[:, None] == classes[None, :]).astype(np.float64)  # (n, c)
        counts = onehot.sum(axis=0)
        if np.any(counts == 0):
            raise ValueError("a target class has no samples")
        return (correct.astype(np.float64) @ onehot / counts).mean(axis=1)


@dataclass
class StackedTask:
    """The seen-image and unseen-image stacks of one task, with their truths."""

    seen: Stack
    unseen: Stack
    seen_y: np.ndarray
    unseen_y: np.ndarray
    seen_classes: np.ndarray
    unseen_classes: np.ndarray

    def to_state(self) -> dict[str, list]:
        """Plain lists (a checkpoint keeps them between the folds of a resumed run)."""
        return {
            "seen": [self.seen.margin.tolist(), self.seen.best_seen.tolist(), self.seen.best_unseen.tolist()],
            "unseen": [self.unseen.margin.tolist(), self.unseen.best_seen.tolist(), self.unseen.best_unseen.tolist()],
            "y": [
                self.seen_y.tolist(),
                self.unseen_y.tolist(),
                self.seen_classes.tolist(),
                self.unseen_classes.tolist(),
            ],
        }

    @classmethod
    def from_state(cls, state: dict[str, list]) -> StackedTask:
        def stack(parts: list) -> Stack:
            return Stack(np.asarray(parts[0], dtype=np.float64), np.asarray(parts[1]), np.asarray(parts[2]))

        ys = [np.asarray(v) for v in state["y"]]
        return cls(stack(state["seen"]), stack(state["unseen"]), *ys)

    def sweep(self, constants: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """S, U, H for each constant."""
        s = self.seen.accuracy(self.seen_y, self.seen_classes, constants)
        u = self.unseen.accuracy(self.unseen_y, self.unseen_classes, constants)
        with np.errstate(invalid="ignore", divide="ignore"):
            h = np.where(s + u > 0, 2 * s * u / (s + u), 0.0)
        return s, u, h


def stacking_constants(tasks: Sequence[StackedTask], points: int) -> np.ndarray:
    """0 and the midpoints between consecutive distinct quantiles of the pooled margins."""
    margins = np.concatenate([m for t in tasks for m in (t.seen.margin, t.unseen.margin)])
    q = np.unique(np.quantile(margins, np.linspace(0.0, 1.0, max(points, 2))))
    return np.unique(np.concatenate([[0.0], (q[:-1] + q[1:]) / 2]))


def choose_constant(tasks: Sequence[StackedTask], points: int) -> tuple[float, dict[str, float]]:
    """The constant with the best mean H over ``tasks`` (closest to 0 on ties), and the mean
    S, U, H it gives."""
    constants = stacking_constants(tasks, points)
    s, u, h = (np.asarray(np.mean(a, axis=0)) for a in zip(*(t.sweep(constants) for t in tasks), strict=True))
    top = np.flatnonzero(h == np.max(h))
    k = int(top[np.argmin(np.abs(constants[top]))])
    return float(constants[k]), {"seen": float(s[k]), "unseen": float(u[k]), "h": float(h[k])}


def apply_constant(task: StackedTask, constant: float) -> dict[str, float]:
    """S, U, H of one task with a given constant."""
    s, u, h = task.sweep(np.array([constant]))
    return {"seen": float(s[0]), "unseen": float(u[0]), "h": float(h[0])}
