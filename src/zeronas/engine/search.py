"""The joint adversarial architecture search (Algorithm 1, Eqs. 6-9), first order.

Data: the training samples of the validation task (seen classes minus the validation
classes), split by sample into equal halves ``D_tr`` (weights) and ``D_val``
(architecture). No test sample and no validation-class sample is seen by the search.

Per iteration, each step updates one parameter set with the other three frozen:
``n_d`` x (omega_d on D_val, theta_d on D_tr), then omega_g on D_val, then theta_g on
D_tr. Unlike the authors' code, the omega_g step uses a fresh D_val batch.

Named departures from the paper, each off by default and measured: ``search.warmup_epochs``
(weight steps only at first), ``search.arch_schedule = "cosine"``, ``search.split =
"class"`` (:func:`~zeronas.engine.session.split_classes`), ``search.arch_cls_weight``,
``search.g_ops``/``d_ops`` (narrower candidate sets, :data:`zeronas.nas.ops.OP_SETS`),
``search.arch_entropy`` and ``search.edge_topk`` (ramped discretisation terms in the
architecture steps).
Every epoch records the median margins of the derived choices (:mod:`zeronas.nas.margins`);
the finished search judges itself (decisive, stable) in ``genotype.json``.

``search.mode = "gdas"`` draws one operation per edge and forward pass instead of mixing
all eight (see ``zeronas.nas.supernet``), at the temperature :func:`gumbel_temperature`.

After each epoch the supernet's generator is scored on the validation classes (ZSL
top-1, "accuracy during searching", paper Fig. 6). ``search.select = "last"`` (default)
takes the final epoch's genotype; ``"val"`` retrains the last distinct genotypes on the
validation folds and takes the best (:func:`choose_by_validation`).
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Callable
from pathlib import Path

import torch

from zeronas.config import Config, SearchConfig
from zeronas.data import ZSLDataset, load_dataset
from zeronas.engine.networks import SearchSpace
from zeronas.engine.runner import EpochRunner, Stage
from zeronas.engine.session import LossFn, Session, split_classes, split_halves
from zeronas.engine.train import validate_genotype
from zeronas.evaluation import choose_genotype, zsl_accuracy
from zeronas.frameworks import Framework
from zeronas.frameworks.base import Stats
from zeronas.nas.genotype import Genotype, fixed_genotype
from zeronas.nas.margins import assess, margins_text, net_margins, stability_by_role
from zeronas.nas.supernet import Supernet
from zeronas.runs import CHECKPOINT, Log, load_checkpoint, search_record, seed_everything, write_json
from zeronas.synthetic import planted_genotype, recovery_line, recovery_report


def gumbel_temperature(epoch: int, search: SearchConfig) -> float | None:
    """The sampled mode's temperature in ``epoch`` (1-based): linear from ``tau_max`` in the
    first epoch to ``tau_min`` in the last (GDAS). None in the exact mode."""
    if search.mode != "gdas":
        return None
    return search.tau_max - (search.tau_max - search.tau_min) * (epoch - 1) / max(1, search.epochs - 1)


def step_names(kind: type[Framework]) -> tuple[str, ...]:
    """Columns of a search epoch's row: each step's loss, then the framework's figures."""
    critic = ("critic_arch", "critic_weights", *kind.critic_stats) if kind.uses_critic else ()
    return critic + ("generator_arch", "generator_weights", *kind.generator_stats)


def arch_lr(epoch: int, search: SearchConfig) -> float:
    """The architecture learning rate in ``epoch`` (1-based): ``arch_lr`` during the warm-up and
    throughout with the ``constant`` schedule; with ``cosine``, from ``arch_lr`` down to 0 over
    the epochs after the warm-up."""
    if search.arch_schedule == "constant" or epoch <= search.warmup_epochs:
        return search.arch_lr
    t = (epoch - search.warmup_epochs - 1) / max(1, search.epochs - search.warmup_epochs)
    return search.arch_lr * 0.5 * (1 + math.cos(math.pi * t))


def ramp(epoch: int, search: SearchConfig, weight: float) -> float:
    """A discretisation term's weight in ``epoch`` (1-based, ``search.arch_entropy`` or
    ``search.edge_topk``): 0 in the first epoch of architecture steps, linear up to ``weight``
    in the last, so that the early steps choose by the losses alone."""
    done = epoch - search.warmup_epochs - 1
    if weight == 0 or done <= 0:
        return 0.0
    return weight * done / max(1, search.epochs - search.warmup_epochs - 1)


def search_session(cfg: Config, dataset: ZSLDataset, device: torch.device) -> Session:
    """The search's session: supernets (FIX on a fixed side) on the validation task's halves
    (by sample, the paper's, or by class). Its ``cfg`` is ``cfg`` :func:`sized` by the pools it
    drew, so that a search sized in architecture steps has its epochs wherever it is rebuilt."""
    space = SearchSpace.from_config(cfg.search)
    pools = split_classes if cfg.search.split == "class" else split_halves
    session = Session(cfg, dataset.validation_task(), device, space, cfg.search, pools=pools)
    resized = sized(cfg, session.iterations("tr"))
    # only search.epochs differs, which nothing built above reads
    session.cfg = session.fw.cfg = resized
    session.loop = resized.search
    return session


def restore_search_session(run: Path, data: str | Path | None = None) -> tuple[Path, ZSLDataset, Session]:
    """A finished search's session on the CPU, as its last checkpoint left it, for probes of
    the trained supernets: the search's directory (``run`` or its ``search/``), its dataset
    (``data``, default: the one its record names) and the session (fold 0's validation task
    only: no test sample)."""
    search, record = search_record(run)
    cfg = Config.from_dict(record["config"])
    dataset = load_dataset(data or record["data"], split_seed=record.get("split_seed", 0))
    seed_everything(record["seed"])
    session = search_session(cfg, dataset, torch.device("cpu"))
    session.load_state_dict(load_checkpoint(search / CHECKPOINT)["state"])
    return search, dataset, session


def sized(cfg: Config, iterations: int) -> Config:
    """``cfg`` with ``search.epochs`` from ``search.arch_steps`` (``cfg`` itself when that is 0):
    the warm-up epochs plus the fewest epochs of ``iterations`` that hold the steps. Every
    schedule (architecture lr, temperature, discretisation terms) and the verdict's last 25% of
    epochs then follow the search's size in steps, whatever the data's iterations per epoch."""
    s = cfg.search
    if not s.arch_steps:
        return cfg
    out = copy.deepcopy(cfg)
    out.set("search.epochs", s.warmup_epochs + math.ceil(s.arch_steps / iterations), "search.arch_steps")
    return out


def set_schedules(session: Session, epoch: int) -> None:
    """The architecture learning rate of ``epoch``, the supernets' discretisation-term weights
    (:func:`ramp`) and, in the sampled mode, their Gumbel temperature."""
    s = session.cfg.search
    lr = arch_lr(epoch, s)
    for key in ("a_g", "a_d"):
        if key in session.opt:
            for group in session.opt[key].param_groups:
                group["lr"] = lr
    tau = gumbel_temperature(epoch, s)
    for net in (session.G, session.D):
        if isinstance(net, Supernet):
            net.entropy_weight = ramp(epoch, s, s.arch_entropy)
            net.spill_weight = ramp(epoch, s, s.edge_topk)
            if tau is not None:
                net.tau = tau


def discretised(loss: LossFn, net: object, keep: int) -> LossFn:
    """``loss`` plus the supernet's weighted discretisation terms (``search.arch_entropy``,
    ``search.edge_topk``), if any."""
    if not isinstance(net, Supernet) or not (net.entropy_weight or net.spill_weight):
        return loss

    def penalised(x: torch.Tensor, c: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, Stats]:
        value, stats = loss(x, c, y)
        if net.entropy_weight:
            value = value + net.entropy_weight * net.op_entropy()
        if net.spill_weight:
            value = value + net.spill_weight * net.edge_spill(keep)
        return value, stats

    return penalised


def arch_generator_loss(session: Session) -> LossFn:
    """G's loss in its architecture steps: the generator loss, with ``search.arch_cls_weight``
    as the classification weight when it is set (>= 0)."""
    fw, weight = session.fw, session.cfg.search.arch_cls_weight
    if weight < 0:
        return fw.generator_loss

    def loss(x: torch.Tensor, c: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, Stats]:
        kept, fw.cls_weight = fw.cls_weight, weight
        try:
            return fw.generator_loss(x, c, y)
        finally:
            fw.cls_weight = kept

    return loss


def search_iteration(session: Session, with_arch: bool = True) -> torch.Tensor:
    """One loop of Algorithm 1 (without its architecture steps unless ``with_arch``); returns
    the step losses and figures (see :func:`step_names`), 0 for a skipped step."""
    s, fw, keep = session.loop, session.fw, session.cfg.search.keep_edges
    row: list[torch.Tensor] = []
    if session.D is not None:
        arch = torch.zeros((), device=session.device)
        weights: torch.Tensor | None = None
        arch_d = discretised(fw.critic_loss, session.D, keep)
        for _ in range(s.critic_iters):
            if with_arch and session.searches("d"):
                arch = arch + session.step("a_d", arch_d, "val")[0] / s.critic_iters
            step = torch.stack(session.step("w_d", fw.critic_loss, "tr")) / s.critic_iters
            weights = step if weights is None else weights + step
        assert weights is not None
        row += [arch.reshape(1), weights]
    if with_arch and session.searches("g"):
        arch_g = session.step("a_g", discretised(arch_generator_loss(session), session.G, keep), "val")[0]
    else:
        arch_g = torch.zeros((), device=session.device)
    row += [arch_g.reshape(1), torch.stack(session.step("w_g", fw.generator_loss, "tr"))]
    return torch.cat(row)


def search_epoch(session: Session, with_arch: bool = True, tick: Callable[[], None] | None = None) -> dict[str, float]:
    """An epoch of the search: as many iterations as ``D_tr`` holds batches (``tick()`` after each)."""
    session.fw.train()
    iters = session.iterations("tr")
    sums: torch.Tensor | None = None
    for _ in range(iters):
        step = search_iteration(session, with_arch)
        sums = step if sums is None else sums + step
        if tick is not None:
            tick()
    assert sums is not None
    return dict(zip(step_names(type(session.fw)), (sums / iters).tolist(), strict=True))


def current_genotype(session: Session) -> Genotype:
    """The genotype the supernets' alpha/beta point to now (FIX for a side kept fixed)."""
    cfg = session.cfg
    fix = fixed_genotype(cfg.model.fix_hidden)
    keep = cfg.search.keep_edges
    g = session.G.export(keep) if isinstance(session.G, Supernet) else fix.generator
    d = session.D.export(keep) if isinstance(session.D, Supernet) else fix.critic
    return Genotype(g, d)


def arch_state(session: Session) -> dict:
    """softmax(alpha) and softmax(beta) of the searched networks."""
    nets = (("generator", session.G), ("critic", session.D))
    return {role: net.arch_state() for role, net in nets if isinstance(net, Supernet)}


class SearchStage(Stage):
    """The search's epochs: Algorithm 1, then the derived genotype and the validation score."""

    def __init__(self, session: Session, run_dir: Path, arch_history: list[dict]):
        super().__init__("search", session, session.cfg.search.epochs, "search")
        self.run_dir, self.arch_history = run_dir, arch_history
        self.genotype: Genotype | None = None

    def iterations(self) -> int:
        return self.session.iterations("tr")

    def begin_epoch(self, epoch: int) -> None:
        set_schedules(self.session, epoch)

    def train_epoch(self, epoch: int) -> dict[str, float]:
        with_arch = epoch > self.session.cfg.search.warmup_epochs
        return search_epoch(self.session, with_arch, self.tick)

    def row(self, epoch: int, losses: dict[str, float]) -> dict:
        cfg, session = self.session.cfg, self.session
        self.genotype = geno = current_genotype(session)
        self.losses = losses
        state = arch_state(session)
        row: dict = {"epoch": epoch, **losses, **margin_columns(state, cfg.search.keep_edges)}
        s = cfg.search
        if s.eval_every and (epoch % s.eval_every == 0 or epoch == s.epochs):
            row["val_zsl"] = zsl_accuracy(session.fw, session.task, cfg.eval)
        self.arch_history.append(
            {
                "epoch": epoch,
                **state,
                "genotype": {"generator": str(geno.generator), "critic": str(geno.critic)},
                "genotype_dict": geno.to_dict(),
            }
        )
        return row

    def where(self, epoch: int) -> str:
        return f"search epoch {epoch}"

    def describe(self, row: dict) -> str:
        assert self.genotype is not None
        losses = " ".join(f"{k}={v:.4f}" for k, v in self.losses.items())
        return f"search epoch {row['epoch']}: {losses} | {self.genotype}"

    def end_epoch(self, epoch: int, row: dict) -> None:
        write_json(self.run_dir / "arch_history.json", self.arch_history)


def search(
    dataset: ZSLDataset,
    cfg: Config,
    seed: int,
    run_dir: Path,
    device: torch.device,
    resume: bool = False,
    log: Log = print,
    on_epoch: Callable[[str, int, Session], None] | None = None,
) -> Genotype:
    """Run (or resume) the search; writes genotype.json, the histories and checkpoints.

    ``on_epoch(stage, epoch, session)`` is called after each search epoch's checkpoint (the
    Python API keeps the last session: the trained supernets)."""
    s = cfg.search
    space = SearchSpace.from_config(s)  # before anything runs: is there anything to search?
    runner = EpochRunner(run_dir, "search", "search_history.csv", s, log=log, resume=resume, tb_prefix="search/")
    if on_epoch:
        runner.on_epoch.append(on_epoch)
    arch_history: list[dict] = runner.restored("arch_history", [])
    runner.state["arch_history"] = arch_history
    session, start = runner.open("search", seed, lambda: search_session(cfg, dataset, device))
    iterations = session.iterations("tr")
    cfg, s = session.cfg, session.cfg.search
    if s.arch_steps:
        log(
            f"search: {s.arch_steps} architecture steps (search.arch_steps): "
            f"{s.epochs} epochs of {iterations} iterations"
        )
    init: dict = runner.restored("arch_init", None) or arch_state(session)
    runner.state["arch_init"] = init
    runner.run(SearchStage(session, run_dir, arch_history), start)
    verdict_extra: dict = {}
    if s.select == "val":
        genotype, chosen, verdict_extra["candidates"] = choose_by_validation(
            dataset, cfg, arch_history, seed, run_dir, device, resume, log
        )
    else:
        genotype, chosen = choose_genotype(runner.history, arch_history, s.select)
    log(f"search: genotype of epoch {chosen} ({s.select!r})")
    verdict = assess(arch_history, init, s.keep_edges, chosen)
    # the search's size in the unit its learning rates act on: iterations with architecture steps
    steps = max(0, s.epochs - s.warmup_epochs) * iterations
    log(
        f"search: {margins_text(verdict.to_dict())}; "
        f"genotype unchanged for the last {verdict.stable_epochs} of {verdict.epochs} epochs"
        f" ({stability_by_role(verdict.stable_by_role)}); {steps} architecture steps at arch lr {s.arch_lr:g}"
    )
    for warning in verdict.warnings:
        log(f"warning: {warning}")
    write_json(run_dir / "arch_init.json", init)
    extra = {"epoch": chosen, "select": s.select, **verdict.to_dict(), "arch_steps": steps, **verdict_extra}
    planted = planted_genotype(dataset.source)
    if planted is not None and not space.fixed_g:  # a planted-architecture benchmark: how much was found
        extra["recovery"] = report = recovery_report(genotype.generator, planted, cfg)
        log(f"search: {recovery_line(report)}")
    genotype.save(run_dir / "genotype.json", {"search": extra})
    return genotype


def candidates_dir(run_dir: Path) -> Path:
    """Where ``search.select = "val"`` validates the candidate genotypes of the search in
    ``run_dir``, one :func:`candidate_dir` each."""
    return run_dir / "candidates"


def candidate_dir(run_dir: Path, epoch: int) -> Path:
    """Where ``search.select = "val"`` validates the genotype of ``epoch`` of the search in
    ``run_dir`` (:func:`~zeronas.engine.train.validate_genotype`)."""
    return candidates_dir(run_dir) / f"epoch{epoch}"


def choose_by_validation(
    dataset: ZSLDataset,
    cfg: Config,
    arch_history: list[dict],
    seed: int,
    run_dir: Path,
    device: torch.device,
    resume: bool,
    log: Log,
) -> tuple[Genotype, int, list[dict]]:
    """``search.select = "val"``: the distinct genotypes of the last epochs after the warm-up
    (at most ``search.val_candidates``, the latest first), each retrained on the validation
    folds exactly as a training's select stages do, the best mean validation ZSL top-1 wins
    (the latest on ties). Test data is never read. Each candidate's runs are kept in
    ``run_dir/candidates/epoch<N>`` (resumable)."""
    s = cfg.search
    seen: dict[str, dict] = {}
    for entry in reversed([a for a in arch_history if a["epoch"] > s.warmup_epochs] or arch_history):
        key = json.dumps(entry["genotype_dict"], sort_keys=True)
        if key not in seen and len(seen) < s.val_candidates:
            seen[key] = entry
    scored = []
    for entry in seen.values():
        genotype = Genotype.from_dict(entry["genotype_dict"])
        where = candidate_dir(run_dir, entry["epoch"])
        where.mkdir(parents=True, exist_ok=True)
        log(f"search: validating the genotype of epoch {entry['epoch']} on {cfg.eval.folds} fold(s)")
        selection = validate_genotype(dataset, genotype, cfg, seed, where, device, resume, log)
        scored.append({"epoch": entry["epoch"], "val_zsl_top1": selection["zsl"]["val_zsl_top1"]})
    best = max(scored, key=lambda c: (c["val_zsl_top1"], c["epoch"]))
    entry = next(a for a in arch_history if a["epoch"] == best["epoch"])
    return Genotype.from_dict(entry["genotype_dict"]), best["epoch"], scored


def margin_columns(state: dict, keep: int) -> dict[str, float]:
    """Median operation and edge margins per searched network, for the search history."""
    cols = {}
    for role, short in (("generator", "g"), ("critic", "d")):
        if role in state:
            m = net_margins(state[role], keep)
            cols[f"op_margin_{short}"] = m["op_median"]
            cols[f"edge_margin_{short}"] = m["edge_median"]
    return cols
