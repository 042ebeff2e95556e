"""Drawing a genotype as two DAGs (generator, critic), like paper Fig. 3."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

from zeronas.nas.genotype import INPUT_NAMES, N_INPUTS, Genotype, NetGenotype
from zeronas.runs import atomic_write

OP_COLORS = {"relu": "#1f77b4", "lrelu": "#d62728", "linear": "#555555"}


def _positions(net: NetGenotype) -> dict[object, tuple[float, float]]:
    pos: dict[object, tuple[float, float]] = {i: (0.0, 1.0 - i) for i in range(N_INPUTS)}
    for col, node in enumerate(net.nodes, start=1):
        pos[node.id] = (float(col), 0.5 - 0.6 * (col % 2))
    pos["out"] = (float(len(net.nodes) + 1), -0.5)
    return pos


def _draw_net(ax: plt.Axes, net: NetGenotype, title: str) -> None:
    pos = _positions(net)
    labels: dict[object, str] = dict(enumerate(INPUT_NAMES[net.role]))
    labels.update({n.id: f"v{n.id}\n{n.width}" for n in net.nodes})
    labels["out"] = "G(z,c)" if net.role == "generator" else "D(x,c)"
    edges = [(e, n.id) for n in net.nodes for e in n.inputs] + [(e, "out") for e in net.output]
    for e, dst in edges:
        (x0, y0), (x1, y1) = pos[e.src], pos[dst]
        color = OP_COLORS["linear" if e.op == "linear" else ("lrelu" if "lrelu" in e.op else "relu")]
        style = "--" if "drop" in e.op else "-"
        ax.annotate(
            "",
            xy=(x1, y1),
            xytext=(x0, y0),
            arrowprops={
                "arrowstyle": "-|>",
                "color": color,
                "linestyle": style,
                "shrinkA": 18,
                "shrinkB": 18,
                "connectionstyle": "arc3,rad=0.12",
            },
        )
        ax.text(
            (x0 + x1) / 2,
            (y0 + y1) / 2 + 0.08,
            e.op,
            fontsize=7,
            ha="center",
            color=color,
            bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 0.5},
        )
    for key, (x, y) in pos.items():
        used = (
            key == "out"
            or key in {n.id for n in net.nodes}
            or any(e.src == key for n in net.nodes for e in n.inputs)
            or any(e.src == key for e in net.output)
        )
        ax.text(
            x,
            y,
            labels[key],
            ha="center",
            va="center",
            fontsize=8,
            bbox={
                "boxstyle": "round",
                "facecolor": "#e8f0fe" if used else "#f4f4f4",
                "edgecolor": "black" if used else "#bbbbbb",
            },
        )
    ax.set_title(title)
    ax.set_xlim(-0.6, len(net.nodes) + 1.6)
    ax.set_ylim(-2.4, 1.6)
    ax.axis("off")


def draw_genotype(genotype: Genotype, path: str | Path, title: str = "") -> Path:
    """Write a PNG (or SVG, by suffix) of both networks; returns the path."""
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.2))
    _draw_net(axes[0], genotype.generator, "Generator")
    _draw_net(axes[1], genotype.critic, "Critic (discriminator)")
    note = "solid: no dropout, dashed: dropout; blue: ReLU, red: LeakyReLU, grey: linear; 'bn': batch norm"
    fig.suptitle((title + "\n" if title else "") + note, fontsize=9)
    fig.tight_layout()
    out = Path(path)
    fmt = out.suffix.lstrip(".").lower() or "png"
    try:
        atomic_write(out, lambda f: fig.savefig(f, format=fmt, dpi=110))
    finally:
        plt.close(fig)
    return out
