"""The selection protocol: every choice is made on validation classes; test is scored once.

- :func:`validation_scores`: the figures of one epoch on the validation task (ZSL, plain
  GZSL, and calibrated GZSL with its stacking constant).
- :func:`select_epochs`: the epoch per metric (and the stacking constant), from those rows.
- :func:`evaluate_test_once`: in the final stage, each test figure at its selected epoch.
- :func:`choose_genotype`: the search's genotype, of the last epoch or of the best one.
"""

from __future__ import annotations

from zeronas.config import EvalConfig
from zeronas.data import ZSLTask
from zeronas.errors import ZeroNASError
from zeronas.evaluation.calibration import choose_calibration
from zeronas.evaluation.zsl import FeatureGenerator, gzsl_scores, zsl_accuracy
from zeronas.nas.genotype import Genotype


def _best(history: list[dict], key: str) -> dict:
    """The row with the highest ``key`` (earliest on ties)."""
    rows = [r for r in history if r.get(key) is not None]
    return max(rows, key=lambda r: (r[key], -r["epoch"]))


def validation_scores(fw: FeatureGenerator, task: ZSLTask, cfg: EvalConfig) -> dict[str, float]:
    """ZSL top-1, GZSL S/U/H, and calibrated S/U/H with the best constant, on ``task``."""
    zsl = zsl_accuracy(fw, task, cfg)
    scores = gzsl_scores(fw, task, cfg)
    plain = scores.evaluate(task)
    constant, cal = choose_calibration(scores, task, cfg.calibration_grid)
    return {
        "val_zsl": zsl,
        "val_seen": plain["seen"],
        "val_unseen": plain["unseen"],
        "val_h": plain["h"],
        "val_cs_constant": constant,
        "val_cs_seen": cal["seen"],
        "val_cs_unseen": cal["unseen"],
        "val_cs_h": cal["h"],
    }


def select_epochs(history: list[dict]) -> dict[str, dict]:
    """Epochs (and the stacking constant) chosen on validation scores only."""
    zsl, gzsl, cal = _best(history, "val_zsl"), _best(history, "val_h"), _best(history, "val_cs_h")
    return {
        "zsl": {"epoch": zsl["epoch"], "val_zsl_top1": zsl["val_zsl"]},
        "gzsl": {
            "epoch": gzsl["epoch"],
            "val_seen": gzsl["val_seen"],
            "val_unseen": gzsl["val_unseen"],
            "val_h": gzsl["val_h"],
        },
        "gzsl_calibrated": {
            "epoch": cal["epoch"],
            "stacking_constant": cal["val_cs_constant"],
            "val_seen": cal["val_cs_seen"],
            "val_unseen": cal["val_cs_unseen"],
            "val_h": cal["val_cs_h"],
        },
    }


def evaluate_test_once(
    fw: FeatureGenerator, task: ZSLTask, cfg: EvalConfig, selection: dict, epoch: int, results: dict
) -> None:
    """Add to ``results`` the test figures whose selected epoch is ``epoch``."""
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


def choose_genotype(history: list[dict], arch_history: list[dict], how: str) -> tuple[Genotype, int]:
    """The last epoch's genotype, or (``val``) that of the epoch whose supernet generator
    scored best on the validation classes (earliest on ties)."""
    if how == "last":
        entry = arch_history[-1]
    elif how == "val":
        scored = [r for r in history if r.get("val_zsl") is not None]
        if not scored:
            raise ZeroNASError("search.select = 'val' needs search.eval_every > 0")
        best = _best(scored, "val_zsl")["epoch"]
        entry = next(a for a in arch_history if a["epoch"] == best)
    else:
        raise ZeroNASError(f"search.select must be 'last' or 'val', not {how!r}")
    return Genotype.from_dict(entry["genotype_dict"]), entry["epoch"]
