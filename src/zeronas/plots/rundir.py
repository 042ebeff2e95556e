"""Figures of a run directory: losses, validation accuracy, alpha/beta, and a t-SNE.

``plot_run(run_dir)`` recognises three kinds of run directory by the files in it:

* a train run (``zeronas train``): ``history.csv`` -> ``losses.png``, ``validation.png``
  (paper Fig. 6, "accuracy during training", with the epochs selected on the validation
  classes marked) and ``tsne.png`` (paper Fig. 4: real against synthetic unseen test
  features of the trained generator);
* a search run (``zeronas search``): ``search_history.csv`` and ``arch_history.json`` ->
  ``search_losses.png``, ``search_validation.png`` (when the search recorded ``val_zsl``)
  and ``arch_weights.png`` (how softmax(beta) and softmax(alpha) evolved);
* a combined run (``zeronas run``): its ``search/`` and ``train/`` sub-folders, plotted
  together into ``RUN_DIR/plots/`` (plus ``zsl_search_train.png`` when both record ZSL
  validation accuracy).

Every figure is written atomically (``zeronas.runs.atomic_write``).
"""

from __future__ import annotations

from pathlib import Path

from zeronas.errors import ZeroNASError
from zeronas.plots.common import PLOTS
from zeronas.plots.curves import draw_search_and_train_zsl, draw_train_losses, draw_validation
from zeronas.plots.load import (
    has,
    is_search_run,
    is_train_run,
    load_search_run,
    load_train_run,
    read_csv,
    run_title,
    validation_rows,
)
from zeronas.plots.search import draw_arch_weights, draw_search_losses, draw_search_validation
from zeronas.plots.tsne import draw_tsne, load_tsne
from zeronas.runs import Log


def plot_run(run_dir: Path, log: Log = print, tsne: bool = True) -> list[Path]:
    """Write the figures of a train, search or combined run into ``run_dir/plots/``.

    Args:
        run_dir: a run directory written by ``zeronas train``, ``search`` or ``run``.
        log: where notes (a figure skipped, and why) go.
        tsne: draw the t-SNE of a train run (needs the dataset and the final checkpoint).

    Returns:
        The paths of the PNG files written, in the order written.

    Raises:
        ZeroNASError: ``run_dir`` is not a run directory.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ZeroNASError(f"{run_dir}: not a directory")
    out = run_dir / PLOTS
    written: list[Path] = []
    if is_train_run(run_dir) or is_search_run(run_dir):
        if is_search_run(run_dir):
            written += _plot_search(run_dir, out, log)
        if is_train_run(run_dir):
            written += _plot_train(run_dir, out, log, tsne)
        return written
    search_dir, train_dir = run_dir / "search", run_dir / "train"
    has_search, has_train = is_search_run(search_dir), is_train_run(train_dir)
    if not (has_search or has_train):
        raise ZeroNASError(
            f"{run_dir}: not a run directory (no history.csv, search_history.csv, "
            "or search/ and train/ sub-folders with them)"
        )
    if has_search:
        written += _plot_search(search_dir, out, log)
    else:
        log(f"note: {search_dir}: no search history yet; search figures skipped")
    if has_train:
        written += _plot_train(train_dir, out, log, tsne)
    else:
        log(f"note: {train_dir}: no training history yet; training figures skipped")
    if has_search and has_train:
        search_rows = read_csv(search_dir / "search_history.csv")
        select = validation_rows(read_csv(train_dir / "history.csv"))
        p = draw_search_and_train_zsl(search_rows, select, out / "zsl_search_train.png", run_title(train_dir))
        if p is not None:
            written.append(p)
    return written


def _plot_train(run_dir: Path, out: Path, log: Log, tsne: bool) -> list[Path]:
    run = load_train_run(run_dir)
    if not run.rows:
        log(f"note: {run_dir / 'history.csv'}: empty; training figures skipped")
        return []
    written = [draw_train_losses(run.rows, out / "losses.png", run.title)]
    select = validation_rows(run.rows)
    if has(select, "val_zsl") or has(select, "val_h"):
        written.append(draw_validation(select, run.chosen, out / "validation.png", run.title))
    else:
        log(f"note: {run_dir / 'history.csv'}: no validation scores yet; validation.png skipped")
    if tsne:
        data = load_tsne(run_dir, log)
        if data is not None:
            written.append(draw_tsne(data, out / "tsne.png"))
    return written


def _plot_search(run_dir: Path, out: Path, log: Log) -> list[Path]:
    run = load_search_run(run_dir)
    written: list[Path] = []
    if run.rows:
        written.append(draw_search_losses(run.rows, out / "search_losses.png", run.title))
        if has(run.rows, "val_zsl"):
            written.append(draw_search_validation(run.rows, out / "search_validation.png", run.title))
    else:
        log(f"note: {run_dir / 'search_history.csv'}: empty; search figures skipped")
    if run.arch:
        written.append(draw_arch_weights(run.arch, run.genotype, out / "arch_weights.png", run.title))
    else:
        log(f"note: {run_dir / 'arch_history.json'}: missing or empty; arch_weights.png skipped")
    return written
