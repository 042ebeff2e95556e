"""What every figure shares: the output folder, the resolution, atomic saving, loss-term labels."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator

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


# The frameworks' own loss terms (zeronas.frameworks), drawn in the fourth panel when recorded.
FRAMEWORK_TERMS = {
    "cls_loss": "classification loss of G(z,c)",
    "soul_loss": "soul-sample terms (LisGAN)",
    "vae_loss": "VAE loss (reconstruction + KL)",
    "recons_real": "semantic decoder on real features",
    "recons_fake": "semantic decoder on fakes",
}


def framework_terms(rows: Rows) -> list[str]:
    return [k for k in FRAMEWORK_TERMS if rows and k in rows[0]]
