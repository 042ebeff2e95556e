"""The paper's experiments as resumable grids: comparison (Tables 1-2), ablation (Table 3),
transferability (Fig. 5) and figures (Figs. 3, 4, 6).

A grid directory holds ``grid.json`` (what was asked), one run directory per cell under
``cells/`` (a finished cell has ``metrics.json`` and is never recomputed; an unfinished
one resumes from its checkpoint), and the tables as Markdown and CSV.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from zeronas.config import Config, load_config
from zeronas.data import ZSLDataset, load_dataset
from zeronas.errors import ZeroNASError
from zeronas.nas.genotype import Genotype
from zeronas.pipeline import run_fix, run_nas, run_search, train_genotype
from zeronas.runs import Log, atomic_write_text, write_json, write_record

METHODS = {
    "eszsl": "ESZSL (no generator)",
    "fix": "{title} FIX",
    "nas_g_only": "{title} + ZeroNAS, searched G only (fixed D)",
    "nas_d_only": "{title} + ZeroNAS, searched D only (fixed G)",
    "nas": "{title} + ZeroNAS",
}
COLUMNS = (("zsl_top1", "ZSL T1"), ("gzsl_seen", "S"), ("gzsl_unseen", "U"), ("gzsl_h", "H"), ("cal_h", "H (cal.)"))


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
        cfg.train.framework = framework
        return cfg

    def cell(self, rel: str, fn: Callable[[Path], dict], ds: ZSLDataset, cfg: Config, seed: int) -> dict:
        """Run one cell unless its metrics.json exists; resume it if it was interrupted."""
        d = self.out / "cells" / rel
        done = d / "metrics.json"
        if done.is_file():
            self.log(f"[done] {rel}")
            return json.loads(done.read_text())
        self.log(f"[run] {rel}")
        d.mkdir(parents=True, exist_ok=True)
        write_record(
            d,
            f"experiment cell {rel}",
            data=ds.source,
            seed=seed,
            split_seed=ds.split_seed,
            config=cfg.to_dict(),
            dataset=ds.summary(),
            device=str(self.device),
        )
        metrics = fn(d)
        if not done.is_file():
            write_json(done, metrics)
        return metrics


def _method_cell(grid: Grid, ds: ZSLDataset, framework: str, method: str, seed: int) -> dict:
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


def _summary(values: list[float]) -> tuple[float, float]:
    a = np.asarray(values, dtype=float) * 100
    return float(a.mean()), float(a.std(ddof=1)) if a.size > 1 else 0.0


def _row_values(m: dict) -> dict[str, float]:
    return {**{k: m[k] for k, _ in COLUMNS[:4]}, "cal_h": m["calibrated"]["gzsl_h"]}


def method_table(grid: Grid, methods: list[str], name: str, frameworks: tuple[str, ...] = ("clswgan",)) -> str:
    """Run every (dataset, framework, method, seed) cell; write ``name``.md/.csv; return the Markdown.

    ESZSL, which has no generator, is one row whatever the frameworks.
    """
    from zeronas.frameworks import framework_class

    rows = [("", m) for m in methods if m == "eszsl"] + [(f, m) for f in frameworks for m in methods if m != "eszsl"]
    datasets = [load_dataset(p) for p in grid.datasets]
    results: dict[tuple[str, str, str], list[dict]] = {}
    for ds in datasets:
        for fw, method in rows:
            seeds = 1 if method == "eszsl" else grid.seeds  # ESZSL is deterministic
            results[(ds.name, fw, method)] = [_row_values(_method_cell(grid, ds, fw, method, s)) for s in range(seeds)]

    csv_rows, md = [], []
    header = ["Method"] + [f"{ds.name} {label}" for ds in datasets for _, label in COLUMNS]
    md.append("| " + " | ".join(header) + " |")
    md.append("|" + "---|" * len(header))
    for fw, method in rows:
        cells = [METHODS[method].format(title=framework_class(fw).title if fw else "")]
        for ds in datasets:
            runs = results[(ds.name, fw, method)]
            for key, _label in COLUMNS:
                mean, std = _summary([r[key] for r in runs])
                cells.append(f"{mean:.1f} ± {std:.1f}")
                csv_rows.append(
                    {
                        "dataset": ds.name,
                        "framework": fw,
                        "method": method,
                        "metric": key,
                        "mean_pct": round(mean, 2),
                        "std_pct": round(std, 2),
                        "runs": len(runs),
                    }
                )
        md.append("| " + " | ".join(cells) + " |")
    eszsl = " (ESZSL: deterministic, one run)" if "eszsl" in methods else ""
    note = (
        f"\nMean ± sample std over {grid.seeds} seeds{eszsl}, in %. "
        "ZSL T1: per-class top-1 on unseen classes. S, U, H: GZSL per-class accuracy on seen and unseen test "
        "images and their harmonic mean; H (cal.): with calibrated stacking, its constant chosen on validation "
        "classes. Every epoch and hyperparameter was selected on validation classes; test data was used once.\n"
    )
    text = "\n".join(md) + "\n" + note
    atomic_write_text(grid.out / f"{name}.md", text)
    _write_rows(grid.out / f"{name}.csv", csv_rows)
    return text


def transfer_matrix(grid: Grid, framework: str = "clswgan") -> str:
    """Search on each dataset A, train the found pair on each dataset B (paper Fig. 5).

    The search on A is the search of A's NAS cell (``cells/A/<framework>/nas/seed<N>/search``),
    shared with ``compare`` in the same grid; A on A is that NAS cell.
    """
    datasets = [load_dataset(p) for p in grid.datasets]
    rows, csv_rows = [], []
    found: dict[tuple[str, int], Genotype] = {}
    for src in datasets:
        cfg = grid.config(src, framework)
        for s in range(grid.seeds):
            d = grid.out / "cells" / src.name / framework / "nas" / f"seed{s}" / "search"
            g_path = d / "genotype.json"
            if not g_path.is_file():
                d.mkdir(parents=True, exist_ok=True)
                write_record(
                    d,
                    "experiment transfer search",
                    data=src.source,
                    seed=s,
                    split_seed=src.split_seed,
                    config=cfg.to_dict(),
                    dataset=src.summary(),
                    device=str(grid.device),
                )
                run_search(src, cfg, s, d, grid.device, True, grid.log)
            found[(src.name, s)] = Genotype.load(g_path)
    header = ["searched on \\ trained on"] + [f"{b.name} ZSL T1 / H (cal.)" for b in datasets]
    rows.append("| " + " | ".join(header) + " |")
    rows.append("|" + "---|" * len(header))
    for src in datasets + [None]:
        cells = [src.name if src else "FIX (no search)"]
        for dst in datasets:
            cfg = grid.config(dst, framework)
            runs = []
            for s in range(grid.seeds):
                if src is None or src.name == dst.name:
                    m = _method_cell(grid, dst, framework, "fix" if src is None else "nas", s)
                else:
                    rel = f"transfer/{framework}/{src.name}__on__{dst.name}/seed{s}"
                    geno = found[(src.name, s)]

                    def run(d: Path, ds: ZSLDataset = dst, g: Genotype = geno, c: Config = cfg, s: int = s) -> dict:
                        return train_genotype(ds, g, c, s, d, grid.device, True, grid.log)

                    m = grid.cell(rel, run, dst, cfg, s)
                runs.append(_row_values(m))
            z, h = _summary([r["zsl_top1"] for r in runs]), _summary([r["cal_h"] for r in runs])
            cells.append(f"{z[0]:.1f} ± {z[1]:.1f} / {h[0]:.1f} ± {h[1]:.1f}")
            csv_rows.append(
                {
                    "framework": framework,
                    "searched_on": src.name if src else "FIX",
                    "trained_on": dst.name,
                    "zsl_mean_pct": round(z[0], 2),
                    "zsl_std_pct": round(z[1], 2),
                    "cal_h_mean_pct": round(h[0], 2),
                    "cal_h_std_pct": round(h[1], 2),
                }
            )
        rows.append("| " + " | ".join(cells) + " |")
    text = "\n".join(rows) + f"\n\nMean ± sample std over {grid.seeds} seeds, in %.\n"
    atomic_write_text(grid.out / "transfer.md", text)
    _write_rows(grid.out / "transfer.csv", csv_rows)
    from zeronas.plot import plot_transfer

    plot_transfer(csv_rows, grid.out / "transfer.png", f"{framework}, seeds 0-{grid.seeds - 1}")
    return text


def figures(grid_dir: Path, out: Path, log: Log = print) -> list[Path]:
    """Figs. 3, 4 and 6 from the seed-0 FIX and NAS cells of a comparison grid, per dataset and
    framework, and Fig. 5 if the grid has a transfer matrix."""
    from zeronas.plot import plot_run, side_by_side

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


def _write_rows(path: Path, rows: list[dict]) -> None:
    buf = io.StringIO()
    if rows:
        w = csv.DictWriter(buf, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    atomic_write_text(path, buf.getvalue())
