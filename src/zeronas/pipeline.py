"""Whole runs as functions: search (with its drawing), and search -> retrain -> evaluate.

The CLI and the experiment grids both call these, so a grid cell is exactly a CLI run.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from zeronas.config import Config
from zeronas.data import ZSLDataset
from zeronas.engine.search import candidate_dir, search
from zeronas.engine.train import train_and_evaluate
from zeronas.nas.genotype import Genotype, fixed_genotype
from zeronas.plots import draw_genotype
from zeronas.runs import Log, write_json


def run_search(
    ds: ZSLDataset, cfg: Config, seed: int, run_dir: Path, device: torch.device, resume: bool, log: Log
) -> Genotype:
    """Search (or resume a search), write genotype.json and genotype.png."""
    genotype = search(ds, cfg, seed, run_dir, device, resume, log)
    draw_genotype(genotype, run_dir / "genotype.png", f"{ds.name}, seed {seed}")
    return genotype


def run_fix(
    ds: ZSLDataset, cfg: Config, seed: int, run_dir: Path, device: torch.device, resume: bool, log: Log
) -> dict:
    """Train and evaluate the hand-crafted pair (f-CLSWGAN's MLPs) with the configured framework."""
    return train_genotype(ds, fixed_genotype(cfg.model.fix_hidden), cfg, seed, run_dir, device, resume, log)


def run_nas(
    ds: ZSLDataset, cfg: Config, seed: int, run_dir: Path, device: torch.device, resume: bool, log: Log
) -> dict:
    """Search into ``run_dir/search``, retrain into ``run_dir/train``; metrics.json at the top.

    Each part resumes from its own checkpoint; a finished search is never repeated.
    """
    search_dir, train_dir = run_dir / "search", run_dir / "train"
    search_dir.mkdir(parents=True, exist_ok=True)
    train_dir.mkdir(parents=True, exist_ok=True)
    if (search_dir / "genotype.json").is_file():
        genotype = Genotype.load(search_dir / "genotype.json")
    else:
        genotype = run_search(ds, cfg, seed, search_dir, device, resume, log)
    verdict = json.loads((search_dir / "genotype.json").read_text()).get("search")
    validated = None
    if verdict and verdict.get("select") == "val":  # the search already ran the chosen pair's folds
        validated = candidate_dir(search_dir, verdict["epoch"])
    metrics = train_genotype(ds, genotype, cfg, seed, train_dir, device, resume, log, validated)
    metrics = {**metrics, "genotype": genotype.to_dict(), "search": verdict}
    write_json(run_dir / "metrics.json", metrics)
    return metrics


def train_genotype(
    ds: ZSLDataset,
    genotype: Genotype,
    cfg: Config,
    seed: int,
    run_dir: Path,
    device: torch.device,
    resume: bool,
    log: Log,
    validated: Path | None = None,
) -> dict:
    """Train and evaluate a given genotype (writes genotype.json and metrics.json in ``run_dir``);
    ``validated``: its folds already run there (see :func:`train_and_evaluate`)."""
    genotype.save(run_dir / "genotype.json")
    return train_and_evaluate(ds, genotype, cfg, seed, run_dir, device, resume, log, validated=validated)
