"""Paper Fig. 4: t-SNE of real against synthetic unseen-class test features of a trained generator.

:func:`load_tsne` reads the run (its final checkpoint, genotype, config and dataset),
synthesises features and embeds them; :func:`draw_tsne` draws the embedding.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.lines import Line2D

from zeronas.errors import ZeroNASError
from zeronas.plots.common import save
from zeronas.plots.load import read_record, run_title
from zeronas.runs import CHECKPOINT, Log

TSNE_MAX_CLASSES = 10
TSNE_PER_CLASS = 100


@dataclass
class TSNEData:
    """A 2-d embedding of real and synthetic features of some unseen classes."""

    emb: np.ndarray  # (n, 2)
    y: np.ndarray  # (n,) class ids
    is_real: np.ndarray  # (n,) bool
    classes: list[int]  # the classes shown
    names: list[str]  # their names
    n_all: int  # unseen classes in the dataset
    epoch: object  # the final-stage epoch of the generator
    title: str


def load_tsne(run_dir: Path, log: Log) -> TSNEData | None:
    """The embedding of a finished train run, or None (with a note) when it cannot be made."""
    ckpt_path = run_dir / CHECKPOINT
    if not ckpt_path.is_file():
        log(f"note: {ckpt_path}: missing; t-SNE skipped")
        return None
    import torch

    from zeronas.runs import load_checkpoint

    ckpt = load_checkpoint(ckpt_path)
    if ckpt.get("stage") != "final" or "G" not in (ckpt.get("state") or {}):
        log(f"note: {ckpt_path}: training has not reached the final stage; t-SNE skipped")
        return None
    rec = read_record(run_dir)
    if not rec or "data" not in rec or "config" not in rec:
        log(f"note: {run_dir}: no run record (config.json) naming the dataset; t-SNE skipped")
        return None

    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    from zeronas.config import Config
    from zeronas.data import load_dataset
    from zeronas.engine import build_networks
    from zeronas.frameworks import framework_class
    from zeronas.nas.genotype import Genotype

    try:
        ds = load_dataset(rec["data"], int(rec.get("split_seed", 0)))
    except ZeroNASError as exc:
        log(f"note: cannot load the run's dataset ({exc}); t-SNE skipped")
        return None
    task = ds.test_task()
    config = Config.from_dict(rec["config"], str(run_dir / "config.json"))
    t = config.train
    G, _ = build_networks(config, task, Genotype.load(run_dir / "genotype.json"), critic=False)
    fw = framework_class(config.model.framework)(G, None, task, config, t.cls_weight, t.gp_weight)
    try:
        G.load_state_dict(ckpt["state"]["G"])
        fw.load_state_dict(ckpt["state"]["framework"])
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise ZeroNASError(f"{ckpt_path}: weights do not match genotype.json and the config ({first[:200]})") from None

    unseen = task.unseen_classes.cpu()
    n_all = int(unseen.numel())
    if n_all > TSNE_MAX_CLASSES:  # evenly spread, deterministic
        unseen = unseen[np.linspace(0, n_all - 1, TSNE_MAX_CLASSES).round().astype(int)]
    rng = np.random.default_rng(0)
    real_x, real_y = task.test_unseen_x.cpu().numpy(), task.test_unseen_y.cpu().numpy()
    keep = []
    for c in unseen.tolist():
        idx = np.flatnonzero(real_y == c)
        keep.append(rng.permutation(idx)[:TSNE_PER_CLASS])
    kept = np.concatenate(keep)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        syn_x, syn_y = fw.synthesize(task.class_vectors.cpu(), unseen, TSNE_PER_CLASS)
    x = np.concatenate([real_x[kept], syn_x.numpy()]).astype(np.float32)
    y = np.concatenate([real_y[kept], syn_y.numpy()])
    is_real = np.r_[np.ones(kept.size, bool), np.zeros(syn_y.numel(), bool)]
    if x.shape[1] > 50 and x.shape[0] > 50:
        x = PCA(50, random_state=0).fit_transform(x)
    perplexity = float(min(30.0, max(2.0, (x.shape[0] - 1) / 3.5)))
    # One OpenMP thread: Barnes-Hut t-SNE with many threads can be slower by 10-50x on a
    # busy machine (spin-waiting threads), and one thread takes seconds at this size.
    with threadpool_limits(limits=1, user_api="openmp"):
        emb = TSNE(2, perplexity=perplexity, init="pca", learning_rate="auto", random_state=0).fit_transform(x)
    classes = [int(c) for c in unseen.tolist()]
    return TSNEData(
        emb, y, is_real, classes, [ds.class_name(c) for c in classes], n_all, ckpt.get("epoch", "?"), run_title(run_dir)
    )


def draw_tsne(data: TSNEData, path: Path) -> Path:
    emb, y, is_real = data.emb, data.y, data.is_real
    fig, ax = plt.subplots(figsize=(9, 7.5))
    cmap = plt.get_cmap("tab10")
    handles = []
    for k, (c, name) in enumerate(zip(data.classes, data.names, strict=True)):
        color = cmap(k % 10)
        r, s = (y == c) & is_real, (y == c) & ~is_real
        ax.scatter(emb[r, 0], emb[r, 1], s=14, marker="o", facecolors="none", edgecolors=[color], linewidths=0.8)
        ax.scatter(emb[s, 0], emb[s, 1], s=14, marker="x", color=color, linewidths=0.8)
        handles.append(Line2D([], [], color=color, marker="s", linestyle="", label=name))
    handles += [
        Line2D([], [], color="grey", marker="o", markerfacecolor="none", linestyle="", label="real (test)"),
        Line2D([], [], color="grey", marker="x", linestyle="", label="synthetic G(z,c)"),
    ]
    ax.legend(handles=handles, fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    ax.set_xticks([])
    ax.set_yticks([])
    n_shown = len(data.classes)
    shown = f"{n_shown} of {data.n_all} unseen classes" if data.n_all > n_shown else f"{data.n_all} unseen classes"
    ax.set_title(
        f"t-SNE of real vs synthetic unseen-class features — {data.title}\n"
        f"{shown}, ≤{TSNE_PER_CLASS} real + {TSNE_PER_CLASS} synthetic per class; "
        f"generator after final-stage epoch {data.epoch}",
        fontsize=10,
    )
    fig.tight_layout()
    return save(fig, path)
