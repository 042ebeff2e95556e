"""The selection protocol on hand-made rows: epochs chosen on the mean over the validation
folds (earliest on ties, scored epochs only, common to every fold), the calibrated choice on
the stacking margins, the test figures at their selected epochs only, and the search's
genotype choice (``search.select``)."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import numpy as np
import pytest
import torch

import zeronas.evaluation.selection as selection_module
from tests.evaluation.test_calibration import separable
from tests.evaluation.test_zsl import CFG, Prototypes, make_task
from zeronas.config import Config, EvalConfig
from zeronas.errors import ZeroNASError
from zeronas.evaluation import choose_genotype, edge_warnings, evaluate_test_once, select_epochs, validation_scores
from zeronas.evaluation.calibration import StackedTask, apply_constant, choose_constant
from zeronas.nas.genotype import fixed_genotype

BLIND = separable([0.1, -0.1], [0.1, -0.1])  # no constant separates: H at most 1/2
SHARP = separable([0.5, 0.6], [0.1, 0.2])  # H = 1 for c in [0.2, 0.5)


def row(epoch: int, zsl: float | None = None, h: float = 0.0, stage: str = "select") -> dict:
    """A select-stage row; without ``zsl`` an epoch that was not scored."""
    r: dict = {"stage": stage, "epoch": epoch, "critic_loss": -1.0}
    if zsl is not None:
        r.update(val_zsl=zsl, val_seen=0.9, val_unseen=0.1, val_h=h)
    return r


def test_the_mean_over_folds_decides_not_a_single_fold():
    folds = [[row(1, 0.9), row(2, 0.5)], [row(1, 0.1), row(2, 0.6)]]  # means 0.5, 0.55
    stacks = [{1: BLIND, 2: BLIND}, {1: BLIND, 2: BLIND}]
    sel = select_epochs(folds, stacks, 11)
    assert sel["zsl"]["epoch"] == 2
    assert sel["zsl"]["val_zsl_top1"] == pytest.approx(0.55)
    assert sel["zsl"]["val_zsl_top1_folds"] == [0.5, 0.6]
    assert sel["zsl"]["val_zsl_top1_std"] == pytest.approx(np.std([0.5, 0.6], ddof=1))


def test_ties_go_to_the_earliest_epoch():
    folds = [[row(e, 0.5, h=0.3) for e in (1, 2, 3)], [row(e, 0.7, h=0.3) for e in (1, 2, 3)]]
    stacks = [{e: SHARP for e in (1, 2, 3)}] * 2
    sel = select_epochs(folds, stacks, 11)
    assert [sel[k]["epoch"] for k in ("zsl", "gzsl", "gzsl_calibrated")] == [1, 1, 1]
    # and a later epoch wins only when strictly better
    folds[0][2] = row(3, 0.5 + 1e-9, h=0.3)
    assert select_epochs(folds, stacks, 11)["zsl"]["epoch"] == 3


def test_rows_without_validation_scores_never_compete():
    """``train.eval_every`` > 1 leaves unscored rows; the last epoch is always scored."""
    folds = [[row(1), row(2, 0.4), row(3), row(4, 0.6)]] * 2
    stacks = [{2: BLIND, 4: BLIND}] * 2
    sel = select_epochs(folds, stacks, 11)
    assert sel["zsl"]["epoch"] == 4
    for choice in sel.values():
        assert choice["epoch"] in (2, 4)


def test_plain_and_calibrated_gzsl_are_chosen_on_their_own_figures():
    """val_h (plain GZSL, from the rows) picks epoch 1; the calibrated H, computed from the
    stacking margins, picks epoch 2; ZSL picks epoch 3."""
    folds = [[row(1, 0.2, h=0.8), row(2, 0.3, h=0.1), row(3, 0.9, h=0.2)]] * 2
    stacks = [{1: BLIND, 2: SHARP, 3: BLIND}] * 2
    sel = select_epochs(folds, stacks, 11)
    assert (sel["zsl"]["epoch"], sel["gzsl"]["epoch"], sel["gzsl_calibrated"]["epoch"]) == (3, 1, 2)
    assert sel["gzsl"]["val_h"] == pytest.approx(0.8)
    cal = sel["gzsl_calibrated"]
    assert cal["val_h"] == 1.0 and 0.2 <= cal["stacking_constant"] < 0.5
    assert cal["val_h_folds"] == [1.0, 1.0]


def test_the_stacking_constant_is_chosen_jointly_over_the_folds():
    a = separable([0.5, 0.6], [0.1, 0.2])
    b = separable([0.05, 0.9], [0.0, 0.3])
    folds = [[row(1, 0.5)], [row(1, 0.5)]]
    sel = select_epochs(folds, [{1: a}, {1: b}], 21)["gzsl_calibrated"]
    constant, joint = choose_constant([a, b], 21)
    assert sel["stacking_constant"] == constant and sel["val_h"] == joint["h"]
    assert sel["val_h_folds"] == [apply_constant(a, constant)["h"], apply_constant(b, constant)["h"]]
    assert sel["val_h_std"] == pytest.approx(np.std(sel["val_h_folds"], ddof=1))


def test_only_epochs_scored_in_every_fold_compete():
    # epoch 2 is the best of fold 0 but was not scored in fold 1; epoch 3 has no margins in fold 0
    folds = [[row(1, 0.3), row(2, 0.99), row(3, 0.9)], [row(1, 0.3), row(2), row(3, 0.9)]]
    stacks = [{1: BLIND, 2: BLIND}, {1: BLIND, 2: BLIND, 3: BLIND}]
    sel = select_epochs(folds, stacks, 11)
    assert {c["epoch"] for c in sel.values()} == {1}
    message = "no epoch was scored on every validation fold (train.eval_every larger than train.epochs?)"
    with pytest.raises(ZeroNASError, match="^" + re.escape(message) + "$"):
        select_epochs([[row(1, 0.3)], [row(2, 0.3)]], [{1: BLIND}, {2: BLIND}], 11)


def test_every_fold_needs_its_stacking_margins():
    """One list of margins per fold: a fold without its own is a caller's error, not a fold
    silently left out of the calibrated choice."""
    folds = [[row(1, 0.3)], [row(1, 0.4)]]
    with pytest.raises(ValueError, match="zip"):
        select_epochs(folds, [{1: SHARP}], 11)


def test_every_reported_figure_belongs_to_the_selected_epoch():
    """Each choice reports the fold mean of its own figures at its own epoch, with distinct
    values per fold and epoch, so that a figure read from another key, epoch or fold shows."""

    def r(epoch: int, zsl: float, seen: float, unseen: float, h: float) -> dict:
        return {"stage": "select", "epoch": epoch, "val_zsl": zsl, "val_seen": seen, "val_unseen": unseen, "val_h": h}

    folds = [
        [r(1, 0.2, 0.9, 0.1, 0.3), r(2, 0.6, 0.7, 0.3, 0.1)],
        [r(1, 0.4, 0.5, 0.2, 0.5), r(2, 0.8, 0.6, 0.4, 0.2)],
    ]
    stacks = [{1: BLIND, 2: SHARP}, {1: BLIND, 2: SHARP}]
    sel = select_epochs(folds, stacks, 11)
    z, g, c = sel["zsl"], sel["gzsl"], sel["gzsl_calibrated"]
    assert set(z) == {"epoch", "val_zsl_top1", "val_zsl_top1_folds", "val_zsl_top1_std"}
    assert z["epoch"] == 2 and z["val_zsl_top1"] == pytest.approx(0.7) and z["val_zsl_top1_folds"] == [0.6, 0.8]
    assert z["val_zsl_top1_std"] == pytest.approx(np.std([0.6, 0.8], ddof=1))
    assert set(g) == {"epoch", "val_seen", "val_unseen", "val_h", "val_h_folds", "val_h_std"}
    assert g["epoch"] == 1 and g["val_h_folds"] == [0.3, 0.5]
    assert (g["val_seen"], g["val_unseen"], g["val_h"]) == pytest.approx((0.7, 0.15, 0.4))
    assert g["val_h_std"] == pytest.approx(np.std([0.3, 0.5], ddof=1))
    constant, joint = choose_constant([SHARP, SHARP], 11)
    assert c == {
        "epoch": 2,
        "stacking_constant": constant,
        "val_seen": joint["seen"],
        "val_unseen": joint["unseen"],
        "val_h": joint["h"],
        "val_h_folds": [1.0, 1.0],
        "val_h_std": 0.0,
    }
    assert joint["h"] == 1.0


def test_one_fold_reports_no_spread():
    sel = select_epochs([[row(1, 0.4, h=0.2)]], [{1: SHARP}], 11)
    assert sel["zsl"]["val_zsl_top1_std"] == 0.0 and sel["gzsl"]["val_h_std"] == 0.0


# --------------------------------------------------------------------------- one epoch's validation figures


def test_validation_scores_of_one_epoch_on_one_fold():
    """Unseen images that look exactly like seen class 4: ZSL (unseen classes only) labels them
    all one unseen class (1/2), plain GZSL all class 4 (S = 1, U = 0); the calibrated
    figures and the returned margins are the fold's own (its best constant)."""
    task = make_task(unseen_look_like=4)
    torch.manual_seed(0)
    row, stack = validation_scores(Prototypes(), task, CFG)
    assert isinstance(stack, StackedTask)
    assert stack.seen_y.tolist() == task.test_seen_y.tolist()
    assert stack.unseen_y.tolist() == task.test_unseen_y.tolist()
    constant, cal = choose_constant([stack], CFG.calibration_points)
    assert row == {
        "val_zsl": 0.5,
        "val_seen": 1.0,
        "val_unseen": 0.0,
        "val_h": 0.0,
        "val_cs_constant": constant,
        "val_cs_seen": cal["seen"],
        "val_cs_unseen": cal["unseen"],
        "val_cs_h": cal["h"],
    }
    assert apply_constant(stack, 0.0) == {"seen": 1.0, "unseen": 0.0, "h": 0.0}
    assert cal["h"] > 0.0  # some constant moves unseen images to their classes


# --------------------------------------------------------------------------- test once


FW, TASK, TEST_CFG = object(), object(), EvalConfig()  # what evaluate_test_once is given
SCORED_ON: list = []  # the task each FakeScores/Scores was evaluated on


class FakeScores:
    """GZSL scores whose S/U/H tell the constant they were evaluated with."""

    def evaluate(self, task, stacking_constant: float = 0.0) -> dict[str, float]:
        SCORED_ON.append(task)
        return {"seen": 0.5, "unseen": stacking_constant, "h": 0.25}


def spy_test_once(monkeypatch, selection: dict, epochs: int, scores, check=None) -> tuple[list, dict]:
    """Run ``evaluate_test_once`` over epochs 1..``epochs`` with spies for the two scorings
    (ZSL gives 0.7, GZSL ``scores(epoch)``); ``check(epoch, results)`` after each epoch.
    Returns the scorings made, as (kind, epoch), and the results; checks that every scoring
    and every evaluation got the generator, task and settings given."""
    calls: list[tuple[str, int]] = []
    given: list[tuple] = []
    now = {"epoch": 0}

    def zsl(fw, task, cfg):
        calls.append(("zsl", now["epoch"]))
        given.append((fw, task, cfg))
        return 0.7

    def gzsl(fw, task, cfg):
        calls.append(("gzsl", now["epoch"]))
        given.append((fw, task, cfg))
        return scores(now["epoch"])

    monkeypatch.setattr(selection_module, "zsl_accuracy", zsl)
    monkeypatch.setattr(selection_module, "gzsl_scores", gzsl)
    SCORED_ON.clear()
    results: dict = {}
    for e in range(1, epochs + 1):
        now["epoch"] = e
        evaluate_test_once(FW, TASK, TEST_CFG, selection, e, results)  # type: ignore[arg-type]
        if check is not None:
            check(e, results)
    assert all(g[0] is FW and g[1] is TASK and g[2] is TEST_CFG for g in given) and len(given) == len(calls)
    assert SCORED_ON and all(t is TASK for t in SCORED_ON)
    return calls, results


def test_test_figures_are_scored_at_their_selected_epochs_only(monkeypatch):
    def nothing_at_epoch_1(epoch: int, results: dict) -> None:
        if epoch == 1:
            assert results == {}

    selection = {"zsl": {"epoch": 2}, "gzsl": {"epoch": 3}, "gzsl_calibrated": {"epoch": 3, "stacking_constant": 0.4}}
    calls, results = spy_test_once(monkeypatch, selection, 4, lambda epoch: FakeScores(), nothing_at_epoch_1)
    assert calls == [("zsl", 2), ("gzsl", 3)]  # one GZSL classifier for both GZSL figures
    assert results == {
        "zsl_top1": 0.7,
        "gzsl_seen": 0.5,
        "gzsl_unseen": 0.0,  # plain: constant 0
        "gzsl_h": 0.25,
        "calibrated": {"stacking_constant": 0.4, "gzsl_seen": 0.5, "gzsl_unseen": 0.4, "gzsl_h": 0.25},
    }


def test_plain_and_calibrated_gzsl_at_different_epochs_each_get_their_own_classifier(monkeypatch):
    class Scores:
        def __init__(self, at: int):
            self.at = at

        def evaluate(self, task, stacking_constant: float = 0.0) -> dict[str, float]:
            SCORED_ON.append(task)
            return {"seen": self.at / 10, "unseen": stacking_constant, "h": self.at / 100}

    selection = {"zsl": {"epoch": 5}, "gzsl": {"epoch": 2}, "gzsl_calibrated": {"epoch": 4, "stacking_constant": 0.3}}
    calls, results = spy_test_once(monkeypatch, selection, 5, Scores)
    assert calls == [("gzsl", 2), ("gzsl", 4), ("zsl", 5)]
    assert (results["gzsl_seen"], results["gzsl_unseen"], results["gzsl_h"]) == (0.2, 0.0, 0.02)
    assert results["calibrated"] == {"stacking_constant": 0.3, "gzsl_seen": 0.4, "gzsl_unseen": 0.3, "gzsl_h": 0.04}


# --------------------------------------------------------------------------- the search's genotype


def arch_entry(epoch: int, hidden: int) -> dict:
    return {"epoch": epoch, "genotype_dict": fixed_genotype(hidden).to_dict()}


ARCH = [arch_entry(e, 10 * e) for e in (1, 2, 3, 4)]


def test_select_last_takes_the_final_epochs_genotype():
    geno, epoch = choose_genotype([{"epoch": e, "val_zsl": 0.9} for e in (1, 2, 3, 4)], ARCH, "last")
    assert (geno, epoch) == (fixed_genotype(40), 4)


def test_select_needs_a_known_rule():
    with pytest.raises(ZeroNASError, match="'last' or 'val'"):
        choose_genotype([{"epoch": 1}], ARCH[:1], "best")


def choose_by_validation(monkeypatch, run_dir: Path, arch: list[dict], scores: dict[int, float], **settings) -> tuple:
    """``search.select = "val"`` over ``arch`` with the fold retraining replaced by a table of
    mean validation ZSL per FIX width; also returns the epochs validated, in order."""
    search_module = importlib.import_module("zeronas.engine.search")
    validated: list[int] = []

    def validate(dataset, genotype, cfg, seed, where, device, resume, log):
        validated.append(int(where.name.removeprefix("epoch")))
        width = next(w for w in scores if fixed_genotype(w) == genotype)
        return {"zsl": {"val_zsl_top1": scores[width]}}

    monkeypatch.setattr(search_module, "validate_genotype", validate)
    cfg = Config()
    for key, value in settings.items():
        cfg.set(f"search.{key}", value, "test")
    genotype, epoch, scored = search_module.choose_by_validation(
        None, cfg, arch, 0, run_dir, None, False, lambda m: None
    )
    return genotype, epoch, scored, validated


def test_select_val_validates_the_last_distinct_genotypes_and_keeps_the_best_latest_on_ties(monkeypatch, tmp_path):
    """Protects ``search.select = "val"``: candidates are the distinct genotypes of the last
    epochs (latest first, a repeated genotype validated once, at most ``val_candidates``,
    none from the warm-up), the best mean validation ZSL wins, the latest on ties."""
    arch = [arch_entry(e, w) for e, w in ((1, 10), (2, 20), (3, 30), (4, 30), (5, 40))]
    scores = {10: 0.99, 20: 0.9, 30: 0.5, 40: 0.5}
    genotype, epoch, scored, validated = choose_by_validation(monkeypatch, tmp_path, arch, scores, val_candidates=2)
    assert validated == [5, 4]  # epoch 3 repeats epoch 4's genotype; epoch 2 is one too many
    assert (genotype, epoch) == (fixed_genotype(40), 5)  # a tie: the latest
    assert scored == [{"epoch": 5, "val_zsl_top1": 0.5}, {"epoch": 4, "val_zsl_top1": 0.5}]
    _, epoch, _, validated = choose_by_validation(monkeypatch, tmp_path, arch, scores, val_candidates=3)
    assert (validated, epoch) == ([5, 4, 2], 2)
    _, epoch, _, validated = choose_by_validation(
        monkeypatch, tmp_path, arch, scores, val_candidates=9, warmup_epochs=2
    )
    assert (validated, epoch) == ([5, 4], 5)  # epochs 1-2 are the warm-up
    _, epoch, _, validated = choose_by_validation(
        monkeypatch, tmp_path, arch[:2], scores, val_candidates=9, warmup_epochs=2
    )
    assert (validated, epoch) == ([2, 1], 1)  # all warm-up: every epoch is a candidate


def test_choices_at_an_edge_of_the_values_tried_are_named():
    grid = (1e-3, 1e-1, 10.0)
    chosen = {"zsl": {"gamma": 1e-3}, "gzsl": {"gamma": 1e-1}, "gzsl_calibrated": {"gamma": 10.0}}
    assert edge_warnings(chosen, "gamma", grid) == [
        "zsl: gamma 0.001 is the smallest value tried (0.001..10); the best may lie below it",
        "gzsl_calibrated: gamma 10 is the largest value tried (0.001..10); the best may lie above it",
    ]
    # epochs: only the last one trained is an edge; the name shown can differ from the key
    epochs = {"zsl": {"epoch": 1}, "gzsl": {"epoch": 5}}
    assert edge_warnings(epochs, "epoch", [1, 2, 3, 4, 5], lower=False, name="GAN epoch") == [
        "gzsl: GAN epoch 5 is the largest value tried (1..5); the best may lie above it"
    ]
    assert edge_warnings(epochs, "epoch", [1, 5]) == []  # two values have no inside to prefer
