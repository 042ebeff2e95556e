"""Training a generator/critic pair with a framework's losses (Eq. 1 for f-CLSWGAN), and
the leak-free protocol.

:func:`train_and_evaluate` runs two kinds of stages, each resumable from its checkpoint:

1. ``select`` (one per validation fold, ``select0``, ``select1``, ... when ``eval.folds >
   1``): train on the fold's validation task (its classes held out as "unseen"), score ZSL
   and GZSL on them after every ``eval_every`` epochs. The epoch for ZSL, for GZSL and for
   calibrated GZSL (with its stacking constant) is picked on the mean over the folds.
2. ``final``: train from scratch on all seen training data and evaluate the test task
   once per metric, at the selected epochs.

FIX and NAS use this same code: they differ only in the genotype; the frameworks differ
only in their :class:`~zeronas.frameworks.Framework`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import cast

import torch

from zeronas.config import Config, differences, result_settings
from zeronas.data import ZSLDataset, ZSLTask
from zeronas.engine.runner import EpochRunner, Stage
from zeronas.engine.session import Session, epoch_iterations_of
from zeronas.errors import ZeroNASError
from zeronas.evaluation import edge_warnings, evaluate_test_once, select_epochs, validation_scores
from zeronas.evaluation.calibration import StackedTask
from zeronas.frameworks import Framework, framework_sections
from zeronas.nas.genotype import Genotype
from zeronas.runs import CHECKPOINT, Log, load_checkpoint, write_json

#: What :func:`validate_genotype` writes: the selection on the validation folds.
VALIDATION = "validation.json"

#: ``score(session, epoch)``: what an epoch adds to its row once trained (validation scores).
Score = Callable[[Session, int], dict]

PROTOCOL = (
    "epochs and the stacking constant were selected on the mean over class-disjoint validation folds "
    "of the seen classes (all from trainval); each test figure was computed once, at its selected epoch"
)


def stat_names(kind: type[Framework]) -> tuple[str, ...]:
    """Columns of a training epoch's row: the critic's loss and figures, then the generator's."""
    critic = ("critic_loss", *kind.critic_stats) if kind.uses_critic else ()
    return critic + ("generator_loss", *kind.generator_stats)


def train_epoch(session: Session, tick: Callable[[], None] | None = None) -> dict[str, float]:
    """One epoch: ``n_train / batch`` iterations of ``critic_iters`` critic steps and one G
    step (``tick()`` after each); the row holds the last critic step's figures and the G step's,
    averaged."""
    loop, fw = session.loop, session.fw
    fw.train()
    names = stat_names(type(fw))
    iters = session.iterations("train")
    sums = torch.zeros(len(names), device=session.device)
    for _ in range(iters):
        row: list[torch.Tensor] = []
        if session.D is not None:
            for _ in range(loop.critic_iters):
                critic = session.step("w_d", fw.critic_loss, "train")
            row += critic
        row += session.step("w_g", fw.generator_loss, "train")
        sums += torch.stack(row)
        if tick is not None:
            tick()
    return dict(zip(names, (sums / iters).tolist(), strict=True))


class TrainStage(Stage):
    """Epochs of training a pair, each scored by ``score``."""

    def __init__(self, name: str, session: Session, stop: int, label: str, score: Score):
        super().__init__(name, session, stop, label)
        self.score = score

    def iterations(self) -> int:
        return self.session.iterations("train")

    def train_epoch(self, epoch: int) -> dict[str, float]:
        return train_epoch(self.session, self.tick)

    def row(self, epoch: int, losses: dict[str, float]) -> dict:
        scores = self.score(self.session, epoch)
        return {**super().row(epoch, losses), **scores}


def train_stage(
    runner: EpochRunner,
    name: str,
    task: ZSLTask,
    seed: int,
    genotype: Genotype,
    cfg: Config,
    device: torch.device,
    stop: int,
    score: Score,
    label: str = "",
    epoch_rows: int | None = None,
) -> Session:
    """Train ``genotype`` on ``task`` from ``seed`` for epochs up to ``stop`` (resuming when
    the runner's checkpoint is of stage ``name``), an epoch passing over ``epoch_rows`` rows
    (default: the task's training rows); returns the trained session."""
    session, start = runner.open(
        name, seed, lambda: Session(cfg, task, device, genotype, cfg.train, epoch_rows=epoch_rows)
    )
    runner.run(TrainStage(name, session, stop, label, score), start)
    return session


def select_stage(
    runner: EpochRunner,
    task: ZSLTask,
    seed: int,
    genotype: Genotype,
    cfg: Config,
    device: torch.device,
    name: str = "select",
    epoch_rows: int | None = None,
) -> tuple[list[dict], dict[int, StackedTask]]:
    """Train on one validation fold, scoring it every ``eval_every`` epochs, an epoch passing
    over ``epoch_rows`` rows (default: the fold's own); returns its rows and the stacking
    margins of its scored epochs (kept in the runner's state, so that a resumed run still has
    those of its finished folds)."""
    t = cfg.train
    kept: dict[str, dict] = runner.state.setdefault("stacks", {})  # type: ignore[assignment]
    mine = kept.setdefault(name, {})

    def score(session: Session, epoch: int) -> dict:
        if epoch % t.eval_every == 0 or epoch == t.epochs:
            row, stack = validation_scores(session.fw, session.task, cfg.eval)
            mine[str(epoch)] = stack.to_state()
            return row
        return {}

    label = f"{name} (validation classes)"
    train_stage(runner, name, task, seed, genotype, cfg, device, t.epochs, score, label, epoch_rows)
    rows = [r for r in runner.history if r["stage"] == name]
    return rows, {int(e): StackedTask.from_state(st) for e, st in mine.items()}


def final_rows(dataset: ZSLDataset) -> int:
    """Rows of the final training: every seen training (``trainval``) row; no test row is read."""
    return int(dataset.raw.splits["trainval"].size)


def fold_epoch_rows(dataset: ZSLDataset, config: Config) -> int | None:
    """Rows a validation fold's epoch passes over: its own (None), or with ``train.fold_epoch =
    "final"`` the final training's, so that a fold's epoch has as many iterations as the final
    training's and a selected epoch stands for the same number of steps in both."""
    return final_rows(dataset) if config.train.fold_epoch == "final" else None


def epoch_iterations(dataset: ZSLDataset, config: Config) -> dict[str, object]:
    """Iterations per epoch of each validation fold's training and of the final training."""
    batch, folds, rows = config.train.batch_size, config.eval.folds, fold_epoch_rows(dataset, config)
    own = [dataset.validation_split(f, folds)["train"].size for f in range(folds)]
    return {
        "folds": [epoch_iterations_of(rows if rows is not None else n, batch) for n in own],
        "final": epoch_iterations_of(final_rows(dataset), batch),
        "fold_epoch": config.train.fold_epoch,
    }


def fold_stages(folds: int) -> list[str]:
    """Stage names of the select trainings: ``select`` for one fold, ``select0``.. otherwise."""
    return ["select"] if folds == 1 else [f"select{f}" for f in range(folds)]


def select_on_folds(
    runner: EpochRunner, dataset: ZSLDataset, genotype: Genotype, config: Config, seed: int, device: torch.device
) -> dict:
    """The select stages, one per validation fold (seeds ``seed``, ``seed + 1000``, ...;
    resuming the fold of the runner's checkpoint, finished folds kept), and the epochs and
    stacking constant chosen on their mean (:func:`~zeronas.evaluation.select_epochs`)."""
    folds = config.eval.folds
    runner.state.setdefault("stacks", runner.restored("stacks", {}))
    names = fold_stages(folds)
    epoch_rows = fold_epoch_rows(dataset, config)
    start = names.index(runner.saved_stage) if runner.saved_stage in names else 0
    rows, stacks = [], []
    for f, name in enumerate(names):
        if f < start:  # finished before the checkpoint resumed from
            rows.append([r for r in runner.history if r["stage"] == name])
            kept = cast(dict[str, dict], runner.state["stacks"])[name]
            stacks.append({int(e): StackedTask.from_state(st) for e, st in kept.items()})
            continue
        task = dataset.validation_task(f, folds)
        fold_rows, fold_stacks = select_stage(runner, task, seed + 1000 * f, genotype, config, device, name, epoch_rows)
        rows.append(fold_rows)
        stacks.append(fold_stacks)
    selection = select_epochs(rows, stacks, config.eval.calibration_points)
    runner.state["selection"] = selection
    runner.state["stacks"] = {}  # no longer needed: keep checkpoints small
    return selection


def epoch_warnings(runner: EpochRunner, selection: dict, folds: int, log: Log) -> list[str]:
    """The metrics whose epoch is the last one the folds scored (their figure may still be
    rising: more ``train.epochs`` may score higher), each logged as a warning."""
    stages = set(fold_stages(folds))
    scored = [r["epoch"] for r in runner.history if r["stage"] in stages and r.get("val_zsl") is not None]
    warnings = edge_warnings(selection, "epoch", scored, lower=False)
    for line in warnings:
        log(f"warning: {line}")
    return warnings


def validate_genotype(
    dataset: ZSLDataset,
    genotype: Genotype,
    config: Config,
    seed: int,
    run_dir: Path,
    device: torch.device,
    resume: bool = False,
    log: Log = print,
) -> dict:
    """Only the select stages of :func:`train_and_evaluate`: the genotype's selection on the
    validation folds (its mean validation figures), without touching test data. Writes
    ``run_dir/validation.json``; a finished directory is read back, not recomputed."""
    done = run_dir / VALIDATION
    changed = ", ".join(f"{k} {old} -> {new}" for k, (old, new) in fold_settings_changes(run_dir, config).items())
    if changed:
        raise ZeroNASError(
            f"{run_dir}: these validation folds were trained with other settings ({changed}); "
            "a validation is never mixed with another configuration's: start a new run with --out"
        )
    if done.is_file():
        return cast(dict, json.loads(done.read_text()))
    runner = EpochRunner(run_dir, "validate", "history.csv", config.train, log=log, resume=resume)
    write_json(run_dir / FOLD_SETTINGS, _fold_settings(config))
    selection = select_on_folds(runner, dataset, genotype, config, seed, device)
    epoch_warnings(runner, selection, config.eval.folds, log)
    write_json(done, selection)
    return selection


#: Beside ``validation.json``: the settings the folds were trained with, for :func:`adopt_selection`.
FOLD_SETTINGS = "fold_settings.json"


def training_sections(config: Config) -> list[str]:
    """The config sections a training reads: ``[model]``, ``[train]``, ``[eval]`` and its
    framework's."""
    return ["model", "train", "eval", *framework_sections(config.model.framework)]


def _fold_settings(config: Config) -> dict:
    """The settings a fold training's result depends on, as JSON stores them."""
    return cast(dict, json.loads(json.dumps(result_settings(config, training_sections(config)))))


def fold_settings_changes(run_dir: Path, config: Config) -> dict[str, tuple[object, object]]:
    """``{dotted: (recorded, config's)}``: how ``config`` differs from the settings ``run_dir``'s
    folds were trained with (empty when they agree or none are recorded)."""
    kept = run_dir / FOLD_SETTINGS
    if not kept.is_file():
        return {}
    return differences(json.loads(kept.read_text()), _fold_settings(config))


def adopt_selection(runner: EpochRunner, validated: Path, config: Config) -> dict | None:
    """The selection that :func:`validate_genotype` made in ``validated``, with its select
    rows, taken into ``runner`` as if its own select stages had run; None when it is missing
    or was made with other settings (a run resumed with ``--set train.epochs=...`` or
    ``train.eval_every``)."""
    if not all((validated / f).is_file() for f in (VALIDATION, CHECKPOINT, FOLD_SETTINGS)):
        return None
    if fold_settings_changes(validated, config):
        return None
    rows = load_checkpoint(validated / CHECKPOINT)["history"]
    selection = cast(dict, json.loads((validated / VALIDATION).read_text()))
    runner.history[:] = rows
    runner.epoch_log.write(runner.history)
    runner.state["selection"] = selection
    return selection


def train_and_evaluate(
    dataset: ZSLDataset,
    genotype: Genotype,
    config: Config,
    seed: int,
    run_dir: Path,
    device: torch.device,
    resume: bool = False,
    log: Log = print,
    on_epoch: Callable[[str, int, Session], None] | None = None,
    validated: Path | None = None,
) -> dict:
    """Select on the validation folds, then train on all seen classes and test once (resuming
    from ``run_dir/checkpoint.pt`` if asked); returns the metrics.

    One training per fold (``eval.folds``, seeds ``seed``, ``seed + 1000``, ...), each scored
    on its fold's classes; the epochs and the stacking constant are chosen on the mean over
    the folds. The final training (seed ``seed + 1``) evaluates the test task once per metric.
    ``validated``: a directory where :func:`validate_genotype` already ran these folds for this
    genotype, config and seed (a candidate of the search's ``select = "val"``); its selection
    and rows are taken instead of training the folds again, which gives the same result.
    """
    t, folds = config.train, config.eval.folds
    runner = EpochRunner(run_dir, "train", "history.csv", t, log=log, resume=resume)
    if on_epoch:
        runner.on_epoch.append(on_epoch)
    selection: dict | None = runner.restored("selection", None)
    results: dict = runner.restored("results", {})
    runner.state.update(selection=selection, results=results)
    if (runner.saved_stage or "select") != "final":
        selection = adopt_selection(runner, validated, config) if validated is not None else None
        if selection is None:
            selection = select_on_folds(runner, dataset, genotype, config, seed, device)
        log(
            f"selected on {folds} validation fold(s): "
            + ", ".join(f"{k} epoch {v['epoch']}" for k, v in selection.items())
        )

    assert selection is not None
    chosen = selection

    def test_once(session: Session, epoch: int) -> dict:
        evaluate_test_once(session.fw, session.task, config.eval, chosen, epoch, results)
        return {}

    last = max(v["epoch"] for v in selection.values())
    train_stage(
        runner,
        "final",
        dataset.test_task(),
        seed + 1,
        genotype,
        config,
        device,
        last,
        test_once,
        "final (all seen classes)",
    )

    metrics = {
        "zsl_top1": results["zsl_top1"],
        "gzsl_seen": results["gzsl_seen"],
        "gzsl_unseen": results["gzsl_unseen"],
        "gzsl_h": results["gzsl_h"],
        "calibrated": results["calibrated"],
        **({"rules": results["rules"]} if results.get("rules") else {}),
        "selected_epoch": {k: v["epoch"] for k, v in selection.items()},
        "iterations_per_epoch": epoch_iterations(dataset, config),
        "validation": selection,
        "validation_folds": folds,
        "seed": seed,
        "protocol": PROTOCOL,
    }
    warnings = epoch_warnings(runner, selection, folds, log)
    if warnings:
        metrics["warnings"] = warnings
    write_json(run_dir / "metrics.json", metrics)
    return metrics
