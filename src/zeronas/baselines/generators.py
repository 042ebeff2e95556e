"""Feature generators without a GAN: the linear floor and the planted oracle (SPEC §3).

Both are scored exactly like a trained GAN (same synthesis counts, same final classifier,
same GZSL protocol), so that a table compares generators, not protocols:

- :class:`LinearGenerator`: a ridge map from class vector to class-mean feature, fitted on
  the task's seen classes, plus a real seen-class residual (``x_i - mean_{y_i}``) drawn at
  random as the per-image variation. Its ridge ``lambda`` is chosen on the validation folds.
  A GAN that loses to it is a bug until shown otherwise.
- :class:`PlantedOracle`: on a semi-synthetic benchmark (``zeronas.synthetic``), the planted
  generator itself, with the true class latents: the ceiling of any feature generator.

:func:`evaluate_generator` runs the leak-free protocol: every choice (the hyperparameter,
per metric, and the calibration constant) on the mean over the validation folds, then each
test figure once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from zeronas.config import Config
from zeronas.data import ZSLDataset, ZSLTask
from zeronas.evaluation import choose_calibration, edge_warnings, gzsl_scores, zsl_accuracy
from zeronas.runs import seed_everything
from zeronas.synthetic import PlantedGenerator

RIDGE_GRID: tuple[float, ...] = tuple(float(10.0**k) for k in range(-3, 4))


class _Synthesizer:
    """What the evaluation needs of a generator: ``synthesize`` and ``classifier_input``."""

    def synthesize(self, class_vectors: torch.Tensor, classes: torch.Tensor, per_class: int):
        raise NotImplementedError

    def classifier_input(self, x: torch.Tensor) -> torch.Tensor:
        return x


class LinearGenerator(_Synthesizer):
    """Ridge class vector -> class mean on the task's seen classes, plus real seen residuals."""

    def __init__(self, task: ZSLTask, lam: float):
        x, y = task.train_x.double(), task.train_y
        classes = task.seen_classes
        means = torch.stack([x[y == c].mean(dim=0) for c in classes.tolist()])
        a = task.class_vectors.double()[classes]
        self.a_mean, self.m_mean = a.mean(dim=0), means.mean(dim=0)
        ac = a - self.a_mean
        lhs = ac.T @ ac + lam * torch.eye(a.shape[1], dtype=torch.float64)
        self.w = torch.linalg.solve(lhs, ac.T @ (means - self.m_mean))
        lut = torch.full((int(classes.max()) + 1,), -1, dtype=torch.long)
        lut[classes] = torch.arange(classes.numel())
        self.residuals = (x - means[lut[y]]).float()

    def class_means(self, class_vectors: torch.Tensor) -> torch.Tensor:
        return ((class_vectors.double() - self.a_mean) @ self.w + self.m_mean).float()

    @torch.no_grad()
    def synthesize(self, class_vectors: torch.Tensor, classes: torch.Tensor, per_class: int):
        y = classes.repeat_interleave(per_class)
        noise = self.residuals[torch.randint(self.residuals.shape[0], (y.numel(),))]
        return self.class_means(class_vectors[y]) + noise, y


class PlantedOracle(_Synthesizer):
    """The planted generator of a semi-synthetic benchmark, in the task's feature scaling."""

    def __init__(self, task: ZSLTask, planted: PlantedGenerator):
        self.task, self.planted = task, planted

    @torch.no_grad()
    def synthesize(self, class_vectors: torch.Tensor, classes: torch.Tensor, per_class: int):
        y = classes.repeat_interleave(per_class)
        z = torch.randn(y.numel(), self.planted.noise_dim)
        return self.task.scale_features(self.planted(z, y.cpu())), y


def evaluate_generator(
    dataset: ZSLDataset,
    make: Callable[[ZSLTask, Any], _Synthesizer],
    grid: Sequence[Any],
    cfg: Config,
    seed: int,
    name: str,
) -> dict:
    """Choose the hyperparameter (per metric) and the stacking constant on the mean over the
    validation folds, then evaluate the test task once per metric.

    Returns the keys of a GAN run's ``metrics.json``.
    """
    seed_everything(seed)
    t, folds = cfg.eval, cfg.eval.folds
    tasks = [dataset.validation_task(f, folds) for f in range(folds)]
    rows = []
    for hp in grid:
        zsl, plain, scored = [], [], []
        for task in tasks:
            gen = make(task, hp)
            zsl.append(zsl_accuracy(gen, task, t))
            scores = gzsl_scores(gen, task, t)
            plain.append(scores.evaluate(task))
            scored.append((scores, task))
        constant, cal = choose_calibration(scored, t.calibration_points)
        rows.append(
            {
                "hp": hp,
                "val_zsl": float(np.mean(zsl)),
                "val_zsl_folds": zsl,
                "val_seen": float(np.mean([p["seen"] for p in plain])),
                "val_unseen": float(np.mean([p["unseen"] for p in plain])),
                "val_h": float(np.mean([p["h"] for p in plain])),
                "stacking_constant": constant,
                "val_cs_seen": cal["seen"],
                "val_cs_unseen": cal["unseen"],
                "val_cs_h": cal["h"],
            }
        )

    def best(key: str) -> dict:
        return max(rows, key=lambda r: r[key])  # first in grid order on ties

    z, g, c = best("val_zsl"), best("val_h"), best("val_cs_h")
    sel = {
        "zsl": {"hp": z["hp"], "val_zsl_top1": z["val_zsl"], "val_zsl_top1_folds": z["val_zsl_folds"]},
        "gzsl": {"hp": g["hp"], "val_seen": g["val_seen"], "val_unseen": g["val_unseen"], "val_h": g["val_h"]},
        "gzsl_calibrated": {
            "hp": c["hp"],
            "stacking_constant": c["stacking_constant"],
            "val_seen": c["val_cs_seen"],
            "val_unseen": c["val_cs_unseen"],
            "val_h": c["val_cs_h"],
        },
    }
    warnings = edge_warnings(sel, "hp", [hp for hp in grid if hp is not None], name="ridge lambda")
    test = dataset.test_task()
    zsl_top1 = zsl_accuracy(make(test, sel["zsl"]["hp"]), test, t)
    test_plain = gzsl_scores(make(test, sel["gzsl"]["hp"]), test, t).evaluate(test)
    constant = sel["gzsl_calibrated"]["stacking_constant"]
    cal = gzsl_scores(make(test, sel["gzsl_calibrated"]["hp"]), test, t).evaluate(test, constant)
    return {
        "method": name,
        "zsl_top1": zsl_top1,
        "gzsl_seen": test_plain["seen"],
        "gzsl_unseen": test_plain["unseen"],
        "gzsl_h": test_plain["h"],
        "calibrated": {
            "stacking_constant": constant,
            "gzsl_seen": cal["seen"],
            "gzsl_unseen": cal["unseen"],
            "gzsl_h": cal["h"],
        },
        "validation": _plain(sel),
        **({"warnings": warnings} if warnings else {}),
        "grid": [_plain(r) for r in rows],
        "seed": seed,
        "protocol": (
            f"hyperparameter and calibration constant selected on the mean over {folds} class-disjoint "
            "validation folds of the seen classes; each test figure computed once"
        ),
    }


def _plain(v: Any) -> Any:
    """JSON-ready: numpy numbers as floats, through dicts and lists."""
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_plain(x) for x in v]
    return float(v) if isinstance(v, (np.floating, float)) else v


def linear_generator_evaluate(
    dataset: ZSLDataset, cfg: Config, seed: int = 0, grid: Sequence[float] = RIDGE_GRID
) -> dict:
    """The linear-generator floor under the leak-free protocol (ridge lambda from ``grid``)."""
    return evaluate_generator(dataset, LinearGenerator, grid, cfg, seed, "linear generator")


def oracle_evaluate(dataset: ZSLDataset, cfg: Config, seed: int = 0) -> dict:
    """The planted generator as the feature generator (semi-synthetic benchmarks only)."""
    planted = PlantedGenerator.load(Path(dataset.source))
    return evaluate_generator(
        dataset, lambda task, _: PlantedOracle(task, planted), [None], cfg, seed, "planted generator (oracle)"
    )
