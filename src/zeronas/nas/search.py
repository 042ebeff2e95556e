"""The joint adversarial architecture search (Algorithm 1, Eqs. 6-9), first order.

Data: the training samples of the validation task (seen classes minus the validation
classes), split by sample into equal halves ``D_tr`` (weights) and ``D_val``
(architecture). No test sample and no validation-class sample is seen by the search.

Per iteration, each step updates one parameter set with the other three frozen:
``n_d`` x (omega_d on D_val, theta_d on D_tr), then omega_g on D_val, then theta_g on
D_tr. Unlike the authors' code, the omega_g step uses a fresh D_val batch.

``search.mode = "gdas"`` draws one operation per edge and forward pass instead of mixing
all eight (see ``zeronas.nas.supernet``), with the Gumbel temperature decreased linearly
from ``tau_max`` to ``tau_min`` over the epochs.

After each epoch the supernet's generator is scored on the validation classes (ZSL
top-1, "accuracy during searching", paper Fig. 6); ``search.select = "val"`` takes the
genotype of the best such epoch, ``"last"`` (default) that of the final epoch.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn
from tqdm import tqdm

from zeronas.config import Config
from zeronas.data import ZSLDataset, ZSLTask
from zeronas.evaluation import choose_genotype, zsl_accuracy
from zeronas.frameworks import Framework, framework_class, group_parameters
from zeronas.nas.genotype import Genotype, fixed_genotype
from zeronas.nas.network import DiscreteNet
from zeronas.nas.supernet import Supernet
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
from zeronas.train import adam, check_finite, set_trainable, task_to


def build_search_pair(
    cfg: Config, feature_dim: int, attr_dim: int, critic: bool = True
) -> tuple[nn.Module, nn.Module | None]:
    """Supernets for G and D, or the FIX network for a side that is kept fixed (no D without ``critic``)."""
    s, t = cfg.search, cfg.train
    nz = t.noise_dim or attr_dim
    fix = fixed_genotype(t.fix_hidden)
    if s.fixed_g:
        g: nn.Module = DiscreteNet(fix.generator, (nz, attr_dim), feature_dim, t.slope, t.dropout)
    else:
        g = Supernet("generator", (nz, attr_dim), s.g_widths, feature_dim, t.slope, t.dropout)
    if not critic:
        return g, None
    if s.fixed_d:
        d: nn.Module = DiscreteNet(fix.critic, (feature_dim, attr_dim), 1, t.slope, t.dropout)
    else:
        d = Supernet("critic", (feature_dim, attr_dim), s.d_widths, 1, t.slope, t.dropout)
    return g, d


def step_names(kind: type[Framework]) -> tuple[str, ...]:
    """Columns of a search epoch's row: each step's loss, then the framework's figures."""
    critic = ("critic_arch", "critic_weights", *kind.critic_stats) if kind.uses_critic else ()
    return critic + ("generator_arch", "generator_weights", *kind.generator_stats)


class Searcher:
    """State of a search: both networks, the framework, four optimizers, the data halves."""

    def __init__(self, cfg: Config, task: ZSLTask, device: torch.device):
        s = cfg.search
        self.cfg, self.device = cfg, device
        self.task = task = task_to(task, device)
        kind = framework_class(cfg.train.framework)
        self.names = step_names(kind)
        self.G, self.D = (
            m.to(device) if m is not None else None
            for m in build_search_pair(cfg, task.feature_dim, task.attr_dim, kind.uses_critic)
        )
        perm = torch.randperm(task.train_x.shape[0], device=device)
        half = perm.numel() // 2
        self.halves = {"tr": perm[:half], "val": perm[half : 2 * half]}
        self.fw = kind(self.G, self.D, task, cfg, s.cls_weight, s.gp_weight)
        self.fw.extras.to(device)
        g_groups, d_groups = self.fw.generator_groups(), self.fw.critic_groups()
        self.params = {"w_g": self.G.weight_parameters() + group_parameters(g_groups), "a_g": self.G.arch_parameters()}
        self.opt = {
            "w_g": adam(self.G.weight_parameters(), g_groups, s.lr, s.beta1),
            "a_g": self._arch_adam(self.G.arch_parameters()),
        }
        if self.D is not None:
            self.params.update(
                w_d=self.D.weight_parameters() + group_parameters(d_groups), a_d=self.D.arch_parameters()
            )
            self.opt.update(
                w_d=adam(self.D.weight_parameters(), d_groups, s.lr, s.beta1),
                a_d=self._arch_adam(self.D.arch_parameters()),
            )
        self.fw.prepare()
        self.all_params = [p for ps in self.params.values() for p in ps]

    def set_epoch(self, epoch: int) -> None:
        """In ``gdas`` mode, the supernets' temperature for this epoch (linear from tau_max to tau_min)."""
        s = self.cfg.search
        if s.mode != "gdas":
            return
        tau = s.tau_max - (s.tau_max - s.tau_min) * (epoch - 1) / max(1, s.epochs - 1)
        for net in (self.G, self.D):
            if isinstance(net, Supernet):
                net.tau = tau

    def _arch_adam(self, params: list[nn.Parameter]) -> torch.optim.Optimizer | None:
        s = self.cfg.search
        return adam(params, [], s.arch_lr, s.arch_beta1, s.arch_weight_decay) if params else None

    def state_dict(self) -> dict:
        return {
            "G": self.G.state_dict(),
            "D": self.D.state_dict() if self.D is not None else None,
            "framework": self.fw.state_dict(),
            "halves": self.halves,
            "opt": {k: o.state_dict() for k, o in self.opt.items() if o is not None},
        }

    def load_state_dict(self, state: dict) -> None:
        self.G.load_state_dict(state["G"])
        if self.D is not None:
            self.D.load_state_dict(state["D"])
        self.fw.load_state_dict(state["framework"])
        self.halves = {k: v.to(self.device) for k, v in state["halves"].items()}
        for k, o in self.opt.items():
            if o is not None:
                o.load_state_dict(state["opt"][k])

    def genotype(self) -> Genotype:
        fix = fixed_genotype(self.cfg.train.fix_hidden)
        g = self.G.export(self.cfg.search.keep_edges) if isinstance(self.G, Supernet) else fix.generator
        d = self.D.export(self.cfg.search.keep_edges) if isinstance(self.D, Supernet) else fix.critic
        return Genotype(g, d)

    def arch_state(self) -> dict:
        return {r: m.arch_state() for r, m in (("generator", self.G), ("critic", self.D)) if isinstance(m, Supernet)}

    def _batch(self, half: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        pool = self.halves[half]
        idx = pool[torch.randint(pool.numel(), (self.cfg.search.batch_size,), device=self.device)]
        y = self.task.train_y[idx]
        return self.task.train_x[idx], self.task.class_vectors[y], y

    def _step(self, key: str, loss_fn: Callable[[], tuple[torch.Tensor, dict]]) -> list[torch.Tensor]:
        """One update of parameter set ``key`` (all others frozen); returns the loss and the figures."""
        set_trainable(self.all_params, self.params[key])
        loss, stats = loss_fn()
        opt = self.opt[key]
        assert opt is not None
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return [loss.detach(), *stats.values()]

    def iteration(self) -> torch.Tensor:
        """One loop of Algorithm 1; returns the step losses (see :func:`step_names`)."""
        s, fw = self.cfg.search, self.fw

        def on(half: str, loss: Callable) -> Callable[[], tuple[torch.Tensor, dict]]:
            batch = self._batch(half)
            return lambda: loss(*batch)

        row: list[torch.Tensor] = []
        if self.D is not None:
            arch = torch.zeros((), device=self.device)
            weights: torch.Tensor | None = None
            for _ in range(s.critic_iters):
                if self.params["a_d"]:
                    arch = arch + self._step("a_d", on("val", fw.critic_loss))[0] / s.critic_iters
                step = torch.stack(self._step("w_d", on("tr", fw.critic_loss))) / s.critic_iters
                weights = step if weights is None else weights + step
            row += [arch.reshape(1), weights]
        arch_g = (
            self._step("a_g", on("val", fw.generator_loss))[0]
            if self.params["a_g"]
            else torch.zeros((), device=self.device)
        )
        row += [arch_g.reshape(1), torch.stack(self._step("w_g", on("tr", fw.generator_loss)))]
        return torch.cat(row)

    def epoch(self) -> dict[str, float]:
        self.fw.train()
        iters = max(1, self.halves["tr"].numel() // self.cfg.search.batch_size)
        sums = sum(self.iteration() for _ in range(iters))
        return dict(zip(self.names, (sums / iters).tolist(), strict=True))


def search(
    dataset: ZSLDataset,
    cfg: Config,
    seed: int,
    run_dir: Path,
    device: torch.device,
    resume: bool = False,
    log: Log = print,
) -> Genotype:
    """Run (or resume) the search; writes genotype.json, the histories and checkpoints."""
    ckpt = load_checkpoint(run_dir / CHECKPOINT, device) if resume and (run_dir / CHECKPOINT).is_file() else None
    seed_everything(seed)
    searcher = Searcher(cfg, dataset.validation_task(), device)
    history: list[dict] = []
    arch_history: list[dict] = []
    start = 1
    if ckpt:
        searcher.load_state_dict(ckpt["searcher"])
        set_rng_state(ckpt["rng"])
        history, arch_history, start = ckpt["history"], ckpt["arch_history"], ckpt["epoch"] + 1
    epochs = cfg.search.epochs
    epoch_log = EpochLog(run_dir / "search_history.csv", cfg.search.tensorboard, "search/")
    bar = tqdm(range(start, epochs + 1), desc="search", initial=start - 1, total=epochs, disable=None, leave=False)
    for epoch in bar:
        t0 = time.perf_counter()
        searcher.set_epoch(epoch)
        losses = searcher.epoch()
        check_finite(losses, f"search epoch {epoch}")
        geno = searcher.genotype()
        row = {"epoch": epoch, **losses}
        if cfg.search.eval_every and (epoch % cfg.search.eval_every == 0 or epoch == epochs):
            row["val_zsl"] = zsl_accuracy(searcher.fw, searcher.task, cfg.train)
        row["seconds"] = round(time.perf_counter() - t0, 3)
        history.append(row)
        arch_history.append(
            {
                "epoch": epoch,
                **searcher.arch_state(),
                "genotype": {"generator": str(geno.generator), "critic": str(geno.critic)},
                "genotype_dict": geno.to_dict(),
            }
        )
        log(
            f"search epoch {epoch}: "
            + " ".join(f"{k}={v:.4f}" for k, v in losses.items())
            + f" | G {geno.generator} | D {geno.critic}"
        )
        epoch_log.write(history)
        write_json(run_dir / "arch_history.json", arch_history)
        if epoch % cfg.search.checkpoint_every == 0 or epoch == epochs:
            save_checkpoint(
                run_dir,
                {
                    "kind": "search",
                    "epoch": epoch,
                    "searcher": searcher.state_dict(),
                    "history": history,
                    "arch_history": arch_history,
                },
            )
    genotype, chosen = choose_genotype(history, arch_history, cfg.search.select)
    log(f"search: genotype of epoch {chosen} ({cfg.search.select!r})")
    genotype.save(run_dir / "genotype.json")
    return genotype
