"""Curves of a training run: losses per stage, validation accuracy (paper Fig. 6), and the
ZSL accuracy during searching and training of a combined run."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from zeronas.plots.common import framework_terms, save, save_zsl_figure
from zeronas.plots.load import Rows, column, has, is_select, percent

_STAGE_STYLE = {
    "select": ("tab:blue", "select (validation classes)"),
    "final": ("tab:orange", "final (all seen classes)"),
}


def _stage(row: dict[str, str]) -> str:
    """The style of a row's stage: every validation fold's training draws as ``select``."""
    return "select" if is_select(row.get("stage")) else row.get("stage", "")


def draw_train_losses(rows: Rows, path: Path, title: str) -> Path:
    terms = framework_terms(rows)
    panels = [
        ("critic loss (WGAN-GP)", ["critic_loss"]),
        ("Wasserstein estimate", ["wasserstein"]),
        ("generator loss", ["generator_loss"]),
        (" / ".join(terms.values()) or "framework terms", list(terms)),
    ]
    fig, axes = plt.subplots(2, 2, figsize=(11, 7), sharex=True)
    for ax, (label, keys) in zip(axes.ravel(), panels, strict=True):
        for stage, (color, name) in _STAGE_STYLE.items():
            for key, style in zip(keys, ("-", "--", ":", "-."), strict=False):
                ep, val = column([r for r in rows if _stage(r) == stage], key)
                if ep.size:
                    ax.plot(
                        ep,
                        val,
                        color=color,
                        linestyle=style,
                        label=f"{name} {key}" if len(keys) > 1 else name,
                        marker="." if ep.size < 40 else None,
                    )
        ax.set_title(label, fontsize=9 if len(label) > 40 else None)
        ax.grid(alpha=0.3)
    for ax in axes[1]:
        ax.set_xlabel("epoch")
    axes[0, 0].legend(fontsize=8)
    fig.suptitle(f"Training losses per stage — {title}")
    fig.tight_layout()
    return save(fig, path)


def _vline(ax: plt.Axes, epoch: object, color: str, label: str) -> None:
    if isinstance(epoch, (int, float)):
        ax.axvline(float(epoch), color=color, linestyle=":", linewidth=1.5, label=f"{label}: epoch {int(epoch)}")


def draw_validation(rows: Rows, chosen: dict | None, path: Path, title: str) -> Path:
    chosen = chosen if isinstance(chosen, dict) else {}
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.3), sharex=True)
    ax = axes[0]
    ep, val = percent(rows, "val_zsl")
    ax.plot(ep, val, color="black", marker="o", markersize=3, label="ZSL top-1")
    _vline(ax, chosen.get("zsl"), "tab:red", "selected")
    ax.set_title("ZSL: per-class top-1 (validation classes)")
    panels = [
        (axes[1], "", "GZSL (plain)", chosen.get("gzsl")),
        (axes[2], "cs_", "GZSL, calibrated stacking", chosen.get("gzsl_calibrated")),
    ]
    for ax, pre, name, sel in panels:
        for key, label, color in (
            ("seen", "S (seen)", "tab:blue"),
            ("unseen", "U (unseen)", "tab:green"),
            ("h", "H", "black"),
        ):
            ep, val = percent(rows, f"val_{pre}{key}")
            if ep.size:
                ax.plot(
                    ep, val, color=color, marker="o", markersize=3, label=label, linewidth=2.2 if key == "h" else 1.3
                )
        _vline(ax, sel, "tab:red", "selected")
        ax.set_title(f"{name} (validation)")
    ep, constant = column(rows, "val_cs_constant")
    if ep.size and isinstance(chosen.get("gzsl_calibrated"), (int, float)):
        at = np.flatnonzero(ep == float(chosen["gzsl_calibrated"]))
        if at.size:
            axes[2].set_title(f"GZSL, calibrated stacking (validation; constant {constant[at[0]]:.2f} at selection)")
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="best")
    axes[0].set_ylabel("accuracy (%)")
    note = "" if chosen else " (run not finished: no epochs selected yet)"
    fig.suptitle(f"Accuracy during training, on the validation classes — {title}{note}")
    fig.tight_layout()
    return save(fig, path)


def draw_search_and_train_zsl(search: Rows, train_select: Rows, path: Path, title: str) -> Path | None:
    """Paper Fig. 6: ZSL accuracy (validation classes) during searching and training."""
    if not (has(search, "val_zsl") and has(train_select, "val_zsl")):
        return None
    fig, ax = plt.subplots(figsize=(7, 4.3))
    for rows, label, color in (
        (search, "searching (supernet G)", "tab:purple"),
        (train_select, "training the found architecture", "tab:blue"),
    ):
        ep, val = percent(rows, "val_zsl")
        ax.plot(ep, val, color=color, marker="o", markersize=3, label=label)
    return save_zsl_figure(fig, ax, "epoch", f"Accuracy during searching and training — {title}", path)
