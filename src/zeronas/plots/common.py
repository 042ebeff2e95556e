"""What every figure shares: the output folder, the resolution, atomic saving, loss-term labels."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator

from zeronas.frameworks import term_labels
from zeronas.plots.load import Rows
from zeronas.runs import atomic_write

PLOTS = "plots"  # the figures of RUN_DIR go to RUN_DIR/plots/
DPI = 120


def save(fig: plt.Figure, path: Path) -> Path:
    """Save ``fig`` as PNG atomically and close it."""
    for ax in fig.axes:  # epochs are whole numbers
        if "epoch" in ax.get_xlabel():
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    try:
        atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=DPI, bbox_inches="tight"))
    finally:
        plt.close(fig)
    return path


def save_zsl_figure(fig: plt.Figure, ax: plt.Axes, xlabel: str, title: str, path: Path) -> Path:
    """Finish a figure of ZSL accuracy on the validation classes over epochs, and save it."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel("ZSL per-class top-1, validation classes (%)")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title)
    fig.tight_layout()
    return save(fig, path)


def framework_terms(rows: Rows) -> dict[str, str]:
    """The frameworks' own figures recorded in ``rows``, with their labels (each framework's
    ``terms``), but the Wasserstein estimate, which has a panel of its own."""
    labels = term_labels()
    return {k: label for k, label in labels.items() if k != "wasserstein" and rows and k in rows[0]}
