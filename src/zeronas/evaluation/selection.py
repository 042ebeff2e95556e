"""The selection protocol: every choice is made on validation classes; test is scored once.

- :func:`validation_scores`: the figures of one epoch on one validation fold (ZSL, plain
  GZSL, calibrated GZSL, and each extra GZSL rule of the framework) and its stacking margins.
- :func:`select_epochs`: the epoch per metric (and the stacking constant), on the mean over
  the class-disjoint validation folds (SPEC §3); an extra rule ``key`` gets its own epoch,
  ``gzsl_<key>``, on its validation H.
- :func:`evaluate_test_once`: in the final stage, each test figure at its selected epoch.
- :func:`choose_genotype`: the search's genotype, of the last epoch or of the best one.
- :func:`edge_warnings`: the choices that sit at an edge of the values tried.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from zeronas.config import EvalConfig
from zeronas.data import ZSLTask
from zeronas.errors import ZeroNASError
from zeronas.evaluation.calibration import StackedTask, apply_constant, choose_constant
from zeronas.evaluation.zsl import FeatureGenerator, gzsl_rules, gzsl_scores, rule_scores, zsl_accuracy
from zeronas.nas.genotype import Genotype

#: The accuracies of a scored epoch's row (fractions, as every file keeps them; logs and
#: figures show them in %). The other ``val_*`` key, ``val_cs_constant``, is a constant.
ACCURACY_KEYS = ("val_zsl", "val_seen", "val_unseen", "val_h", "val_cs_seen", "val_cs_unseen", "val_cs_h")
#: An extra GZSL rule ``key``'s figures in a row: ``val_rule_<key>_seen``, ``_unseen``, ``_h``.
RULE_PREFIX = "val_rule_"


def is_accuracy(key: str) -> bool:
    """Whether a row's ``key`` is an accuracy (:data:`ACCURACY_KEYS` or an extra rule's)."""
    return key in ACCURACY_KEYS or (key.startswith(RULE_PREFIX) and key.endswith(("_seen", "_unseen", "_h")))


def _rule_keys(rows: list[dict[str, Any]]) -> list[str]:
    """The extra GZSL rules scored in ``rows`` (their ``val_rule_<key>_h`` columns)."""
    found = {k[len(RULE_PREFIX) : -2] for r in rows for k in r if k.startswith(RULE_PREFIX) and k.endswith("_h")}
    return sorted(found)


def _best(history: list[dict[str, Any]], key: str) -> dict[str, Any]:
    """The row with the highest ``key`` (earliest on ties)."""
    rows = [r for r in history if r.get(key) is not None]
    return max(rows, key=lambda r: (r[key], -r["epoch"]))


def validation_scores(fw: FeatureGenerator, task: ZSLTask, cfg: EvalConfig) -> tuple[dict[str, float], StackedTask]:
    """The figures of one epoch on one validation task (fold): ZSL top-1, GZSL S/U/H, and
    calibrated S/U/H with this fold's best constant; and the stacking margins, from which the
    calibration is chosen jointly over the folds (:func:`select_epochs`)."""
    zsl = zsl_accuracy(fw, task, cfg)
    scores = gzsl_scores(fw, task, cfg)
    stack = scores.stacked(task)
    plain = apply_constant(stack, 0.0)
    constant, cal = choose_constant([stack], cfg.calibration_points)
    row = {
        "val_zsl": zsl,
        "val_seen": plain["seen"],
        "val_unseen": plain["unseen"],
        "val_h": plain["h"],
        "val_cs_constant": constant,
        "val_cs_seen": cal["seen"],
        "val_cs_unseen": cal["unseen"],
        "val_cs_h": cal["h"],
    }
    for key in gzsl_rules(fw):
        r = rule_scores(fw, key, task, cfg)
        row.update({f"{RULE_PREFIX}{key}_{k}": r[k] for k in ("seen", "unseen", "h")})
    return row, stack


def _spread(values: list[float]) -> float:
    return float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


def select_epochs(folds: list[list[dict]], stacks: list[dict[int, StackedTask]], points: int) -> dict[str, dict]:
    """Epochs (and the stacking constant) chosen on the mean over the validation folds.

    Args:
        folds: per fold, its select-stage rows (scored ones carry ``val_*``).
        stacks: per fold, the stacking margins of each scored epoch.
        points: the calibration grid (:func:`zeronas.evaluation.calibration.stacking_constants`).

    Only epochs scored in every fold compete; ties go to the earliest epoch. Each choice
    records the mean validation figures it was made on and, per fold, the figure itself.
    An extra GZSL rule ``key`` scored in the rows (``val_rule_<key>_h``) gets ``gzsl_<key>``:
    the epoch of its best mean validation H.
    """
    scored = [{r["epoch"]: r for r in rows if r.get("val_zsl") is not None} for rows in folds]
    common = set(scored[0])
    for fold_rows, fold_stacks in zip(scored, stacks, strict=True):
        common &= set(fold_rows) & set(fold_stacks)
    epochs = sorted(common)
    if not epochs:
        raise ZeroNASError("no epoch was scored on every validation fold (train.eval_every larger than train.epochs?)")
    rules = _rule_keys([r for fold_rows in scored for r in fold_rows.values()])
    table: list[dict[str, Any]] = []
    for e in epochs:
        rows = [s[e] for s in scored]
        constant, joint = choose_constant([s[e] for s in stacks], points)
        table.append(
            {
                "epoch": e,
                "val_zsl": float(np.mean([r["val_zsl"] for r in rows])),
                "val_zsl_folds": [r["val_zsl"] for r in rows],
                "val_seen": float(np.mean([r["val_seen"] for r in rows])),
                "val_unseen": float(np.mean([r["val_unseen"] for r in rows])),
                "val_h": float(np.mean([r["val_h"] for r in rows])),
                "val_h_folds": [r["val_h"] for r in rows],
                "stacking_constant": constant,
                "val_cs_seen": joint["seen"],
                "val_cs_unseen": joint["unseen"],
                "val_cs_h": joint["h"],
                "val_cs_h_folds": [apply_constant(s[e], constant)["h"] for s in stacks],
                **{
                    f"{RULE_PREFIX}{key}_{k}": float(np.mean([r[f"{RULE_PREFIX}{key}_{k}"] for r in rows]))
                    for key in rules
                    for k in ("seen", "unseen", "h")
                },
                **{f"{RULE_PREFIX}{key}_h_folds": [r[f"{RULE_PREFIX}{key}_h"] for r in rows] for key in rules},
            }
        )
    zsl, gzsl, cal = _best(table, "val_zsl"), _best(table, "val_h"), _best(table, "val_cs_h")
    chosen: dict[str, dict] = {}
    for key in rules:
        p = f"{RULE_PREFIX}{key}_"
        best = _best(table, p + "h")
        chosen[f"gzsl_{key}"] = {
            "epoch": best["epoch"],
            "val_seen": best[p + "seen"],
            "val_unseen": best[p + "unseen"],
            "val_h": best[p + "h"],
            "val_h_folds": best[p + "h_folds"],
            "val_h_std": _spread(best[p + "h_folds"]),
        }
    return {
        "zsl": {
            "epoch": zsl["epoch"],
            "val_zsl_top1": zsl["val_zsl"],
            "val_zsl_top1_folds": zsl["val_zsl_folds"],
            "val_zsl_top1_std": _spread(zsl["val_zsl_folds"]),
        },
        "gzsl": {
            "epoch": gzsl["epoch"],
            "val_seen": gzsl["val_seen"],
            "val_unseen": gzsl["val_unseen"],
            "val_h": gzsl["val_h"],
            "val_h_folds": gzsl["val_h_folds"],
            "val_h_std": _spread(gzsl["val_h_folds"]),
        },
        "gzsl_calibrated": {
            "epoch": cal["epoch"],
            "stacking_constant": cal["stacking_constant"],
            "val_seen": cal["val_cs_seen"],
            "val_unseen": cal["val_cs_unseen"],
            "val_h": cal["val_cs_h"],
            "val_h_folds": cal["val_cs_h_folds"],
            "val_h_std": _spread(cal["val_cs_h_folds"]),
        },
        **chosen,
    }


def edge_warnings(
    selected: dict[str, dict], key: str, tried: Sequence[float], lower: bool = True, name: str = ""
) -> list[str]:
    """One line per choice of ``selected`` whose ``key`` (called ``name`` in the line) is the
    largest of the values ``tried`` (or, with ``lower``, the smallest): the best value may lie
    beyond those tried, so the figure chosen there is a bound, not an optimum. Fewer than 3
    values have no edge to name."""
    values = sorted(set(tried))
    if len(values) < 3:
        return []
    span, name = f"{values[0]:g}..{values[-1]:g}", name or key
    lines = []
    for metric, choice in selected.items():
        v = choice.get(key)
        if v == values[-1]:
            lines.append(f"{metric}: {name} {v:g} is the largest value tried ({span}); the best may lie above it")
        elif lower and v == values[0]:
            lines.append(f"{metric}: {name} {v:g} is the smallest value tried ({span}); the best may lie below it")
    return lines


def evaluate_test_once(
    fw: FeatureGenerator, task: ZSLTask, cfg: EvalConfig, selection: dict, epoch: int, results: dict
) -> None:
    """Add to ``results`` the test figures whose selected epoch is ``epoch``; an extra GZSL
    rule ``key`` of ``fw`` selected as ``gzsl_<key>`` goes to ``results["rules"][key]``."""
    if epoch == selection["zsl"]["epoch"]:
        results["zsl_top1"] = zsl_accuracy(fw, task, cfg)
    want_plain = epoch == selection["gzsl"]["epoch"]
    want_cal = epoch == selection["gzsl_calibrated"]["epoch"]
    if want_plain or want_cal:
        scores = gzsl_scores(fw, task, cfg)
        if want_plain:
            r = scores.evaluate(task)
            results.update(gzsl_seen=r["seen"], gzsl_unseen=r["unseen"], gzsl_h=r["h"])
        if want_cal:
            constant = selection["gzsl_calibrated"]["stacking_constant"]
            r = scores.evaluate(task, constant)
            results["calibrated"] = {
                "stacking_constant": constant,
                "gzsl_seen": r["seen"],
                "gzsl_unseen": r["unseen"],
                "gzsl_h": r["h"],
            }
    for key, label in gzsl_rules(fw).items():
        chosen = selection.get(f"gzsl_{key}")
        if chosen is not None and epoch == chosen["epoch"]:
            r = rule_scores(fw, key, task, cfg)
            results.setdefault("rules", {})[key] = {
                "label": label,
                "gzsl_seen": r["seen"],
                "gzsl_unseen": r["unseen"],
                "gzsl_h": r["h"],
            }


def choose_genotype(history: list[dict], arch_history: list[dict], how: str) -> tuple[Genotype, int]:
    """The last epoch's genotype (``search.select = "last"``; ``"val"`` is the search's own,
    :func:`zeronas.engine.search.choose_by_validation`)."""
    if how != "last":
        raise ZeroNASError(f"search.select must be 'last' or 'val', not {how!r}")
    entry = arch_history[-1]
    return Genotype.from_dict(entry["genotype_dict"]), entry["epoch"]
