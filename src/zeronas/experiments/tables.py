"""The paper's tables from grid cells: comparison (Tables 1-2), ablation (Table 3) and
transferability (Fig. 5), as Markdown and CSV beside the cells."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from zeronas.config import Config
from zeronas.data import ZSLDataset, load_dataset
from zeronas.experiments.grid import METHODS, Grid, method_cell
from zeronas.nas.genotype import Genotype
from zeronas.pipeline import run_search, train_genotype
from zeronas.plots import plot_transfer
from zeronas.runs import atomic_write_text

COLUMNS = (("zsl_top1", "ZSL T1"), ("gzsl_seen", "S"), ("gzsl_unseen", "U"), ("gzsl_h", "H"), ("cal_h", "H (cal.)"))


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
            results[(ds.name, fw, method)] = [_row_values(method_cell(grid, ds, fw, method, s)) for s in range(seeds)]

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
                grid.record(d, "experiment transfer search", src, cfg, s)
                run_search(src, cfg, s, d, grid.device, True, grid.log)
            found[(src.name, s)] = Genotype.load(g_path)
    header = ["searched on \\ trained on"] + [f"{b.name} ZSL T1 / H (cal.)" for b in datasets]
    rows.append("| " + " | ".join(header) + " |")
    rows.append("|" + "---|" * len(header))
    for source in [*datasets, None]:
        cells = [source.name if source else "FIX (no search)"]
        for dst in datasets:
            cfg = grid.config(dst, framework)
            runs = []
            for s in range(grid.seeds):
                if source is None or source.name == dst.name:
                    m = method_cell(grid, dst, framework, "fix" if source is None else "nas", s)
                else:
                    rel = f"transfer/{framework}/{source.name}__on__{dst.name}/seed{s}"
                    geno = found[(source.name, s)]

                    def run(d: Path, ds: ZSLDataset = dst, g: Genotype = geno, c: Config = cfg, s: int = s) -> dict:
                        return train_genotype(ds, g, c, s, d, grid.device, True, grid.log)

                    m = grid.cell(rel, run, dst, cfg, s)
                runs.append(_row_values(m))
            z, h = _summary([r["zsl_top1"] for r in runs]), _summary([r["cal_h"] for r in runs])
            cells.append(f"{z[0]:.1f} ± {z[1]:.1f} / {h[0]:.1f} ± {h[1]:.1f}")
            csv_rows.append(
                {
                    "framework": framework,
                    "searched_on": source.name if source else "FIX",
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
    plot_transfer(csv_rows, grid.out / "transfer.png", f"{framework}, seeds 0-{grid.seeds - 1}")
    return text


def _write_rows(path: Path, rows: list[dict]) -> None:
    buf = io.StringIO()
    if rows:
        w = csv.DictWriter(buf, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    atomic_write_text(path, buf.getvalue())
