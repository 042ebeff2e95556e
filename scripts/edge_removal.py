"""Which of a finished search's generator edges does the trained supernet use?

DARTS-PT (Wang et al., ICLR 2021) argues that the magnitude of alpha need not say how much
an operation contributes, and scores each candidate by what removing it costs. This probe
does that, once and without fine-tuning, on the generator supernet of a finished search
(``zeronas search --out RUN``, or ``zeronas run`` and a grid cell, whose search is in
``RUN/search``):

- **fit**: the validation classes' (fold 0's held-out) real images, scored against the class
  means of ``--per-class`` synthetic features per class, drawn once from fixed noise:
  ``-cross_entropy(-d / mean(d))`` with ``d`` the squared Euclidean distances to the means
  (a smooth, deterministic nearest-class-mean score), and ``NCM``, its top-1 (%);
- **removing an in-edge** of node j: its beta logit set to -inf (under softmax the other
  in-edges renormalise; a sigmoid gate just closes), the drop in fit printed per source;
  **removing an operation** of an edge: its alpha logit set to -inf, likewise;
- the genotype derived from these drops (each node keeps the ``keep_edges`` in-edges whose
  removal costs most, each edge the operation whose removal costs most) beside the one
  derived from alpha and beta, and on a planted-architecture benchmark
  (``zeronas data synth --variant genotype``) how much of the planted generator each
  recovers;
- per node, how much the node's value varies between the validation classes and within one
  (where class information survives along the DAG).

No test sample is read: the search's session holds fold 0's task only.

Run, in the directory the search ran from (``config.json`` names the data relative to it):

    python scripts/edge_removal.py runs/search_s0
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from zeronas.engine.search import restore_search_session
from zeronas.evaluation.classifiers import LabelMap
from zeronas.nas.genotype import N_INPUTS, NetGenotype, derive
from zeronas.nas.supernet import Supernet
from zeronas.synthetic import planted_genotype, recovery_line, recovery_report


def fixed_draw(session, per_class: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``per_class`` labels per validation class and noise for them, drawn once from ``seed``."""
    task = session.task
    y = task.unseen_classes.repeat_interleave(per_class)
    gen = torch.Generator(device="cpu").manual_seed(seed)
    return y, torch.randn(y.numel(), session.fw.noise_dim, generator=gen).to(task.class_vectors.device)


def fit_scorer(session, per_class: int):
    """A function returning (fit, NCM %) of the session's generator on the validation classes."""
    task, fw = session.task, session.fw
    classes = task.unseen_classes
    truth = LabelMap(classes).to_local(task.test_unseen_y)
    y, z = fixed_draw(session, per_class)
    real = fw.classifier_input(task.test_unseen_x)

    def score() -> tuple[float, float]:
        with torch.no_grad(), fw.evaluating():
            x = fw.classifier_input(fw.generate(z, task.class_vectors[y]))
        means = x.view(len(classes), per_class, -1).mean(dim=1)
        d = torch.cdist(real, means).pow(2)
        fit = -F.cross_entropy(-d / d.mean(), truth).item()
        ncm = 100.0 * (d.argmin(dim=1) == truth).float().mean().item()
        return fit, ncm

    return score


def class_signal(session, per_class: int) -> list[tuple[float, float]]:
    """Per node of the generator supernet (inputs, intermediate nodes, output), in eval mode on
    the validation classes: the between-class std (of the class means, averaged over units)
    and the within-class std."""
    task = session.task
    y, z = fixed_draw(session, per_class)
    with torch.no_grad(), session.fw.evaluating():
        values = session.G.node_values(z, task.class_vectors[y])
    out = []
    for v in values:
        per = v.view(len(task.unseen_classes), per_class, -1)
        out.append((per.mean(dim=1).std(dim=0).mean().item(), per.std(dim=1).mean().item()))
    return out


def removal_drops(net: Supernet, score) -> tuple[dict[int, np.ndarray], dict[tuple[int, int], np.ndarray]]:
    """Drop in fit when each in-edge (per node, -inf where the space has none) and each
    candidate operation (per mixed edge, -inf for non-candidates) is removed."""
    base = score()[0]
    edges: dict[int, np.ndarray] = {}
    ops: dict[tuple[int, int], np.ndarray] = {}
    with torch.no_grad():
        beta, alpha = net.beta.detach().clone(), net.alpha.detach().clone()
        for j in range(N_INPUTS, net.out_id + 1):
            drops = np.full(j, -np.inf)
            for i in range(j):
                if not net.beta_mask[j - N_INPUTS, i]:
                    net.beta[j - N_INPUTS, i] = -torch.inf
                    drops[i] = base - score()[0]
                    net.beta.copy_(beta)
            edges[j] = drops
        for e, edge in enumerate(net.mixed_edges):
            drops = np.full(net.alpha.shape[1], -np.inf)
            for k in range(net.alpha.shape[1]):
                if not net.op_mask[k]:
                    net.alpha[e, k] = -torch.inf
                    drops[k] = base - score()[0]
                    net.alpha.copy_(alpha)
            ops[edge] = drops
    return edges, ops


def derive_by_removal(net: Supernet, edges: dict[int, np.ndarray], ops: dict, keep: int) -> NetGenotype:
    """The genotype the removal drops point to (derive ranks by weight; ranks stand in for them)."""
    ranked = {}
    for j, d in edges.items():
        w = np.full(len(d), -1.0)
        ok = np.isfinite(d)
        w[ok] = (d[ok].argsort(kind="stable").argsort() + 1) / ok.sum()
        ranked[j] = w
    return derive(net.role, net.genotype_widths, ops, ranked, keep)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("run", type=Path, help="a finished search's directory, or a run or grid cell holding one in search/")
    p.add_argument("--data", type=Path, help="the benchmark (default: config.json's, relative to the cwd)")
    p.add_argument("--per-class", type=int, default=50, help="synthetic features per validation class")
    args = p.parse_args()

    run, dataset, session = restore_search_session(args.run, args.data)
    cfg = session.cfg
    net = session.G
    if not isinstance(net, Supernet):
        raise SystemExit(f"{run}: the generator was not searched")
    score = fit_scorer(session, args.per_class)
    fit, ncm = score()
    classes = len(session.task.unseen_classes)
    print(f"{run}: fit {fit:.4f}, NCM {ncm:.1f}% on {classes} validation classes")
    signal = class_signal(session, args.per_class)
    print("class signal per node, between-class / within-class std:")
    print("  " + "  ".join(f"{j}: {b:.4f} / {w:.4f}" for j, (b, w) in enumerate(signal)))
    edges, ops = removal_drops(net, score)
    beta = net.arch_state()["beta"]
    print(f"drop in fit when an in-edge is removed ({net.edge_gates}(beta) in brackets):")
    for j, d in edges.items():
        cells = [f"{i}: {d[i]:+.4f} [{beta[str(j)][i]:.3f}]" for i in range(j) if np.isfinite(d[i])]
        print(f"  node {j}: " + "  ".join(cells))
    spread = [float(np.ptp(d[np.isfinite(d)])) for d in ops.values()]
    print(f"operations: largest minus smallest drop per edge, median {np.median(spread):.4f}, max {max(spread):.4f}")
    keep = cfg.search.keep_edges
    found = {"alpha/beta": net.export(keep), "removal": derive_by_removal(net, edges, ops, keep)}
    planted = planted_genotype(dataset.source)
    if planted is not None:
        print(f"planted     G {planted}")
    for name, geno in found.items():
        print(f"{name:<11} G {geno}")
        if planted is not None:
            print(f"            {recovery_line(recovery_report(geno, planted, cfg))}")


if __name__ == "__main__":
    main()
