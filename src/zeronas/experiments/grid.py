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

import torch

from zeronas.config import Config, load_config
from zeronas.data import ZSLDataset
from zeronas.errors import ZeroNASError
from zeronas.pipeline import run_fix, run_nas
from zeronas.runs import Log, write_json, write_record

METHODS = {
    "eszsl": "ESZSL (no generator)",
    "fix": "{title} FIX",
    "nas_g_only": "{title} + ZeroNAS, searched G only (fixed D)",
    "nas_d_only": "{title} + ZeroNAS, searched D only (fixed G)",
    "nas": "{title} + ZeroNAS",
}


@dataclass
class Grid:
    """Shared settings of every cell of a grid."""

    out: Path
    datasets: list[str]
    seeds: int
    sets: tuple[str, ...] = ()
    device: torch.device = torch.device("cpu")
    log: Log = print

    def open(self) -> None:
        """Create the grid directory, or check that an existing one has the same datasets, seeds
        and settings (then its finished cells are reused: compare and ablation share FIX and NAS)."""
        spec = {"datasets": self.datasets, "seeds": self.seeds, "sets": list(self.sets)}
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
    """One cell: ``cells/<dataset>/<framework>/<method>/seed<N>`` (ESZSL: ``cells/<dataset>/eszsl/seed0``)."""
    from zeronas.baselines.eszsl import eszsl_evaluate

    cfg = grid.config(ds, framework)
    if method == "nas_g_only":
        cfg.search.fixed_d = True
    elif method == "nas_d_only":
        cfg.search.fixed_g = True

    def fn(d: Path) -> dict:
        if method == "eszsl":
            return eszsl_evaluate(ds)
        runner = run_fix if method == "fix" else run_nas
        return runner(ds, cfg, seed, d, grid.device, True, grid.log)

    rel = f"{ds.name}/eszsl/seed{seed}" if method == "eszsl" else f"{ds.name}/{framework}/{method}/seed{seed}"
    return grid.cell(rel, fn, ds, cfg, seed)
