"""On a planted-architecture benchmark (``zeronas data synth --variant genotype``): how much of
the planted generator each method's generator recovers, beside how well it scores.

The table compares the searched generators with random genotypes from the same space (the
question "does the search find the planted architecture more often than chance?") and
reads only finished cells of a comparison grid.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from zeronas.config import Config
from zeronas.data import ZSLDataset
from zeronas.nas.genotype import Genotype
from zeronas.runs import atomic_write_text
from zeronas.synthetic import CHANCE_DRAWS, chance_recovery, planted_genotype, recovery

#: Methods whose cells carry a generator genotype, and where it is.
GENOTYPE_FILES = {
    "nas": "search/genotype.json",
    "nas_class_split": "search/genotype.json",
    "nas_heldout": "search/genotype.json",
    "random": "genotype.json",
}


def recovery_table(
    grid_out: Path, ds: ZSLDataset, framework: str, seeds: list[int], draws: list[int], cfg: Config
) -> str | None:
    """``recovery.md``: edges, operations and activations of the planted generator recovered by
    each finished search cell of ``seeds`` and random cell of ``draws`` (mean ± std;
    per cell in ``recovery.json``), with the cells' test ZSL top-1, and the chance level of
    :func:`chance_recovery` for ``cfg``'s space. None when ``ds`` has no planted genotype or
    no such cell is finished."""
    planted = planted_genotype(ds.source)
    if planted is None:
        return None
    base = grid_out / "cells" / ds.name / framework
    per_cell: dict[str, list[dict]] = {}
    for method, rel in GENOTYPE_FILES.items():
        names = [f"draw{d}" for d in draws] if method == "random" else [f"seed{s}" for s in seeds]
        for cell in (base / method / name for name in names):
            if not (cell / "metrics.json").is_file() or not (cell / rel).is_file():
                continue
            found = Genotype.load(cell / rel).generator
            zsl = json.loads((cell / "metrics.json").read_text())["zsl_top1"]
            per_cell.setdefault(method, []).append(
                {"cell": cell.name, "genotype": str(found), "zsl_top1": zsl, **recovery(found, planted)}
            )
    if not per_cell:
        return None
    lines = [
        f"Planted generator: `{planted}`",
        "",
        "| Method | cells | edges recovered | operations recovered | activations recovered | ZSL T1 |",
        "|---|---|---|---|---|---|",
    ]
    for method, cells in per_cell.items():
        cols = []
        for k in ("edges", "ops", "activations", "zsl_top1"):
            values = 100 * np.asarray([c[k] for c in cells])
            cols.append(f"{values.mean():.1f} ± {values.std():.1f}")
        lines.append(f"| {method} | {len(cells)} | " + " | ".join(cols) + " |")
    chance = chance_recovery(cfg, planted)
    cols = [f"{100 * v.mean():.1f} ± {100 * v.std():.1f}" for v in chance.values()]
    lines.append(
        f"| chance: random genotypes of the space, untrained | {CHANCE_DRAWS} | " + " | ".join(cols) + " | – |"
    )
    lines += [
        "",
        "In %, mean ± std over the cells. A planted edge (src -> node) is recovered when the generator keeps "
        "it; its operation when also the operation matches; its activation when the ReLU/LeakyReLU matches.",
        "",
    ]
    text = "\n".join(lines)
    atomic_write_text(grid_out / "recovery.md", text)
    atomic_write_text(grid_out / "recovery.json", json.dumps(per_cell, indent=2) + "\n")
    return text
