"""The paper's tables from grid cells: comparison (Tables 1-2), ablation (Table 3) and
transferability (Fig. 5), beside the cells as Markdown (``.md``), LaTeX (``.tex``, a booktabs
``tabular`` with the note as comments) and CSV (``.csv``, one row per figure, in %)."""

from __future__ import annotations

import csv
import io
import math
import textwrap
from dataclasses import replace
from pathlib import Path

import numpy as np

from zeronas.data import ZSLDataset
from zeronas.errors import ZeroNASError
from zeronas.experiments.executors import Executor
from zeronas.experiments.grid import (
    METHODS,
    NO_FRAMEWORK,
    CellJob,
    CellSpec,
    Grid,
    compute_cells,
    grid_dataset,
    method_spec,
    nas_search,
    paper_arch_for,
    seeds_label,
)
from zeronas.experiments.recovery import matching_table, planted_cells, recovery_table, write_recovery
from zeronas.plots import plot_transfer
from zeronas.runs import atomic_write_text
from zeronas.synthetic import planted_genotype

COLUMNS = (
    ("val_zsl", "val ZSL"),
    ("zsl_top1", "ZSL T1"),
    ("gzsl_seen", "S"),
    ("gzsl_unseen", "U"),
    ("gzsl_h", "H"),
    ("val_cal_h", "val H (cal.)"),
    ("cal_h", "H (cal.)"),
)


def _summary(values: list[float]) -> tuple[float, float]:
    a = np.asarray(values, dtype=float) * 100
    return float(a.mean()), float(a.std(ddof=1)) if a.size > 1 else math.nan


def _fmt(mean: float, std: float) -> str:
    """``mean ± std``, or the value alone for a single run."""
    return f"{mean:.1f}" if math.isnan(std) else f"{mean:.1f} ± {std:.1f}"


def _row_values(m: dict) -> dict[str, float]:
    """The table's numbers of a cell: test figures, and the validation figures they were chosen
    on; for each extra GZSL rule of the framework (``metrics["rules"]``), its validation H and H."""
    v = m["validation"]
    return {
        "val_zsl": v["zsl"]["val_zsl_top1"],
        **{k: m[k] for k in ("zsl_top1", "gzsl_seen", "gzsl_unseen", "gzsl_h")},
        "val_cal_h": v["gzsl_calibrated"]["val_h"],
        "cal_h": m["calibrated"]["gzsl_h"],
        **{f"val_rule_{key}_h": v[f"gzsl_{key}"]["val_h"] for key in m.get("rules", {})},
        **{f"rule_{key}_h": r["gzsl_h"] for key, r in m.get("rules", {}).items()},
    }


def _columns(runs: list[dict[str, float]]) -> tuple[tuple[str, str], ...]:
    """:data:`COLUMNS`, then two for each extra GZSL rule some run has (``H (<key>)``): a
    rule's columns appear only in tables with a framework that has it."""
    keys = sorted({k[len("rule_") : -2] for r in runs for k in r if k.startswith("rule_")})
    return COLUMNS + tuple(
        c for key in keys for c in ((f"val_rule_{key}_h", f"val H ({key})"), (f"rule_{key}_h", f"H ({key})"))
    )


def _runs_on(method: str, ds: ZSLDataset) -> bool:
    """Whether ``method`` has a cell on ``ds``: the oracle needs a planted generator
    (semi-synthetic data), ``planted`` a planted architecture; every other method runs anywhere."""
    if method == "oracle":
        return (Path(ds.source) / "planted.npz").is_file()
    if method == "planted":
        return planted_genotype(ds.source) is not None
    return True


def _random_figures(
    runs: list[dict[str, float]], columns: tuple[tuple[str, str], ...] = COLUMNS
) -> dict[str, tuple[float, float, float, float] | None]:
    """Per column, in %: the quartiles of the random draws and random search's figure (the
    draw with the best validation ZSL for the ZSL columns, the best validation H (cal.) for
    the GZSL columns); None in a rule's columns for draws without that rule."""
    figures: dict[str, tuple[float, float, float, float] | None] = {}
    for key, _ in columns:
        if any(key not in r for r in runs):
            figures[key] = None
            continue
        q1, q2, q3 = np.percentile(np.asarray([r[key] for r in runs]) * 100, [25, 50, 75])
        chooser = "val_zsl" if key in ("val_zsl", "zsl_top1") else "val_cal_h"
        pick = max(runs, key=lambda r: r[chooser])  # the first draw on ties
        figures[key] = (float(q1), float(q2), float(q3), pick[key] * 100)
    return figures


def _csv_row(
    dataset: str,
    framework: str,
    method: str,
    metric: str,
    mean: float,
    std: float,
    runs: int,
    quartiles: tuple[float, float] | None = None,
) -> dict:
    """A row of compare.csv, in %: ``std_pct`` empty for one run and for the random rows,
    ``q1_pct``/``q3_pct`` the quartiles of the random draws (``random_median``) only."""
    q1, q3 = quartiles or (math.nan, math.nan)
    return {
        "dataset": dataset,
        "framework": framework,
        "method": method,
        "metric": metric,
        "mean_pct": round(mean, 2),
        "std_pct": None if math.isnan(std) else round(std, 2),
        "runs": runs,
        "q1_pct": None if math.isnan(q1) else round(q1, 2),
        "q3_pct": None if math.isnan(q3) else round(q3, 2),
    }


def _metrics(grid: Grid, spec: CellSpec) -> dict:
    """The metrics of a cell that :func:`compute_cells` has finished."""
    m = grid.finished(spec)
    if m is None:
        raise ZeroNASError(f"{grid.out / 'cells' / spec.rel}: the cell has no metrics.json")
    return m


def method_table(
    grid: Grid,
    methods: list[str],
    name: str,
    frameworks: tuple[str, ...] = ("clswgan",),
    executor: Executor | None = None,
) -> str:
    """Run every (dataset, framework, method, seed) cell; write ``name``.md/.csv; return the Markdown.

    Methods without a generator architecture (oracle, ESZSL, linear generator) are one row
    whatever the frameworks; the oracle exists on semi-synthetic benchmarks only, ``planted``
    (the planted architecture retrained) on planted-architecture ones (elsewhere "–").
    ``random`` gives two rows: the median of the random genotypes ``grid.random_draws`` (with
    quartiles) and random search, the draw best on the validation figure of each column.
    The unfinished cells are computed first, on ``executor`` (default: one after the other here).
    """
    from zeronas.frameworks import framework_class

    rows = [("", m) for m in methods if m in NO_FRAMEWORK]
    rows += [(f, m) for f in frameworks for m in methods if m not in NO_FRAMEWORK]
    datasets = [grid_dataset(p) for p in grid.datasets]
    wanted: dict[tuple[str, str, str], list[CellJob]] = {}
    for ds in datasets:
        for fw, method in rows:
            if not _runs_on(method, ds):
                continue
            seeds = list(grid.random_draws) if method == "random" else grid.seeds
            if method == "eszsl":  # deterministic: one run
                seeds = seeds[:1]
            wanted[(ds.name, fw, method)] = [CellJob.of(ds, fw, method, s) for s in seeds]
    compute_cells(grid, [job for jobs in wanted.values() for job in jobs], executor)
    specs = {k: [job.spec(grid) for job in jobs] for k, jobs in wanted.items()}
    metrics = {k: [(spec.rel, _metrics(grid, spec)) for spec in cells] for k, cells in specs.items()}
    results = {k: [_row_values(m) for _, m in cells] for k, cells in metrics.items()}
    warned = [f"{rel}: {line}" for cells in metrics.values() for rel, m in cells for line in m.get("warnings", [])]

    columns = _columns([r for runs in results.values() for r in runs])
    csv_rows: list[dict] = []
    table = [["Method"] + [f"{ds.name} {label}" for ds in datasets for _, label in columns]]
    for fw, method in rows:
        title = framework_class(fw).title if fw else ""
        label = METHODS[method].format(title=title, paper=", ".join(paper_arch_for(d).upper() for d in datasets))
        if method == "random":
            n = len(grid.random_draws)
            drawn = "" if grid.random_draws == list(range(n)) else f" (draws {seeds_label(grid.random_draws)})"
            median_cells: list[str] = [f"{label}, median of {n}{drawn} [quartiles]"]
            best_cells: list[str] = [f"{label}, best of {n}{drawn} on validation (random search)"]
            for ds in datasets:
                for key, figures in _random_figures(results[(ds.name, fw, method)], columns).items():
                    if figures is None:
                        median_cells.append("–")
                        best_cells.append("–")
                        continue
                    q1, q2, q3, best = figures
                    median_cells.append(f"{q2:.1f} [{q1:.1f}, {q3:.1f}]")
                    best_cells.append(f"{best:.1f}")
                    csv_rows.append(_csv_row(ds.name, fw, "random_median", key, q2, math.nan, n, (q1, q3)))
                    csv_rows.append(_csv_row(ds.name, fw, "random_search", key, best, math.nan, n))
            table += [median_cells, best_cells]
            continue
        cells = [label]
        for ds in datasets:
            runs = results.get((ds.name, fw, method))
            for key, _label in columns:
                if runs is None or any(key not in r for r in runs):
                    cells.append("–")
                    continue
                mean, std = _summary([r[key] for r in runs])
                cells.append(_fmt(mean, std))
                csv_rows.append(_csv_row(ds.name, fw, method, key, mean, std, len(runs)))
        table.append(cells)
    note = (
        f"Mean ± sample std over seeds {seeds_label(grid.seeds)}, in % (one run: no ±; ESZSL is deterministic). "
        "val ZSL and val H (cal.): the mean over the class-disjoint validation folds at the selected "
        "epoch (or hyperparameter), the figure every choice was made on. ZSL T1: per-class top-1 on "
        "unseen classes. S, U, H: GZSL per-class accuracy on seen and unseen test images and their harmonic "
        "mean; H (cal.): with calibrated stacking, its constant chosen on the validation folds. Test data "
        "was used once."
    )
    rules = {
        k: v for fw in frameworks for k, v in framework_class(fw).gzsl_rules.items() if f"rule_{k}_h" in dict(columns)
    }
    if rules:
        note += (
            " H (<rule>): a framework's own GZSL decision rule, reported beside the plain and calibrated GZSL, "
            "its epoch chosen on the validation folds (val H (<rule>)); only that framework's rows have it: "
            + "; ".join(f"{k}: {v}" for k, v in rules.items())
            + "."
        )
    if warned:
        note += " Choices at the edge of the values tried (the best may lie beyond them): " + "; ".join(warned) + "."
    text = _write_tables(grid.out / name, table, note, csv_rows)
    sections, found = [], {}
    for fw in frameworks:
        per_ds = {ds.name: planted_cells(grid.out, ds, fw, grid.seeds, grid.random_draws) for ds in datasets}
        for ds in datasets:
            if per_ds[ds.name]:
                found[f"{ds.name}/{fw}"] = per_ds[ds.name]
                table_md = recovery_table(ds, per_ds[ds.name], grid.config(ds, fw))
                sections.append(f"Recovery of the planted generator ({ds.name}, {fw}):\n\n{table_md}")
        matching = matching_table(datasets, per_ds)
        if matching is not None:
            sections.append(f"Across the planted benchmarks ({fw}):\n\n{matching}")
    if sections:
        write_recovery(grid.out, sections, found)
        text += "\n" + "\n".join(sections)
    return text


def transfer_matrix(grid: Grid, framework: str = "clswgan", executor: Executor | None = None) -> str:
    """Search on each dataset A, train the found pair on each dataset B (paper Fig. 5).

    The search on A is the search of A's NAS cell (``cells/A/<framework>/nas/seed<N>/search``),
    shared with ``compare`` in the same grid; A on A is that NAS cell. The searches are computed
    first on ``executor`` (default: one after the other here), then the trainings, which need them.
    """
    datasets = [grid_dataset(p) for p in grid.datasets]
    csv_rows: list[dict] = []
    searches = [CellJob.of(src, framework, "search", s) for src in datasets for s in grid.seeds]
    compute_cells(grid, searches, executor)
    found = {
        (src.name, s): nas_search(grid, method_spec(grid, src, framework, "nas", s))
        for src in datasets
        for s in grid.seeds
    }
    cells: dict[tuple[str, str, int], CellJob] = {}  # (searched on, trained on, seed)
    for source in [*datasets, None]:
        for dst in datasets:
            for s in grid.seeds:
                if source is None or source.name == dst.name:
                    job = CellJob.of(dst, framework, "fix" if source is None else "nas", s)
                else:
                    genotype = found[(source.name, s)].to_dict()
                    job = replace(CellJob.of(dst, framework, "transfer", s), source=source.name, genotype=genotype)
                cells[(source.name if source else "", dst.name, s)] = job
    compute_cells(grid, list(cells.values()), executor)
    table = [["searched on \\ trained on"] + [f"{b.name} ZSL T1 / H (cal.)" for b in datasets]]
    for source in [*datasets, None]:
        row = [source.name if source else "FIX (no search)"]
        for dst in datasets:
            jobs = [cells[(source.name if source else "", dst.name, s)] for s in grid.seeds]
            runs = [_row_values(_metrics(grid, job.spec(grid))) for job in jobs]
            z, h = _summary([r["zsl_top1"] for r in runs]), _summary([r["cal_h"] for r in runs])
            row.append(f"{_fmt(*z)} / {_fmt(*h)}")
            csv_rows.append(
                {
                    "framework": framework,
                    "searched_on": source.name if source else "FIX",
                    "trained_on": dst.name,
                    "zsl_mean_pct": round(z[0], 2),
                    "zsl_std_pct": None if math.isnan(z[1]) else round(z[1], 2),
                    "cal_h_mean_pct": round(h[0], 2),
                    "cal_h_std_pct": None if math.isnan(h[1]) else round(h[1], 2),
                }
            )
        table.append(row)
    note = f"Mean ± sample std over seeds {seeds_label(grid.seeds)}, in %."
    text = _write_tables(grid.out / "transfer", table, note, csv_rows)
    plot_transfer(csv_rows, grid.out / "transfer.png", f"{framework}, seeds {seeds_label(grid.seeds)}")
    return text


#: LaTeX for the characters of table cells that TeX reads otherwise.
LATEX = {
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "\\": r"\textbackslash{}",
    "±": r"$\pm$",
    "–": "--",
}


def markdown_table(table: list[list[str]]) -> str:
    """A header row and body rows as a Markdown table."""
    header, *body = table
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in body])


def latex_table(table: list[list[str]], note: str) -> str:
    """The same table as a booktabs ``tabular`` (``\\usepackage{booktabs}``), the note above it
    as comments, ready for ``\\input``."""

    def tex(cell: str) -> str:
        return "".join(LATEX.get(ch, ch) for ch in cell)

    header, *body = table
    lines = [f"% {line}" for line in textwrap.wrap(note, 100)]
    lines += [r"\begin{tabular}{l" + "r" * (len(header) - 1) + "}", r"\toprule", " & ".join(map(tex, header)) + r" \\"]
    lines += [r"\midrule", *(" & ".join(map(tex, row)) + r" \\" for row in body), r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


def _write_tables(stem: Path, table: list[list[str]], note: str, csv_rows: list[dict]) -> str:
    """``stem``.md, .tex and .csv; returns the Markdown."""
    text = markdown_table(table) + "\n\n" + note + "\n"
    atomic_write_text(stem.with_suffix(".md"), text)
    atomic_write_text(stem.with_suffix(".tex"), latex_table(table, note))
    _write_rows(stem.with_suffix(".csv"), csv_rows)
    return text


def _write_rows(path: Path, rows: list[dict]) -> None:
    buf = io.StringIO()
    if rows:
        w = csv.DictWriter(buf, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    atomic_write_text(path, buf.getvalue())
