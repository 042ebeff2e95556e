"""Reading a run directory for the figures: its CSV histories, JSON files and run record.

Nothing here draws; the drawing modules take what these functions return.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zeronas.errors import ZeroNASError

Rows = list[dict[str, str]]


def is_train_run(d: Path) -> bool:
    return (d / "history.csv").is_file()


def is_search_run(d: Path) -> bool:
    return (d / "search_history.csv").is_file()


def _float(v: str | None) -> float:
    if v is None or v.strip() == "":
        return math.nan
    try:
        return float(v)
    except ValueError:
        return math.nan


def read_csv(path: Path) -> Rows:
    try:
        with path.open(newline="") as f:
            return list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ZeroNASError(f"{path}: cannot read ({exc})") from None


def read_json(path: Path) -> object | None:
    """The parsed file, or None when it does not exist."""
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ZeroNASError(f"{path}: cannot read ({exc})") from None


def column(rows: Rows, key: str) -> tuple[np.ndarray, np.ndarray]:
    """(epochs, values) of the rows where ``key`` has a number."""
    ep = np.array([_float(r.get("epoch")) for r in rows])
    val = np.array([_float(r.get(key)) for r in rows])
    ok = ~np.isnan(val) & ~np.isnan(ep)
    return ep[ok], val[ok]


def percent(rows: Rows, key: str) -> tuple[np.ndarray, np.ndarray]:
    """(epochs, values in %) of an accuracy column (recorded as a fraction, plotted in %)."""
    ep, val = column(rows, key)
    return ep, 100 * val


def has(rows: Rows, key: str) -> bool:
    return column(rows, key)[1].size > 0


def is_select(stage: str | None) -> bool:
    """A select-stage row: ``select``, or ``select0``, ``select1``, ... (one per validation fold)."""
    return stage is not None and stage.startswith("select") and (stage == "select" or stage[6:].isdigit())


def validation_rows(rows: Rows) -> Rows:
    """The select stage's rows, averaged over the validation folds per epoch (the signal every
    choice is made on); one fold's rows are returned as they are."""
    select = [r for r in rows if is_select(r.get("stage"))]
    if len({r["stage"] for r in select}) <= 1:
        return select
    by_epoch: dict[str, list[dict[str, str]]] = {}
    for r in select:
        by_epoch.setdefault(r["epoch"], []).append(r)
    out = []
    for epoch, group in by_epoch.items():
        keys = [k for k in group[0] if k.startswith("val_") or k in ("critic_loss", "generator_loss")]
        mean = {"stage": "select", "epoch": epoch}
        for k in keys:
            vals = [_float(r.get(k)) for r in group]
            mean[k] = "" if any(math.isnan(v) for v in vals) else repr(float(np.mean(vals)))
        out.append(mean)
    return out


def run_title(run_dir: Path) -> str:
    """'<dataset>, seed <n>' from the run record (here or in a combined run's root)."""
    rec = read_record(run_dir)
    if not rec:
        return run_dir.name
    data = Path(str(rec.get("data", ""))).name.removesuffix(".npz") or "?"
    return f"{data}, seed {rec.get('seed', '?')}"


def read_record(run_dir: Path) -> dict | None:
    for p in (run_dir / "config.json", run_dir.parent / "config.json"):
        rec = read_json(p)
        if isinstance(rec, dict):
            return rec
    return None


@dataclass
class TrainRun:
    """What the figures of a ``zeronas train`` directory need."""

    rows: Rows  # history.csv
    chosen: dict | None  # metrics.json's selected_epoch, once the run has finished
    title: str


def load_train_run(run_dir: Path) -> TrainRun:
    metrics = read_json(run_dir / "metrics.json")
    chosen = metrics.get("selected_epoch") if isinstance(metrics, dict) else None
    return TrainRun(read_csv(run_dir / "history.csv"), chosen, run_title(run_dir))


@dataclass
class SearchRun:
    """What the figures of a ``zeronas search`` directory need."""

    rows: Rows  # search_history.csv
    arch: list[dict] | None  # arch_history.json, if it holds a searched network
    genotype: dict | None  # genotype.json
    title: str


def load_search_run(run_dir: Path) -> SearchRun:
    arch = read_json(run_dir / "arch_history.json")
    searched = isinstance(arch, list) and any(isinstance(e, dict) and ("generator" in e or "critic" in e) for e in arch)
    genotype = read_json(run_dir / "genotype.json")
    return SearchRun(
        read_csv(run_dir / "search_history.csv"),
        arch if searched and isinstance(arch, list) else None,
        genotype if isinstance(genotype, dict) else None,
        run_title(run_dir),
    )
