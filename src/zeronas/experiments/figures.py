"""The paper's figures from a grid: Figs. 3, 4 and 6 per dataset and framework, and Fig. 5."""

from __future__ import annotations

import shutil
from pathlib import Path

from zeronas.errors import ZeroNASError
from zeronas.plots import plot_run, side_by_side
from zeronas.runs import Log


def figures(grid_dir: Path, out: Path, log: Log = print) -> list[Path]:
    """Figs. 3, 4 and 6 from the seed-0 FIX and NAS cells of a comparison grid, per dataset and
    framework, and Fig. 5 if the grid has a transfer matrix."""
    cells = grid_dir / "cells"
    nas_cells = (
        sorted(c for c in cells.glob("*/*/nas/seed0") if (c / "metrics.json").is_file()) if cells.is_dir() else []
    )
    if not nas_cells:
        raise ZeroNASError(f"{grid_dir}: no finished NAS cell (run `zeronas experiment compare` first)")
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for nas in nas_cells:
        fw_dir = nas.parent.parent
        # cells/<dataset>/<framework>/nas/seed0: f-CLSWGAN's figures carry the dataset's name only
        name = fw_dir.parent.name + ("" if fw_dir.name == "clswgan" else f"_{fw_dir.name}")
        fix = fw_dir / "fix" / "seed0"
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
