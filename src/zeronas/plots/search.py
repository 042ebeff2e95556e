"""Figures of a search run: the step losses, the supernet's validation accuracy, and how
softmax(alpha) and softmax(beta) evolved."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from zeronas.nas.genotype import INPUT_NAMES, N_INPUTS
from zeronas.nas.ops import OPS
from zeronas.plots.common import framework_terms, save, save_zsl_figure
from zeronas.plots.load import Rows, column, percent

# Short op labels for the heatmap axis (same order as zeronas.nas.ops.OPS).
_OP_SHORT = {
    "fc_relu": "ReLU",
    "fc_lrelu": "LReLU",
    "fc_bn_relu": "BN+ReLU",
    "fc_bn_lrelu": "BN+LReLU",
    "fc_relu_drop": "ReLU+drop",
    "fc_lrelu_drop": "LReLU+drop",
    "fc_bn_relu_drop": "BN+ReLU+drop",
    "fc_bn_lrelu_drop": "BN+LReLU+drop",
}


def draw_search_losses(rows: Rows, path: Path, title: str) -> Path:
    terms = framework_terms(rows)
    panels = [
        (
            "critic loss (WGAN-GP)",
            [("critic_arch", "architecture step (D_val)"), ("critic_weights", "weight step (D_tr)")],
        ),
        ("Wasserstein estimate", [("wasserstein", "W")]),
        (
            "generator loss",
            [("generator_arch", "architecture step (D_val)"), ("generator_weights", "weight step (D_tr)")],
        ),
        (" / ".join(terms.values()) or "framework terms", [(k, k) for k in terms]),
    ]
    fig, axes = plt.subplots(2, 2, figsize=(11, 7), sharex=True)
    for ax, (name, keys) in zip(axes.ravel(), panels, strict=True):
        for (key, label), color in zip(keys, ("tab:purple", "tab:green", "tab:orange"), strict=False):
            ep, val = column(rows, key)
            if ep.size:
                ax.plot(ep, val, color=color, label=label, marker="." if ep.size < 40 else None)
        if not ax.lines:
            ax.text(
                0.5,
                0.5,
                "not recorded (side kept fixed)",
                ha="center",
                va="center",
                transform=ax.transAxes,
                color="grey",
            )
        elif len(keys) > 1:
            ax.legend(fontsize=8)
        ax.set_title(name)
        ax.grid(alpha=0.3)
    for ax in axes[1]:
        ax.set_xlabel("search epoch")
    fig.suptitle(f"Search losses — {title}")
    fig.tight_layout()
    return save(fig, path)


def draw_search_validation(rows: Rows, path: Path, title: str) -> Path:
    fig, ax = plt.subplots(figsize=(7, 4.3))
    ep, val = percent(rows, "val_zsl")
    ax.plot(ep, val, color="tab:purple", marker="o", markersize=3, label="supernet generator")
    best = int(np.argmax(val))
    ax.annotate(
        f"max {val[best]:.1f}% @ {int(ep[best])}",
        (ep[best], val[best]),
        textcoords="offset points",
        xytext=(0, 8),
        ha="center",
        fontsize=8,
    )
    return save_zsl_figure(fig, ax, "search epoch", f"Accuracy during searching — {title}", path)


def _node_name(role: str, i: int, out_id: int) -> str:
    if i < N_INPUTS:
        return INPUT_NAMES[role][i]
    return "out" if i == out_id else f"v{i}"


def _kept_edges(genotype: dict | None, role: str, out_id: int) -> set[tuple[int, int]]:
    """(src, dst) of the edges in the final genotype (dst = out_id for the output node)."""
    net = genotype.get(role) if genotype else None
    if not isinstance(net, dict):
        return set()
    kept: set[tuple[int, int]] = set()
    try:
        for n in net.get("nodes", []):
            kept.update((int(e["from"]), int(n["id"])) for e in n.get("in", []))
        kept.update((int(e["from"]), out_id) for e in net.get("output", {}).get("in", []))
    except (TypeError, KeyError, ValueError, AttributeError):
        return set()
    return kept


def draw_arch_weights(arch: list[dict], genotype: dict | None, path: Path, title: str) -> Path:
    """Per searched network: softmax(beta) per target node over epochs, and softmax(alpha).

    Row 1 of a network: one panel per target node, a line per in-edge (bold: kept in the
    final genotype). Row 2: the final softmax(alpha) as an edges x ops heatmap (the
    chosen op boxed), and the weight of each edge's leading op over the epochs.
    """
    roles = [r for r in ("generator", "critic") if any(isinstance(e, dict) and r in e for e in arch)]
    entries = {r: [e for e in arch if isinstance(e, dict) and isinstance(e.get(r), dict)] for r in roles}
    n_targets = {r: len(entries[r][-1][r].get("beta", {})) for r in roles}
    ncols = max(max(n_targets.values(), default=1), 2)
    # per role: a row of beta panels (height 1) and a row with the alpha panels (height ~2.2)
    heights = []
    for _ in roles:
        heights += [1.0, 2.3]
    fig_h = sum(heights) * 2.6
    fig = plt.figure(figsize=(3.3 * ncols, fig_h))
    outer = fig.add_gridspec(len(heights), 1, height_ratios=heights, hspace=0.45, top=1 - 0.7 / fig_h, bottom=0.04)
    cmap = plt.get_cmap("tab10")
    for k, role in enumerate(roles):
        ents = entries[role]
        epochs = np.array([float(e.get("epoch", i + 1)) for i, e in enumerate(ents)])
        last = ents[-1][role]
        beta_keys = sorted(last.get("beta", {}), key=int)
        out_id = max(int(j) for j in beta_keys) if beta_keys else N_INPUTS
        kept = _kept_edges(genotype, role, out_id)
        gated = last.get("edge_gates") == "sigmoid"  # independent gates: 0.5 at the start
        # ---- beta
        row = outer[2 * k].subgridspec(1, ncols, wspace=0.3)
        for col, j in enumerate(beta_keys):
            ax = fig.add_subplot(row[0, col])
            n_in = len(last["beta"][j])
            series = np.full((len(ents), n_in), np.nan)
            for t, e in enumerate(ents):
                b = e[role].get("beta", {}).get(j)
                if isinstance(b, list) and len(b) == n_in:
                    series[t] = b
            for i in range(n_in):
                bold = (i, int(j)) in kept
                ax.plot(
                    epochs,
                    series[:, i],
                    color=cmap(i % 10),
                    linewidth=2.4 if bold else 1.0,
                    alpha=1.0 if bold or not kept else 0.6,
                    label=_node_name(role, i, out_id) + (" *" if bold else ""),
                )
            ax.axhline(0.5 if gated else 1.0 / n_in, color="grey", linestyle=":", linewidth=0.8)
            ax.set_title(f"{role[0].upper()}: in-edges of {_node_name(role, int(j), out_id)}", fontsize=9)
            ax.tick_params(labelsize=7)
            ax.legend(fontsize=6.5, ncol=2 if n_in > 4 else 1, loc="best", handlelength=1.2)
            ax.grid(alpha=0.3)
            if col == 0:
                ax.set_ylabel("sigmoid(β)" if gated else "softmax(β)", fontsize=8)
            ax.set_xlabel("search epoch", fontsize=7)
        # ---- alpha
        alpha_keys = sorted(last.get("alpha", {}), key=lambda s: tuple(int(p) for p in s.split("->")))
        row = outer[2 * k + 1].subgridspec(1, 2, wspace=0.35, width_ratios=[1, 1.25])
        ax_h = fig.add_subplot(row[0, 0])
        ax_t = fig.add_subplot(row[0, 1])
        if not alpha_keys:
            for ax in (ax_h, ax_t):
                ax.axis("off")
            continue
        mat = np.array([last["alpha"][e] for e in alpha_keys], dtype=float)
        labels = []
        for e in alpha_keys:
            i, j = (int(p) for p in e.split("->"))
            labels.append(
                f"{_node_name(role, i, out_id)}→{_node_name(role, j, out_id)}" + (" *" if (i, j) in kept else "")
            )
        im = ax_h.imshow(mat, aspect="auto", cmap="viridis")
        ax_h.set_yticks(range(len(labels)), labels, fontsize=7)
        ax_h.set_xticks(range(len(OPS)), [_OP_SHORT.get(o, o) for o in OPS], rotation=45, ha="right", fontsize=7)
        for r, c in enumerate(mat.argmax(axis=1)):
            ax_h.add_patch(plt.Rectangle((c - 0.5, r - 0.5), 1, 1, fill=False, edgecolor="red", linewidth=1.2))
        fig.colorbar(im, ax=ax_h, fraction=0.04, pad=0.02).ax.tick_params(labelsize=7)
        ax_h.set_title(f"{role}: final softmax(α) per edge (red: chosen op; *: kept edge)", fontsize=9)
        # weight of the final leading op of each edge, over epochs (edges x epochs heatmap)
        lead = mat.argmax(axis=1)
        traj = np.full((len(alpha_keys), len(ents)), np.nan)
        for t, e in enumerate(ents):
            a = e[role].get("alpha", {})
            for r, key in enumerate(alpha_keys):
                v = a.get(key)
                if isinstance(v, list) and len(v) == len(OPS):
                    traj[r, t] = v[lead[r]]
        im2 = ax_t.imshow(
            traj,
            aspect="auto",
            cmap="magma",
            interpolation="nearest",
            extent=(epochs[0] - 0.5, epochs[-1] + 0.5, len(alpha_keys) - 0.5, -0.5),
        )
        ax_t.set_yticks(
            range(len(labels)),
            [f"{lab} [{_OP_SHORT.get(OPS[lead[r]], '?')}]" for r, lab in enumerate(labels)],
            fontsize=7,
        )
        ax_t.set_xlabel("search epoch", fontsize=8)
        ax_t.tick_params(axis="x", labelsize=7)
        fig.colorbar(im2, ax=ax_t, fraction=0.04, pad=0.02).ax.tick_params(labelsize=7)
        ax_t.set_title(
            f"{role}: softmax(α) of the finally chosen op, over epochs (uniform = {1 / len(OPS):.3f})", fontsize=9
        )
    fixed = [r for r in ("generator", "critic") if r not in roles]
    note = f" ({' and '.join(fixed)} kept fixed)" if fixed else ""
    fig.suptitle(f"Architecture weights during the search — {title}{note}", y=1 - 0.25 / fig_h)
    return save(fig, path)
