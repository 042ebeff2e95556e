"""On a planted-architecture benchmark (``zeronas data synth --variant genotype``): how much of
the planted generator each method's generator recovers, beside how well it scores.

The table compares the searched generators with random genotypes from the same space (the
question "does the search find the planted architecture more often than chance?") and
reads only finished cells of a comparison grid. Given several planted benchmarks, the
matching table asks the question one benchmark cannot: does each search recover its own
benchmark's generator better than the others' (or derive the same generator whatever the
data)?
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from zeronas.config import ONE_SIDED, Config
from zeronas.data import ZSLDataset
from zeronas.experiments.grid import SEARCHES
from zeronas.nas.genotype import Genotype, NetGenotype
from zeronas.runs import atomic_write_text
from zeronas.synthetic import CHANCE_DRAWS, chance_recovery, planted_genotype, recovery

#: Up to this many searches every pairing is enumerated; beyond it they are sampled.
EXACT_PAIRINGS = 8
#: Pairings sampled beyond :data:`EXACT_PAIRINGS` searches.
SAMPLED_PAIRINGS = 100_000


def matched_recovery(found: Sequence[NetGenotype], planted: Sequence[NetGenotype]) -> dict[str, dict]:
    """Does each search recover *its own* benchmark's planted generator better than the others'?

    ``found[i]`` was searched on the benchmark planted with ``planted[i]``. A search whose
    result is set by the space and not by the data recovers every benchmark's planted
    generator about equally well, however far above the chance level of one benchmark that
    is. Per measure of :func:`recovery`: ``matrix`` (``[i][j]``: ``planted[j]`` recovered by
    ``found[i]``), ``matched`` (mean of the diagonal), ``mismatched`` (mean off it) and ``p``,
    the fraction of the ``n!`` pairings of searches with benchmarks whose mean recovery is at
    least ``matched`` (a permutation test; the smallest possible value is ``1/n!``). Exact up
    to :data:`EXACT_PAIRINGS` searches, sampled with a fixed seed beyond.
    """
    n = len(found)
    if n < 2 or len(planted) != n:
        raise ValueError("matched_recovery needs one planted generator per search, at least two of each")
    cells = [[recovery(f, p) for p in planted] for f in found]
    if n <= EXACT_PAIRINGS:
        pairings = np.asarray(list(itertools.permutations(range(n))))
    else:
        rng = np.random.default_rng(0)
        pairings = np.vstack([np.arange(n), [rng.permutation(n) for _ in range(SAMPLED_PAIRINGS)]])
    out = {}
    for k in cells[0][0]:
        m = np.asarray([[c[k] for c in row] for row in cells])
        means = m[np.arange(n), pairings].mean(axis=1)
        matched = float(np.trace(m) / n)
        out[k] = {
            "matrix": m.tolist(),
            "matched": matched,
            "mismatched": float((m.sum() - np.trace(m)) / (n * (n - 1))),
            "p": float((means >= matched - 1e-9).mean()),
        }
    return out


#: Methods whose cells carry a generator genotype, and where it is (``planted``: the planted
#: architecture itself, retrained: the fit the others are held to).
GENOTYPE_FILES = {
    "planted": "genotype.json",
    **{m: "search/genotype.json" for m in SEARCHES if m not in ONE_SIDED},
    "random": "genotype.json",
}


def planted_cells(grid_out: Path, ds: ZSLDataset, framework: str, seeds: list[int], draws: list[int]) -> dict:
    """Per method, the finished search and ``planted`` cells of ``seeds`` and random cells of
    ``draws`` on ``ds`` with their generator, its :func:`recovery` of the planted one, validation
    ZSL (the fold mean every choice is made on) and test ZSL top-1; empty when ``ds`` has no
    planted generator or no such cell is finished."""
    planted = planted_genotype(ds.source)
    if planted is None:
        return {}
    base = grid_out / "cells" / ds.name / framework
    per_cell: dict[str, list[dict]] = {}
    for method, rel in GENOTYPE_FILES.items():
        names = [f"draw{d}" for d in draws] if method == "random" else [f"seed{s}" for s in seeds]
        for cell in (base / method / name for name in names):
            if not (cell / "metrics.json").is_file() or not (cell / rel).is_file():
                continue
            found = Genotype.load(cell / rel).generator
            metrics = json.loads((cell / "metrics.json").read_text())
            scores = {"val_zsl": metrics["validation"]["zsl"]["val_zsl_top1"], "zsl_top1": metrics["zsl_top1"]}
            per_cell.setdefault(method, []).append(
                {"cell": cell.name, "genotype": str(found), **scores, **recovery(found, planted)}
            )
    return per_cell


def recovery_table(ds: ZSLDataset, per_cell: dict, cfg: Config) -> str:
    """One benchmark's section of ``recovery.md``: edges, operations and activations of the
    planted generator recovered by the cells of :func:`planted_cells` (mean ± std), with their
    validation and test ZSL top-1, and the chance level of :func:`chance_recovery` for ``cfg``'s space."""
    planted = planted_genotype(ds.source)
    assert planted is not None and per_cell
    lines = [
        f"Planted generator: `{planted}`",
        "",
        "| Method | cells | edges recovered | operations recovered | activations recovered | val ZSL | ZSL T1 |",
        "|---|---|---|---|---|---|---|",
    ]
    for method, cells in per_cell.items():
        cols = []
        for k in ("edges", "ops", "activations", "val_zsl", "zsl_top1"):
            values = 100 * np.asarray([c[k] for c in cells])
            cols.append(f"{values.mean():.1f} ± {values.std():.1f}")
        lines.append(f"| {method} | {len(cells)} | " + " | ".join(cols) + " |")
    chance = chance_recovery(cfg, planted)
    cols = [f"{100 * v.mean():.1f} ± {100 * v.std():.1f}" for v in chance.values()]
    lines.append(
        f"| chance: random genotypes of the space, untrained | {CHANCE_DRAWS} | " + " | ".join(cols) + " | – | – |"
    )
    lines += [
        "",
        "In %, mean ± std over the cells. A planted edge (src -> node) is recovered when the generator keeps "
        "it; its operation when also the operation matches; its activation when the ReLU/LeakyReLU matches. "
        "planted: the planted architecture retrained like the others, with FIX's critic (the fit to match). "
        "val ZSL: the mean over the validation folds, where every choice is made.",
        "",
    ]
    return "\n".join(lines)


def matching_table(datasets: list[ZSLDataset], per_cell: dict[str, dict]) -> str | None:
    """Across planted benchmarks (``per_cell[ds.name]`` from :func:`planted_cells`): for each
    search method and seed run on at least two of them, :func:`matched_recovery` of the
    generators it found against the benchmarks' planted ones. None when no search ran on two
    planted benchmarks."""
    rows = []
    plants = {ds.name: planted_genotype(ds.source) for ds in datasets if per_cell.get(ds.name)}
    methods = sorted({m for name in plants for m in per_cell[name] if m not in ("random", "planted")})
    for method in methods:
        names = {c["cell"] for name in plants for c in per_cell[name].get(method, [])}
        for seed in sorted(names, key=lambda name: int(name.removeprefix("seed"))):
            found, planted = [], []
            for name, plant in plants.items():
                cell = next((c for c in per_cell[name].get(method, []) if c["cell"] == seed), None)
                if plant is not None and cell is not None:
                    found.append(NetGenotype.parse("generator", cell["genotype"]))
                    planted.append(plant)
            if len(found) < 2:
                continue
            r = matched_recovery(found, planted)
            cols = [f"{100 * r[k]['matched']:.1f} / {100 * r[k]['mismatched']:.1f} (p {r[k]['p']:.3f})" for k in r]
            rows.append(f"| {method} | {seed} | {len(found)} | " + " | ".join(cols) + " |")
    if not rows:
        return None
    head = [
        "Each search against its own benchmark's planted generator (matched) and the other benchmarks' (mismatched):",
        "",
        "| Method | cell | benchmarks | edges: matched / mismatched (p) | operations | activations |",
        "|---|---|---|---|---|---|",
    ]
    note = (
        "In %. p: the fraction of the pairings of searches with benchmarks whose mean recovery is at least the "
        "matched one; a search set by its space, not by the data, recovers every benchmark's generator alike "
        "(p near 1)."
    )
    return "\n".join([*head, *rows, "", note, ""])


def write_recovery(grid_out: Path, sections: list[str], per_cell: dict[str, dict]) -> None:
    """``recovery.md`` (the sections) and ``recovery.json`` (per ``dataset/framework``, the
    cells of :func:`planted_cells`)."""
    atomic_write_text(grid_out / "recovery.md", "\n".join(sections))
    atomic_write_text(grid_out / "recovery.json", json.dumps(per_cell, indent=2) + "\n")
