"""ESZSL (Romera-Paredes & Torr, ICML 2015): a closed-form, non-generative baseline.

Model. With ``X`` the (n, d) training features, ``Y`` the (n, z) label matrix over the
``z`` training classes (+1 for the true class, -1 elsewhere, as in the paper) and ``S``
the (a, z) matrix whose columns are the class vectors of the training classes, ESZSL
minimises

    ||X V S - Y||_F^2 + gamma ||V S||_F^2 + lambda ||X V||_F^2 + gamma lambda ||V||_F^2

(the paper's regulariser with beta = gamma * lambda; its ``X`` is our ``X^T``). Setting the
gradient to zero gives ``(X^T X + gamma I) V (S S^T + lambda I) = X^T Y S^T``, i.e. the
closed form

    V = (X^T X + gamma I)^-1 X^T Y S^T (S S^T + lambda I)^-1,

and an image ``x`` scores ``x^T V s_c`` for a candidate class ``c``. Everything is computed
in float64 with numpy/scipy; nothing is random.

Features are centred by the training mean (``center=True``, default): ESZSL has no bias
term, and on all-positive MinMax features a class-dependent offset can dominate the scores.

Protocol (SPEC §3). ``gamma`` and ``lambda`` come from the grid 10^-3 .. 10^3 and are chosen
on the mean over class-disjoint validation folds (each fold's classes play the unseen
classes): the pair with the best validation ZSL top-1 for ZSL, the pair with the best
validation H for GZSL, and the (pair, stacking constant) with the best calibrated
validation H for calibrated GZSL. The model is then refitted with each chosen pair on all
seen training data and the test task is evaluated once per figure. Calibrated stacking
(:mod:`zeronas.evaluation.calibration`) works in raw ESZSL score units.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
import torch

from zeronas.data import ZSLDataset, ZSLTask
from zeronas.evaluation.calibration import Stack, StackedTask, apply_constant, choose_constant
from zeronas.evaluation.metrics import per_class_accuracy
from zeronas.evaluation.selection import edge_warnings

GRID: tuple[float, ...] = tuple(float(10.0**k) for k in range(-3, 4))
CALIBRATION_POINTS = 101

PROTOCOL = (
    "ESZSL (Romera-Paredes & Torr 2015), closed form in float64, on features centred by the training mean. "
    "gamma and lambda (grid 10^-3..10^3 each) were selected on the mean over class-disjoint validation folds "
    "of the seen classes: best validation ZSL top-1 for ZSL, best validation H for GZSL, best calibrated "
    "validation H for calibrated GZSL. Calibrated stacking subtracts a constant, in raw ESZSL score units, "
    "from the seen-class scores; it was chosen on the validation folds among 0 and midpoints of the quantiles "
    "of the pooled per-image seen-minus-unseen score margins. The model was then refitted on all seen "
    "training data with each selected pair and each test figure was computed once."
)


# --------------------------------------------------------------------------- model


def label_matrix(y: np.ndarray, classes: np.ndarray, negative: float = -1.0) -> np.ndarray:
    """(n, z) matrix with +1 at each sample's class among ``classes`` and ``negative`` elsewhere.

    The paper's targets are in {-1, +1} (the default); ``negative=0`` gives one-hot targets,
    which several public reimplementations use instead.
    """
    y = np.asarray(y)
    classes = np.asarray(classes)
    hit = y[:, None] == classes[None, :]
    out = np.where(hit, 1.0, float(negative))
    if not np.all(hit.sum(axis=1) == 1):
        raise ValueError("every training label must be one of the training classes")
    return out


class ESZSLSolver:
    """Closed-form ESZSL solutions on one training set, for many (gamma, lambda).

    ``(X^T X + gamma I)^-1 X^T Y S^T`` is solved once per gamma (Cholesky) and cached, so
    each further lambda costs one (a x a) solve. (The grid search goes further: it
    diagonalises ``S S^T`` once, so each lambda only rescales columns; the tests check it
    against :meth:`solve`.)

    Args:
        x: (n, d) training features.
        y: (n,) training labels (global class ids).
        class_vectors: (C, a) class vectors of every class, one row per class.
        classes: the z training classes (global ids); defaults to the classes in ``y``.
        negative: the target of the wrong classes (-1 in the paper).
    """

    def __init__(
        self,
        x: np.ndarray,
        y: np.ndarray,
        class_vectors: np.ndarray,
        classes: np.ndarray | None = None,
        negative: float = -1.0,
    ):
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y)
        self.classes = np.unique(y) if classes is None else np.asarray(classes)
        s = np.asarray(class_vectors, dtype=np.float64)[self.classes].T  # (a, z)
        self.xtx = x.T @ x
        self.xtys = (x.T @ label_matrix(y, self.classes, negative)) @ s.T  # (d, a)
        self.sst = s @ s.T
        self._left: dict[float, np.ndarray] = {}

    def left(self, gamma: float) -> np.ndarray:
        """``(X^T X + gamma I)^-1 X^T Y S^T``, cached per gamma."""
        if gamma not in self._left:
            a = self.xtx + gamma * np.eye(self.xtx.shape[0])
            self._left[gamma] = scipy.linalg.solve(a, self.xtys, assume_a="pos")
        return self._left[gamma]

    def solve(self, gamma: float, lam: float) -> np.ndarray:
        """The (d, a) matrix V for one (gamma, lambda)."""
        b = self.sst + lam * np.eye(self.sst.shape[0])
        # V = L B^-1 with B symmetric  <=>  V^T = B^-1 L^T
        return scipy.linalg.solve(b, self.left(gamma).T, assume_a="pos").T


def eszsl_fit(
    x: np.ndarray,
    y: np.ndarray,
    class_vectors: np.ndarray,
    gamma: float,
    lam: float,
    classes: np.ndarray | None = None,
    negative: float = -1.0,
) -> np.ndarray:
    """The closed-form ESZSL matrix V (d, a) for one (gamma, lambda)."""
    return ESZSLSolver(x, y, class_vectors, classes, negative).solve(gamma, lam)


def eszsl_scores(x: np.ndarray, v: np.ndarray, class_vectors: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """(n, len(classes)) scores ``x^T V s_c`` for each candidate class ``c``."""
    s = np.asarray(class_vectors, dtype=np.float64)[np.asarray(classes)]  # (k, a)
    return (np.asarray(x, dtype=np.float64) @ v) @ s.T


def eszsl_objective(x: np.ndarray, y: np.ndarray, s: np.ndarray, v: np.ndarray, gamma: float, lam: float) -> float:
    """The regularised ESZSL objective (beta = gamma * lambda); ``y`` is the +-1 matrix, ``s`` is (a, z)."""
    xv = x @ v
    vs = v @ s
    return float(np.sum((xv @ s - y) ** 2) + gamma * np.sum(vs**2) + lam * np.sum(xv**2) + gamma * lam * np.sum(v**2))


# --------------------------------------------------------------------------- scoring


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.as_tensor(np.asarray(a), dtype=torch.long)


class _TaskArrays:
    """float64 numpy views of one task, with its ZSL and GZSL candidate classes.

    With ``center``, every feature is centred by the training mean: on uncentred MinMax
    features (all positive) the scores ``x^T V s_c`` carry a large class-dependent offset
    ``mean^T V s_c`` that can outweigh the image and send most images to one class.
    """

    def __init__(self, task: ZSLTask, negative: float = -1.0, center: bool = True):
        self.negative = negative
        train_x = task.train_x.detach().cpu().double().numpy()
        shift = train_x.mean(axis=0) if center else np.zeros(train_x.shape[1])
        self.train_x = train_x - shift
        self.train_y = task.train_y.detach().cpu().numpy()
        self.seen_x = task.test_seen_x.detach().cpu().double().numpy() - shift
        self.seen_y = task.test_seen_y.detach().cpu().numpy()
        self.unseen_x = task.test_unseen_x.detach().cpu().double().numpy() - shift
        self.unseen_y = task.test_unseen_y.detach().cpu().numpy()
        self.class_vectors = task.class_vectors.detach().cpu().double().numpy()
        self.seen_classes = task.seen_classes.detach().cpu().numpy()
        self.unseen_classes = task.unseen_classes.detach().cpu().numpy()
        # GZSL candidates: every class of the task (seen = training classes, unseen = target classes)
        self.all_classes = np.sort(np.concatenate([self.seen_classes, self.unseen_classes]))
        self.seen_mask = np.isin(self.all_classes, self.seen_classes)

    def solver(self) -> ESZSLSolver:
        return ESZSLSolver(self.train_x, self.train_y, self.class_vectors, self.seen_classes, self.negative)

    def scores(self, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Scores of the test-seen and test-unseen images over ``all_classes``."""
        return (
            eszsl_scores(self.seen_x, v, self.class_vectors, self.all_classes),
            eszsl_scores(self.unseen_x, v, self.class_vectors, self.all_classes),
        )

    def zsl(self, unseen_scores: np.ndarray) -> float:
        """Per-class top-1 on the target-class images, predicting among target classes only.

        ``unseen_scores`` are the target images' scores over ``all_classes``; only the
        target-class columns take part.
        """
        cols = np.flatnonzero(~self.seen_mask)
        pred = self.all_classes[cols[unseen_scores[:, cols].argmax(axis=1)]]
        return per_class_accuracy(_t(pred), _t(self.unseen_y), _t(self.unseen_classes))

    def stacked(self, scores: tuple[np.ndarray, np.ndarray]) -> StackedTask:
        """The stacking margins of both image sets (see :mod:`zeronas.evaluation.calibration`)."""
        return StackedTask(
            Stack.of(scores[0], self.all_classes, self.seen_mask),
            Stack.of(scores[1], self.all_classes, self.seen_mask),
            self.seen_y,
            self.unseen_y,
            self.seen_classes,
            self.unseen_classes,
        )

    def gzsl(self, scores: tuple[np.ndarray, np.ndarray], stacking_constant: float = 0.0) -> dict[str, float]:
        """S, U, H over all classes after subtracting ``stacking_constant`` from seen-class scores."""
        return apply_constant(self.stacked(scores), stacking_constant)


# --------------------------------------------------------------------------- protocol


def select_on_validation(
    tasks: ZSLTask | list[ZSLTask],
    gammas=GRID,
    lambdas=GRID,
    calibration_points: int = CALIBRATION_POINTS,
    negative: float = -1.0,
    center: bool = True,
) -> dict[str, dict]:
    """Grid search on the validation folds: the choices for ZSL, GZSL and calibrated GZSL,
    each on the mean over the folds.

    Ties go to the first pair in grid order (gamma, then lambda, ascending) and, for the
    stacking constant, to the constant closest to 0.
    """
    tasks = [tasks] if isinstance(tasks, ZSLTask) else list(tasks)
    folds = []
    for task in tasks:
        arrays = _TaskArrays(task, negative, center)
        solver = arrays.solver()
        # (S S^T + lambda I)^-1 = U diag(1 / (e + lambda)) U^T, so the scores of every lambda are
        # (X L_gamma U) diag(1 / (e + lambda)) (U^T S_c): two small products per pair.
        e, u = np.linalg.eigh(solver.sst)
        q = u.T @ arrays.class_vectors[arrays.all_classes].T  # (a, C)
        folds.append((arrays, solver, e, u, q))
    best_zsl = best_gzsl = best_cal = None
    for g in gammas:
        projected = []
        for arrays, solver, _, u, _ in folds:
            lu = solver.left(float(g)) @ u
            projected.append((arrays.seen_x @ lu, arrays.unseen_x @ lu))
        for lam in lambdas:
            zsl, plain, stacks = [], [], []
            for (arrays, _, e, _, q), (p_seen, p_unseen) in zip(folds, projected, strict=True):
                w = 1.0 / (e + float(lam))
                scores = ((p_seen * w) @ q, (p_unseen * w) @ q)
                zsl.append(arrays.zsl(scores[1]))
                stacks.append(arrays.stacked(scores))
                plain.append(apply_constant(stacks[-1], 0.0))
            pair = {"gamma": float(g), "lambda": float(lam)}
            if best_zsl is None or np.mean(zsl) > best_zsl["val_zsl_top1"]:
                best_zsl = {**pair, "val_zsl_top1": float(np.mean(zsl))}
            h = float(np.mean([p["h"] for p in plain]))
            if best_gzsl is None or h > best_gzsl["val_h"]:
                best_gzsl = {
                    **pair,
                    "val_seen": float(np.mean([p["seen"] for p in plain])),
                    "val_unseen": float(np.mean([p["unseen"] for p in plain])),
                    "val_h": h,
                }
            constant, cal = choose_constant(stacks, calibration_points)
            if best_cal is None or cal["h"] > best_cal["val_h"]:
                best_cal = {**pair, "stacking_constant": constant, "val_seen": cal["seen"], "val_unseen": cal["unseen"],
                            "val_h": cal["h"]}  # fmt: skip
    assert best_zsl is not None and best_gzsl is not None and best_cal is not None
    return {"zsl": best_zsl, "gzsl": best_gzsl, "gzsl_calibrated": best_cal}


def evaluate_test_once(task: ZSLTask, selected: dict[str, dict], negative: float = -1.0, center: bool = True) -> dict:
    """Refit with each selected pair on all seen training data; each test figure computed once."""
    arrays = _TaskArrays(task, negative, center)
    solver = arrays.solver()
    zsl, g, c = selected["zsl"], selected["gzsl"], selected["gzsl_calibrated"]
    zsl_top1 = arrays.zsl(arrays.scores(solver.solve(zsl["gamma"], zsl["lambda"]))[1])
    plain = arrays.gzsl(arrays.scores(solver.solve(g["gamma"], g["lambda"])))
    cal = arrays.gzsl(arrays.scores(solver.solve(c["gamma"], c["lambda"])), c["stacking_constant"])
    return {
        "zsl_top1": zsl_top1,
        "gzsl_seen": plain["seen"],
        "gzsl_unseen": plain["unseen"],
        "gzsl_h": plain["h"],
        "calibrated": {
            "stacking_constant": c["stacking_constant"],
            "gzsl_seen": cal["seen"],
            "gzsl_unseen": cal["unseen"],
            "gzsl_h": cal["h"],
        },
    }


def eszsl_evaluate(
    dataset: ZSLDataset,
    folds: int = 3,
    gammas=GRID,
    lambdas=GRID,
    calibration_points: int = CALIBRATION_POINTS,
    negative_target: float = -1.0,
    center: bool = True,
) -> dict:
    """ESZSL under the leak-free protocol: select on the validation folds, then test once.

    Returns the keys of :func:`zeronas.train.train_and_evaluate`'s metrics (``zsl_top1``,
    ``gzsl_seen``, ``gzsl_unseen``, ``gzsl_h``, ``calibrated`` with its ``stacking_constant``
    in raw ESZSL score units) plus ``selected`` (the ESZSL ``gamma``/``lambda`` per
    metric with their validation figures; ``validation`` is the same dict), ``grid`` and
    ``protocol``. Deterministic. ``negative_target`` is the target of the wrong classes:
    -1 as in the paper (default), 0 for one-hot targets. ``center=False`` gives the paper's
    uncentred variant.
    """
    tasks = [dataset.validation_task(f, folds) for f in range(folds)]
    selected = select_on_validation(tasks, gammas, lambdas, calibration_points, negative_target, center)
    results = evaluate_test_once(dataset.test_task(), selected, negative_target, center)
    warnings = edge_warnings(selected, "gamma", gammas) + edge_warnings(selected, "lambda", lambdas)
    return {
        "method": "ESZSL",
        **results,
        **({"warnings": warnings} if warnings else {}),
        "selected": selected,
        "validation": selected,
        "grid": {
            "gamma": [float(g) for g in gammas],
            "lambda": [float(lam) for lam in lambdas],
            "targets": f"+1 for the true class, {float(negative_target):g} elsewhere",
            "calibration": f"0 and midpoints of {calibration_points} quantiles of the validation margins",
            "centred": center,
            "folds": folds,
        },
        "dataset": dataset.name,
        "split_seed": dataset.split_seed,
        "protocol": PROTOCOL,
    }
