"""Training a generator/critic pair with a framework's losses (Eq. 1 for f-CLSWGAN), and
the leak-free protocol.

:func:`train_and_evaluate` runs two stages, each resumable from its checkpoint:

1. ``select``: train on the validation task (validation classes held out as "unseen"),
   score ZSL and GZSL on those classes after every ``eval_every`` epochs, and pick the
   epoch for ZSL, for GZSL and for calibrated GZSL (with its stacking constant).
2. ``final``: train from scratch on all seen training data and evaluate the test task
   once per metric, at the selected epochs.

FIX and NAS use this same code: they differ only in the genotype; the frameworks differ
only in their :class:`~zeronas.frameworks.Framework`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn
from tqdm import tqdm

from zeronas.config import Config
from zeronas.data import ZSLDataset, ZSLTask
from zeronas.errors import DivergenceError
from zeronas.evaluation import evaluate_test_once, select_epochs, validation_scores
from zeronas.frameworks import framework_class, group_parameters
from zeronas.nas.genotype import Genotype
from zeronas.nas.network import DiscreteNet
from zeronas.runs import (
    CHECKPOINT,
    EpochLog,
    Log,
    load_checkpoint,
    save_checkpoint,
    seed_everything,
    set_rng_state,
    write_json,
)


def task_to(task: ZSLTask, device: torch.device) -> ZSLTask:
    fields = {k: (v.to(device) if isinstance(v, torch.Tensor) else v) for k, v in vars(task).items()}
    return ZSLTask(**fields)


def check_finite(losses: dict[str, float], where: str) -> None:
    for name, value in losses.items():
        if not math.isfinite(value):
            raise DivergenceError(f"{where}: loss '{name}' is {value}; the last good checkpoint is kept")


def set_trainable(params: list[nn.Parameter], trainable: list[nn.Parameter]) -> None:
    """Freeze every parameter in ``params`` except those in ``trainable``."""
    keep = {id(p) for p in trainable}
    for p in params:
        p.requires_grad_(id(p) in keep)


def adam(main: list[nn.Parameter], extra_groups: list[dict], lr: float, beta1: float, wd: float = 0.0):
    """Adam over ``main`` and a framework's extra groups (which may set their own lr/betas)."""
    return torch.optim.Adam([{"params": main}, *extra_groups], lr=lr, betas=(beta1, 0.999), weight_decay=wd)


class GANTrainer:
    """Training of one discrete generator/critic pair on one task, with the configured framework."""

    def __init__(self, genotype: Genotype, task: ZSLTask, cfg: Config, device: torch.device):
        t = cfg.train
        self.task, self.cfg, self.device = task_to(task, device), cfg, device
        kind = framework_class(t.framework)
        nz, a = t.noise_dim or task.attr_dim, task.attr_dim
        self.G = DiscreteNet(genotype.generator, (nz, a), task.feature_dim, t.slope, t.dropout).to(device)
        self.D = (
            DiscreteNet(genotype.critic, (task.feature_dim, a), 1, t.slope, t.dropout).to(device)
            if kind.uses_critic
            else None
        )
        self.fw = kind(self.G, self.D, self.task, cfg, t.cls_weight, t.gp_weight)
        self.fw.extras.to(device)
        g_groups, d_groups = self.fw.generator_groups(), self.fw.critic_groups()
        self.opt_g = adam(list(self.G.parameters()), g_groups, t.lr, t.beta1)
        self.opt_d = adam(list(self.D.parameters()), d_groups, t.lr, t.beta1) if self.D is not None else None
        self.g_params = list(self.G.parameters()) + group_parameters(g_groups)
        self.d_params = (list(self.D.parameters()) if self.D is not None else []) + group_parameters(d_groups)
        self.all_params = self.g_params + self.d_params
        self.fw.prepare()
        self.stat_names = (("critic_loss", *kind.critic_stats) if self.D is not None else ()) + (
            "generator_loss",
            *kind.generator_stats,
        )

    def state_dict(self) -> dict:
        state = {"G": self.G.state_dict(), "framework": self.fw.state_dict(), "opt_g": self.opt_g.state_dict()}
        if self.D is not None:
            state.update(D=self.D.state_dict(), opt_d=self.opt_d.state_dict())
        return state

    def load_state_dict(self, state: dict) -> None:
        self.G.load_state_dict(state["G"])
        self.fw.load_state_dict(state["framework"])
        self.opt_g.load_state_dict(state["opt_g"])
        if self.D is not None:
            self.D.load_state_dict(state["D"])
            self.opt_d.load_state_dict(state["opt_d"])

    def _batch(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        t = self.task
        idx = torch.randint(t.train_x.shape[0], (self.cfg.train.batch_size,), device=self.device)
        y = t.train_y[idx]
        return t.train_x[idx], t.class_vectors[y], y

    @staticmethod
    def _step(opt: torch.optim.Optimizer, loss: torch.Tensor) -> None:
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def train_epoch(self) -> dict[str, float]:
        """One epoch: ``n_train / batch`` iterations of ``critic_iters`` critic steps and one G step."""
        cfg, fw = self.cfg.train, self.fw
        fw.train()
        iters = max(1, self.task.train_x.shape[0] // cfg.batch_size)
        sums = torch.zeros(len(self.stat_names), device=self.device)
        for _ in range(iters):
            row: list[torch.Tensor] = []
            if self.opt_d is not None:
                set_trainable(self.all_params, self.d_params)
                for _ in range(cfg.critic_iters):
                    loss, stats = fw.critic_loss(*self._batch())
                    self._step(self.opt_d, loss)
                row += [loss.detach(), *stats.values()]
            set_trainable(self.all_params, self.g_params)
            g_loss, g_stats = fw.generator_loss(*self._batch())
            self._step(self.opt_g, g_loss)
            sums += torch.stack(row + [g_loss.detach(), *g_stats.values()])
        return dict(zip(self.stat_names, (sums / iters).tolist(), strict=True))


def train_and_evaluate(
    dataset: ZSLDataset,
    genotype: Genotype,
    config: Config,
    seed: int,
    run_dir: Path,
    device: torch.device,
    resume: bool = False,
    log: Log = print,
    on_epoch: Callable[[str, int, GANTrainer], None] | None = None,
) -> dict:
    """Run both stages (resuming from ``run_dir/checkpoint.pt`` if asked) and return the metrics."""
    cfg = config.train
    ckpt = load_checkpoint(run_dir / CHECKPOINT, device) if resume and (run_dir / CHECKPOINT).is_file() else None
    history: list[dict] = ckpt["history"] if ckpt else []
    selection: dict | None = ckpt.get("selection") if ckpt else None
    results: dict = ckpt.get("results", {}) if ckpt else {}
    stage = ckpt["stage"] if ckpt else "select"
    epoch_log = EpochLog(run_dir / "history.csv", cfg.tensorboard)

    def stage_trainer(task: ZSLTask, stage_seed: int) -> tuple[GANTrainer, int]:
        seed_everything(stage_seed)
        trainer = GANTrainer(genotype, task, config, device)
        if ckpt and ckpt["stage"] == stage:
            trainer.load_state_dict(ckpt["trainer"])
            set_rng_state(ckpt["rng"])
            return trainer, ckpt["epoch"] + 1
        return trainer, 1

    def checkpoint(trainer: GANTrainer, epoch: int) -> None:
        save_checkpoint(
            run_dir,
            {
                "kind": "train",
                "stage": stage,
                "epoch": epoch,
                "trainer": trainer.state_dict(),
                "history": history,
                "selection": selection,
                "results": results,
            },
        )

    if stage == "select":
        vtask = dataset.validation_task()
        trainer, start = stage_trainer(vtask, seed)
        vtask = trainer.task
        for epoch in _epochs(start, cfg.epochs, "select (validation classes)"):
            t0 = time.perf_counter()
            losses = trainer.train_epoch()
            check_finite(losses, f"stage 'select', epoch {epoch}")
            row: dict = {"stage": "select", "epoch": epoch, **losses}
            if epoch % cfg.eval_every == 0 or epoch == cfg.epochs:
                row.update(validation_scores(trainer.fw, vtask, cfg))
            row["seconds"] = round(time.perf_counter() - t0, 3)
            history.append(row)
            log(_fmt_row(row))
            epoch_log.write(history)
            if epoch % cfg.checkpoint_every == 0 or epoch == cfg.epochs:
                checkpoint(trainer, epoch)
            if on_epoch:
                on_epoch("select", epoch, trainer)
        selection = select_epochs([r for r in history if r["stage"] == "select"])
        stage, ckpt = "final", None
        log("selected on validation classes: " + ", ".join(f"{k} epoch {v['epoch']}" for k, v in selection.items()))

    if stage == "final":
        assert selection is not None
        task = dataset.test_task()
        trainer, start = stage_trainer(task, seed + 1)
        task = trainer.task
        last = max(v["epoch"] for v in selection.values())
        for epoch in _epochs(start, last, "final (all seen classes)"):
            t0 = time.perf_counter()
            losses = trainer.train_epoch()
            check_finite(losses, f"stage 'final', epoch {epoch}")
            evaluate_test_once(trainer.fw, task, cfg, selection, epoch, results)
            row = {"stage": "final", "epoch": epoch, **losses, "seconds": round(time.perf_counter() - t0, 3)}
            history.append(row)
            log(_fmt_row(row))
            epoch_log.write(history)
            if epoch % cfg.checkpoint_every == 0 or epoch == last:
                checkpoint(trainer, epoch)
            if on_epoch:
                on_epoch("final", epoch, trainer)
        stage = "done"

    metrics = {
        "zsl_top1": results["zsl_top1"],
        "gzsl_seen": results["gzsl_seen"],
        "gzsl_unseen": results["gzsl_unseen"],
        "gzsl_h": results["gzsl_h"],
        "calibrated": results["calibrated"],
        "selected_epoch": {k: v["epoch"] for k, v in selection.items()},
        "validation": selection,
        "seed": seed,
        "protocol": (
            "epochs and the calibration constant were selected on a class-disjoint validation split "
            "of the seen classes; each test figure was computed once, at its selected epoch"
        ),
    }
    write_json(run_dir / "metrics.json", metrics)
    return metrics


def _epochs(start: int, stop: int, desc: str):
    return tqdm(range(start, stop + 1), desc=desc, initial=start - 1, total=stop, disable=None, leave=False)


def _fmt_row(row: dict) -> str:
    parts = [f"{row['stage']} epoch {row['epoch']}"]
    for k, v in row.items():
        if k not in ("stage", "epoch") and isinstance(v, float):
            parts.append(f"{k}={v:.4f}")
    return " ".join(parts)
