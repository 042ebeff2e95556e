"""The paper's figures from a grid: Figs. 3, 4 and 6 per dataset and framework, and Fig. 5."""

from __future__ import annotations

import shutil
from pathlib import Path

from zeronas.errors import ZeroNASError
from zeronas.plots import plot_run, side_by_side
from zeronas.runs import Log


def _first_seed_cells(cells: Path) -> list[Path]:
    """Per dataset and framework, the finished NAS cell of the lowest seed of the grid."""
    if not cells.is_dir():
        return []
    first: dict[Path, Path] = {}
    done = (c for c in cells.glob("*/*/nas/seed*") if (c / "metrics.json").is_file())
    for cell in sorted(done, key=lambda c: int(c.name.removeprefix("seed"))):
        first.setdefault(cell.parent, cell)
    return sorted(first.values())


def figures(grid_dir: Path, out: Path, log: Log = print) -> list[Path]:
    """Figs. 3, 4 and 6 from the FIX and NAS cells of a comparison grid's lowest seed, per
    dataset and framework, and Fig. 5 if the grid has a transfer matrix."""
    nas_cells = _first_seed_cells(grid_dir / "cells")
    if not nas_cells:
        raise ZeroNASError(f"{grid_dir}: no finished NAS cell (run `zeronas experiment compare` first)")
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for nas in nas_cells:
        fw_dir = nas.parent.parent
        # cells/<dataset>/<framework>/nas/seed<N>: f-CLSWGAN's figures carry the dataset's name only
        name = fw_dir.parent.name + ("" if fw_dir.name == "clswgan" else f"_{fw_dir.name}")
        fix = fw_dir / "fix" / nas.name
        plot_run(nas, log)
        for src, dst in (
            ("search/genotype.png", f"fig3_genotype_{name}.png"),
            ("plots/zsl_search_train.png", f"fig6_accuracy_{name}.png"),
        ):
            if (nas / src).is_file():
                shutil.copyfile(nas / src, out / dst)
                written.append(out / dst)
        if (fix / "metrics.json").is_file():
            plot_run(fix, log)
            pair = [fix / "plots" / "tsne.png", nas / "plots" / "tsne.png"]
            if all(p.is_file() for p in pair):
                written.append(side_by_side(pair, ["FIX", "ZeroNAS"], out / f"fig4_tsne_{name}.png"))
    if (grid_dir / "transfer.png").is_file():
        shutil.copyfile(grid_dir / "transfer.png", out / "fig5_transfer.png")
        written.append(out / "fig5_transfer.png")
    return written
