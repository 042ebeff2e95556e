"""Calibrated stacking (Chao et al., ECCV 2016): a constant subtracted from seen-class scores."""

from __future__ import annotations

from zeronas.data import ZSLTask
from zeronas.evaluation.zsl import GZSLScores


def choose_calibration(scores: GZSLScores, task: ZSLTask, grid: int) -> tuple[float, dict[str, float]]:
    """Calibrated stacking (Chao et al. 2016): the constant with the best H on ``task``.

    Call it on the validation task only; the constant is then applied unchanged to test.
    """
    best: tuple[float, dict[str, float]] | None = None
    for k in range(grid):
        constant = k / max(grid - 1, 1)
        res = scores.evaluate(task, constant)
        if best is None or res["h"] > best[1]["h"]:
            best = (constant, res)
    assert best is not None
    return best
