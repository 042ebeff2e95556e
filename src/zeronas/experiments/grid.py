"""The paper's experiments as resumable grids of cells.

A grid directory holds ``grid.json`` (what was asked), one run directory per cell under
``cells/`` (a finished cell has ``metrics.json`` and is never recomputed; an unfinished
one resumes from its checkpoint), and the tables (``zeronas.experiments.tables``) as
Markdown and CSV.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from zeronas.config import Config, load_config
from zeronas.data import ZSLDataset
from zeronas.errors import ZeroNASError
from zeronas.nas.genotype import Genotype, random_genotype
from zeronas.nas.ops import OP_SETS
from zeronas.pipeline import run_fix, run_nas, train_genotype
from zeronas.runs import Log, write_json, write_record

METHODS = {
    "oracle": "Planted generator (oracle ceiling)",
    "eszsl": "ESZSL (no generator)",
    "linear": "Linear generator (ridge to class means + seen residuals)",
    "fix": "{title} FIX",
    "paper": "{title} + the paper's {paper} genotype",
    "random": "{title} + random genotypes",
    "nas_g_only": "{title} + ZeroNAS, searched G only (fixed D)",
    "nas_d_only": "{title} + ZeroNAS, searched D only (fixed G)",
    "nas": "{title} + ZeroNAS",
}
#: Methods without a generator architecture: one row whatever the frameworks.
NO_FRAMEWORK = ("oracle", "eszsl", "linear")


def paper_arch_for(ds: ZSLDataset) -> str:
    """The paper's genotype to retrain on ``ds``: the one found on the benchmark its name (or
    its semi-synthetic base) starts with, CUB's otherwise."""
    from zeronas.nas.paper import PAPER_ARCHS

    name = ds.name.lower()
    return next((a for a in PAPER_ARCHS if name.startswith(a)), "cub")


def random_pair(cfg: Config, draw: int) -> Genotype:
    """Random genotype pair ``draw`` of the configured search space (widths, op sets): the
    random-search baseline's candidates, the same for every seed and framework."""
    rng = np.random.default_rng(draw)
    s = cfg.search
    return Genotype(
        random_genotype("generator", s.g_widths, rng, ops=OP_SETS[s.g_ops], keep=s.keep_edges),
        random_genotype("critic", s.d_widths, rng, ops=OP_SETS[s.d_ops], keep=s.keep_edges),
    )


@dataclass
class Grid:
    """Shared settings of every cell of a grid."""

    out: Path
    datasets: list[str]
    seeds: int
    sets: tuple[str, ...] = ()
    device: torch.device = torch.device("cpu")
    log: Log = print
    random_draws: int = 8  # random genotypes of the ``random`` method

    def open(self) -> None:
        """Create the grid directory, or check that an existing one has the same datasets, seeds
        and settings (then its finished cells are reused: compare and ablation share FIX and NAS)."""
        spec = {
            "datasets": self.datasets,
            "seeds": self.seeds,
            "sets": list(self.sets),
            "random_draws": self.random_draws,
        }
        path = self.out / "grid.json"
        if path.is_file():
            old = json.loads(path.read_text())
            if old != spec:
                raise ZeroNASError(f"{self.out}: a grid made with other settings ({old}); choose another --out")
            self.log(f"resuming grid {self.out}: finished cells are kept")
        else:
            self.out.mkdir(parents=True, exist_ok=True)
            write_json(path, spec)

    def config(self, ds: ZSLDataset, framework: str = "clswgan") -> Config:
        cfg, _ = load_config(None, ds.name)
        cfg.apply_overrides(self.sets)
        cfg.model.framework = framework
        return cfg

    def record(self, d: Path, what: str, ds: ZSLDataset, cfg: Config, seed: int) -> None:
        """The run record (config.json) of a run of this grid in ``d``."""
        write_record(
            d,
            what,
            data=ds.source,
            seed=seed,
            split_seed=ds.split_seed,
            config=cfg.to_dict(),
            dataset=ds.summary(),
            device=str(self.device),
        )

    def cell(self, rel: str, fn: Callable[[Path], dict], ds: ZSLDataset, cfg: Config, seed: int) -> dict:
        """Run one cell unless its metrics.json exists; resume it if it was interrupted."""
        d = self.out / "cells" / rel
        done = d / "metrics.json"
        if done.is_file():
            self.log(f"[done] {rel}")
            return json.loads(done.read_text())
        self.log(f"[run] {rel}")
        d.mkdir(parents=True, exist_ok=True)
        self.record(d, f"experiment cell {rel}", ds, cfg, seed)
        metrics = fn(d)
        if not done.is_file():
            write_json(done, metrics)
        return metrics


def method_cell(grid: Grid, ds: ZSLDataset, framework: str, method: str, seed: int) -> dict:
    """One cell: ``cells/<dataset>/<framework>/<method>/seed<N>``; the methods without a
    generator architecture (:data:`NO_FRAMEWORK`) at ``cells/<dataset>/<method>/seed<N>``, and
    random genotype ``N`` at ``cells/<dataset>/<framework>/random/draw<N>`` (trained with seed N)."""
    from zeronas.baselines.eszsl import eszsl_evaluate
    from zeronas.baselines.generators import linear_generator_evaluate, oracle_evaluate
    from zeronas.nas.paper import paper_genotype

    cfg = grid.config(ds, framework)
    if method == "nas_g_only":
        cfg.search.fixed_d = True
    elif method == "nas_d_only":
        cfg.search.fixed_g = True

    def fn(d: Path) -> dict:
        if method == "eszsl":
            return eszsl_evaluate(ds, folds=cfg.eval.folds)
        if method == "linear":
            return linear_generator_evaluate(ds, cfg, seed)
        if method == "oracle":
            return oracle_evaluate(ds, cfg, seed)
        if method == "fix":
            return run_fix(ds, cfg, seed, d, grid.device, True, grid.log)
        if method == "paper":
            arch = paper_genotype(paper_arch_for(ds))
            return train_genotype(ds, arch, cfg, seed, d, grid.device, True, grid.log)
        if method == "random":  # the draw's genotype.json is in the cell
            return train_genotype(ds, random_pair(cfg, seed), cfg, seed, d, grid.device, True, grid.log)
        return run_nas(ds, cfg, seed, d, grid.device, True, grid.log)

    if method in NO_FRAMEWORK:
        rel = f"{ds.name}/{method}/seed{seed}"
    elif method == "random":
        rel = f"{ds.name}/{framework}/random/draw{seed}"
    else:
        rel = f"{ds.name}/{framework}/{method}/seed{seed}"
    return grid.cell(rel, fn, ds, cfg, seed)
