"""Figures of experiment grids: images side by side (paper Fig. 4) and the transfer matrix (Fig. 5)."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from zeronas.plots.common import save


def side_by_side(images: list[Path], titles: list[str], path: Path) -> Path:
    """Put existing PNG figures next to each other (e.g. the FIX and NAS t-SNEs, Fig. 4)."""
    import matplotlib.image as mpimg

    fig, axes = plt.subplots(1, len(images), figsize=(6.5 * len(images), 5.5))
    for ax, img, title in zip(np.atleast_1d(axes), images, titles, strict=True):
        ax.imshow(mpimg.imread(img))
        ax.set_title(title)
        ax.axis("off")
    fig.tight_layout()
    return save(fig, Path(path))


def plot_transfer(rows: list[dict], path: Path, title: str = "") -> Path:
    """Fig. 5: ZSL top-1 and calibrated H of architectures searched on A (rows) and trained
    on B (columns), from ``transfer.csv`` rows; the last row is FIX (no search)."""
    srcs = list(dict.fromkeys(r["searched_on"] for r in rows))
    dsts = list(dict.fromkeys(r["trained_on"] for r in rows))
    cell = {(r["searched_on"], r["trained_on"]): r for r in rows}
    fig, axes = plt.subplots(1, 2, figsize=(4.2 + 2.6 * len(dsts), 1.6 + 0.9 * len(srcs)))
    for ax, (key, label) in zip(axes, (("zsl", "ZSL top-1 (%)"), ("cal_h", "GZSL H, calibrated (%)")), strict=True):
        mean = np.array([[float(cell[(a, b)][f"{key}_mean_pct"]) for b in dsts] for a in srcs])
        # one seed has no spread: the cell shows the mean alone
        std = [[cell[(a, b)][f"{key}_std_pct"] for b in dsts] for a in srcs]
        ax.imshow(mean, cmap="viridis", vmin=0, vmax=100, aspect="auto")
        for i in range(len(srcs)):
            for j in range(len(dsts)):
                ax.text(
                    j,
                    i,
                    f"{mean[i, j]:.1f}" + (f"\n± {float(std[i][j]):.1f}" if std[i][j] is not None else ""),
                    ha="center",
                    va="center",
                    color="white" if mean[i, j] < 60 else "black",
                    fontsize=9,
                )
        ax.set_xticks(range(len(dsts)), dsts)
        ax.set_yticks(range(len(srcs)), [f"searched on {a}" if a != "FIX" else "FIX (no search)" for a in srcs])
        ax.set_xlabel("trained and tested on")
        ax.set_title(label)
    fig.suptitle(f"Transferability of searched architectures{' — ' + title if title else ''}")
    fig.tight_layout()
    return save(fig, Path(path))
