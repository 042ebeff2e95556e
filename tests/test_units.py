"""One unit where a person reads a number: accuracies in % in the epoch log lines and the
figures (the files keep fractions; the CLI summary and the tables are checked with them)."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pytest

import zeronas.plots.common
import zeronas.plots.curves
import zeronas.plots.search
from zeronas.engine.runner import Stage
from zeronas.evaluation.selection import ACCURACY_KEYS


def test_epoch_log_lines_show_accuracies_in_percent():
    stage = Stage.__new__(Stage)
    row = {"stage": "select", "epoch": 3, "critic_loss": -0.51234, "val_zsl": 0.5, "val_cs_constant": 0.25}
    row.update({k: 0.125 for k in ACCURACY_KEYS if k != "val_zsl"})
    line = stage.describe(row)
    assert line.startswith("select epoch 3 critic_loss=-0.5123 val_zsl=50.0% ")
    assert "val_cs_h=12.5%" in line and "val_cs_constant=0.2500" in line  # a constant, not an accuracy


@pytest.fixture
def drawn(monkeypatch) -> list[plt.Figure]:
    """The figures the drawing functions finish, kept open instead of saved."""
    figures: list[plt.Figure] = []

    def keep(fig: plt.Figure, path: Path) -> Path:
        figures.append(fig)
        return path

    for module in (zeronas.plots.common, zeronas.plots.curves, zeronas.plots.search):
        monkeypatch.setattr(module, "save", keep)
    yield figures
    plt.close("all")


def _rows(n: int = 4) -> list[dict]:
    return [
        {"stage": "select", "epoch": str(e), "val_zsl": str(0.2 + 0.1 * e), "val_seen": "0.8", "val_unseen": "0.1",
         "val_h": "0.18", "val_cs_seen": "0.6", "val_cs_unseen": "0.3", "val_cs_h": "0.4", "val_cs_constant": "0.5"}
        for e in range(1, n + 1)
    ]  # fmt: skip


def test_accuracy_figures_are_in_percent(drawn, tmp_path):
    rows = _rows()
    zeronas.plots.curves.draw_validation(rows, {"zsl": 2}, tmp_path / "v.png", "t")
    zeronas.plots.curves.draw_search_and_train_zsl(rows, rows, tmp_path / "z.png", "t")
    zeronas.plots.search.draw_search_validation(rows, tmp_path / "s.png", "t")
    assert len(drawn) == 3
    for fig in drawn:
        ax = fig.axes[0]
        assert "%" in ax.get_ylabel(), ax.get_ylabel()
        top = max(max(line.get_ydata()) for line in ax.lines if len(line.get_ydata()) == len(rows))
        assert top == pytest.approx(60.0)  # val_zsl of epoch 4: 0.6
    notes = [t.get_text() for t in drawn[2].axes[0].texts]
    assert notes == ["max 60.0% @ 4"]
