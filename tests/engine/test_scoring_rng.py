"""Scoring an epoch does not move the training's random stream.

Evaluations draw noise (synthetic features, classifier batches). If they drew from the
training's stream, a final training's ZSL figure would depend on which epoch GZSL happened
to select, and a fold's training on ``eval_every``.
"""

from __future__ import annotations

from contextlib import nullcontext

import torch

import zeronas.engine.runner as runner_module
from tests.engine.test_protocol import ARRAYS, tiny_config
from tests.synth import make_arrays, write_xlsa17
from zeronas.data import ZSLTask, load_dataset
from zeronas.engine.runner import EpochRunner
from zeronas.engine.session import Session
from zeronas.engine.train import train_stage
from zeronas.nas.genotype import fixed_genotype

CPU = torch.device("cpu")


def trained_weights(tmp_path, task: ZSLTask, name: str, scored_epochs: set[int]) -> list[torch.Tensor]:
    cfg = tiny_config()

    def score(session: Session, epoch: int) -> dict:
        if epoch not in scored_epochs:
            return {}
        # an evaluation's draws: synthetic features of every class
        x, _ = session.fw.synthesize(task.class_vectors, task.seen_classes, 50)
        return {"mean": float(x.mean()), "noise": float(torch.rand(()))}

    runner = EpochRunner(tmp_path / name, "train", "history.csv", cfg.train, log=lambda s: None, resume=False)
    session = train_stage(runner, "select", task, 0, fixed_genotype(16), cfg, CPU, 3, score)
    return [p.detach().clone() for p in session.G.parameters()]


def same(a: list[torch.Tensor], b: list[torch.Tensor]) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


def test_the_weights_after_training_do_not_depend_on_which_epochs_were_scored(tmp_path, monkeypatch):
    """Fails when the draws of an evaluation come from the training's stream."""
    ds = load_dataset(write_xlsa17(tmp_path / "data", make_arrays(**ARRAYS)))
    task = ds.validation_task(0, tiny_config().eval.folds)
    never = trained_weights(tmp_path, task, "never", set())
    assert same(never, trained_weights(tmp_path, task, "every", {1, 2, 3}))
    assert same(never, trained_weights(tmp_path, task, "once", {1}))
    # without the fork the same scoring moves the stream: the check above can fail
    monkeypatch.setattr(runner_module, "scoring_rng", lambda device: nullcontext())
    assert not same(never, trained_weights(tmp_path, task, "unforked", {1}))
