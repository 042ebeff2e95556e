"""The joint adversarial architecture search (Algorithm 1, Eqs. 6-9), first order.

Data: the training samples of the validation task (seen classes minus the validation
classes), split by sample into equal halves ``D_tr`` (weights) and ``D_val``
(architecture). No test sample and no validation-class sample is seen by the search.

Per iteration, each step updates one parameter set with the other three frozen:
``n_d`` x (omega_d on D_val, theta_d on D_tr), then omega_g on D_val, then theta_g on
D_tr. Unlike the authors' code, the omega_g step uses a fresh D_val batch.

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

from zeronas.classifier import LabelMap, train_softmax
from zeronas.config import Config
from zeronas.data import ZSLDataset, ZSLTask
from zeronas.errors import ZeroNASError
from zeronas.evaluate import zsl_accuracy
from zeronas.gan import critic_loss, generator_loss, set_trainable
from zeronas.nas.genotype import Genotype, fixed_genotype
from zeronas.nas.network import DiscreteNet
from zeronas.nas.supernet import Supernet
from zeronas.runs import CHECKPOINT, EpochLog, load_checkpoint, save_checkpoint, seed_everything, set_rng_state, write_json
from zeronas.train import check_finite, task_to

Log = Callable[[str], None]
STEP_NAMES = ("critic_arch", "critic_weights", "wasserstein", "generator_arch", "generator_weights", "cls_loss")


def build_search_pair(cfg: Config, feature_dim: int, attr_dim: int) -> tuple[nn.Module, nn.Module]:
    """Supernets for G and D, or the FIX network for a side that is kept fixed."""
    s, t = cfg.search, cfg.train
    nz = t.noise_dim or attr_dim
    fix = fixed_genotype(t.fix_hidden)
    if s.fixed_g:
        g: nn.Module = DiscreteNet(fix.generator, (nz, attr_dim), feature_dim, t.slope, t.dropout)
    else:
        g = Supernet("generator", (nz, attr_dim), s.g_widths, feature_dim, t.slope, t.dropout)
    if s.fixed_d:
        d: nn.Module = DiscreteNet(fix.critic, (feature_dim, attr_dim), 1, t.slope, t.dropout)
    else:
        d = Supernet("critic", (feature_dim, attr_dim), s.d_widths, 1, t.slope, t.dropout)
    return g, d


class Searcher:
    """State of a search: both networks, four optimizers, the frozen classifier, the halves."""

    def __init__(self, cfg: Config, task: ZSLTask, device: torch.device):
        s = cfg.search
        self.cfg, self.device = cfg, device
        self.task = task = task_to(task, device)
        self.noise_dim = cfg.train.noise_dim or task.attr_dim
        self.G, self.D = (m.to(device) for m in build_search_pair(cfg, task.feature_dim, task.attr_dim))
        perm = torch.randperm(task.train_x.shape[0], device=device)
        half = perm.numel() // 2
        self.halves = {"tr": perm[:half], "val": perm[half : 2 * half]}

        def adam(params: list, lr: float, beta1: float, wd: float = 0.0) -> torch.optim.Optimizer | None:
            return torch.optim.Adam(params, lr=lr, betas=(beta1, 0.999), weight_decay=wd) if params else None

        self.opt = {
            "w_d": adam(self.D.weight_parameters(), s.lr, s.beta1),
            "a_d": adam(self.D.arch_parameters(), s.arch_lr, s.arch_beta1, s.arch_weight_decay),
            "w_g": adam(self.G.weight_parameters(), s.lr, s.beta1),
            "a_g": adam(self.G.arch_parameters(), s.arch_lr, s.arch_beta1, s.arch_weight_decay),
        }
        self.labels = LabelMap(task.seen_classes)
        t = cfg.train
        self.classifier = train_softmax(
            task.train_x, self.labels.to_local(task.train_y), len(task.seen_classes),
            t.pretrain_cls_lr, t.pretrain_cls_epochs, t.pretrain_cls_batch,
        )  # fmt: skip
        self.all_params = list(self.G.parameters()) + list(self.D.parameters())

    def state_dict(self) -> dict:
        return {
            "G": self.G.state_dict(),
            "D": self.D.state_dict(),
            "classifier": self.classifier.state_dict(),
            "halves": self.halves,
            "opt": {k: o.state_dict() for k, o in self.opt.items() if o is not None},
        }

    def load_state_dict(self, state: dict) -> None:
        self.G.load_state_dict(state["G"])
        self.D.load_state_dict(state["D"])
        self.classifier.load_state_dict(state["classifier"])
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

    def _step(self, opt_key: str, params: list, loss_fn: Callable[[], tuple[torch.Tensor, torch.Tensor]]):
        set_trainable(self.all_params, params)
        loss, extra = loss_fn()
        opt = self.opt[opt_key]
        assert opt is not None
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.detach(), extra

    def iteration(self) -> torch.Tensor:
        """One loop of Algorithm 1; returns the step losses (see STEP_NAMES)."""
        s, G, D = self.cfg.search, self.G, self.D
        out = torch.zeros(len(STEP_NAMES), device=self.device)

        def critic_on(half: str):
            x, c, _ = self._batch(half)
            return lambda: critic_loss(D, G, x, c, self.noise_dim, s.gp_weight)

        def generator_on(half: str):
            _, c, y = self._batch(half)
            return lambda: generator_loss(D, G, self.classifier, c, self.labels.to_local(y), self.noise_dim, s.cls_weight)

        for _ in range(s.critic_iters):
            if D.arch_parameters():
                out[0] += self._step("a_d", D.arch_parameters(), critic_on("val"))[0] / s.critic_iters
            loss, w_dist = self._step("w_d", D.weight_parameters(), critic_on("tr"))
            out[1] += loss / s.critic_iters
            out[2] += w_dist / s.critic_iters
        if G.arch_parameters():
            out[3] = self._step("a_g", G.arch_parameters(), generator_on("val"))[0]
        loss, ce = self._step("w_g", G.weight_parameters(), generator_on("tr"))
        out[4], out[5] = loss, ce
        return out

    def epoch(self) -> dict[str, float]:
        self.G.train()
        self.D.train()
        iters = max(1, self.halves["tr"].numel() // self.cfg.search.batch_size)
        sums = sum(self.iteration() for _ in range(iters))
        return dict(zip(STEP_NAMES, (sums / iters).tolist()))


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
        losses = searcher.epoch()
        check_finite(losses, f"search epoch {epoch}")
        geno = searcher.genotype()
        row = {"epoch": epoch, **losses}
        if cfg.search.eval_every and (epoch % cfg.search.eval_every == 0 or epoch == epochs):
            row["val_zsl"] = zsl_accuracy(searcher.G, searcher.task, cfg.train, searcher.noise_dim)
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
        log(f"search epoch {epoch}: " + " ".join(f"{k}={v:.4f}" for k, v in losses.items()) + f" | G {geno.generator} | D {geno.critic}")
        epoch_log.write(history)
        write_json(run_dir / "arch_history.json", arch_history)
        if epoch % cfg.search.checkpoint_every == 0 or epoch == epochs:
            save_checkpoint(
                run_dir,
                {"kind": "search", "epoch": epoch, "searcher": searcher.state_dict(), "history": history, "arch_history": arch_history},
            )
    genotype, chosen = choose_genotype(history, arch_history, cfg.search.select)
    log(f"search: genotype of epoch {chosen} ({cfg.search.select!r})")
    genotype.save(run_dir / "genotype.json")
    return genotype


def choose_genotype(history: list[dict], arch_history: list[dict], how: str) -> tuple[Genotype, int]:
    """The last epoch's genotype, or (``val``) that of the epoch whose supernet generator
    scored best on the validation classes (earliest on ties)."""
    if how == "last":
        entry = arch_history[-1]
    elif how == "val":
        scored = [r for r in history if r.get("val_zsl") is not None]
        if not scored:
            raise ZeroNASError("search.select = 'val' needs search.eval_every > 0")
        best = max(scored, key=lambda r: (r["val_zsl"], -r["epoch"]))["epoch"]
        entry = next(a for a in arch_history if a["epoch"] == best)
    else:
        raise ZeroNASError(f"search.select must be 'last' or 'val', not {how!r}")
    return Genotype.from_dict(entry["genotype_dict"]), entry["epoch"]
