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

import csv
import json
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from zeronas.errors import ZeroNASError  # noqa: E402
from zeronas.nas.genotype import INPUT_NAMES, N_INPUTS  # noqa: E402
from zeronas.nas.ops import OPS  # noqa: E402
from zeronas.runs import Log, atomic_write  # noqa: E402

PLOTS = "plots"
DPI = 120
TSNE_MAX_CLASSES = 10
TSNE_PER_CLASS = 100

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


# --------------------------------------------------------------------------- public


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
    if _is_train(run_dir) or _is_search(run_dir):
        if _is_search(run_dir):
            written += _plot_search(run_dir, out, log)
        if _is_train(run_dir):
            written += _plot_train(run_dir, out, log, tsne)
        return written
    search_dir, train_dir = run_dir / "search", run_dir / "train"
    has_search, has_train = _is_search(search_dir), _is_train(train_dir)
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
        p = _plot_search_and_train_zsl(search_dir, train_dir, out)
        if p is not None:
            written.append(p)
    return written


# --------------------------------------------------------------------------- helpers


def _is_train(d: Path) -> bool:
    return (d / "history.csv").is_file()


def _is_search(d: Path) -> bool:
    return (d / "search_history.csv").is_file()


def _save(fig: plt.Figure, path: Path) -> Path:
    """Save ``fig`` as PNG atomically and close it."""
    for ax in fig.axes:  # epochs are whole numbers
        if "epoch" in ax.get_xlabel():
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    try:
        atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=DPI, bbox_inches="tight"))
    finally:
        plt.close(fig)
    return path


def _float(v: str | None) -> float:
    if v is None or v.strip() == "":
        return math.nan
    try:
        return float(v)
    except ValueError:
        return math.nan


def _read_csv(path: Path) -> list[dict[str, str]]:
    try:
        with path.open(newline="") as f:
            return list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ZeroNASError(f"{path}: cannot read ({exc})") from None


def _read_json(path: Path) -> object | None:
    """The parsed file, or None when it does not exist."""
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ZeroNASError(f"{path}: cannot read ({exc})") from None


def _column(rows: list[dict[str, str]], key: str) -> tuple[np.ndarray, np.ndarray]:
    """(epochs, values) of the rows where ``key`` has a number."""
    ep = np.array([_float(r.get("epoch")) for r in rows])
    val = np.array([_float(r.get(key)) for r in rows])
    ok = ~np.isnan(val) & ~np.isnan(ep)
    return ep[ok], val[ok]


def _has(rows: list[dict[str, str]], key: str) -> bool:
    return _column(rows, key)[1].size > 0


def _title_of(run_dir: Path) -> str:
    """'<dataset>, seed <n>' from the run record (here or in a combined run's root)."""
    rec = _read_record(run_dir)
    if not rec:
        return run_dir.name
    data = Path(str(rec.get("data", ""))).name.removesuffix(".npz") or "?"
    return f"{data}, seed {rec.get('seed', '?')}"


def _read_record(run_dir: Path) -> dict | None:
    for p in (run_dir / "config.json", run_dir.parent / "config.json"):
        rec = _read_json(p)
        if isinstance(rec, dict):
            return rec
    return None


# --------------------------------------------------------------------------- train run


_STAGE_STYLE = {
    "select": ("tab:blue", "select (validation classes)"),
    "final": ("tab:orange", "final (all seen classes)"),
}


def _plot_train(run_dir: Path, out: Path, log: Log, tsne: bool) -> list[Path]:
    rows = _read_csv(run_dir / "history.csv")
    if not rows:
        log(f"note: {run_dir / 'history.csv'}: empty; training figures skipped")
        return []
    title = _title_of(run_dir)
    written = [_plot_train_losses(rows, out / "losses.png", title)]
    select = [r for r in rows if r.get("stage") == "select"]
    if _has(select, "val_zsl") or _has(select, "val_h"):
        metrics = _read_json(run_dir / "metrics.json")
        chosen = metrics.get("selected_epoch") if isinstance(metrics, dict) else None
        written.append(_plot_validation(select, chosen, out / "validation.png", title))
    else:
        log(f"note: {run_dir / 'history.csv'}: no validation scores yet; validation.png skipped")
    if tsne:
        p = _plot_tsne(run_dir, out / "tsne.png", log)
        if p is not None:
            written.append(p)
    return written


# The frameworks' own loss terms (zeronas.frameworks), drawn in the fourth panel when recorded.
FRAMEWORK_TERMS = {
    "cls_loss": "classification loss of G(z,c)",
    "soul_loss": "soul-sample terms (LisGAN)",
    "vae_loss": "VAE loss (reconstruction + KL)",
    "recons_real": "semantic decoder on real features",
    "recons_fake": "semantic decoder on fakes",
}


def _framework_terms(rows: list[dict[str, str]]) -> list[str]:
    return [k for k in FRAMEWORK_TERMS if rows and k in rows[0]]


def _plot_train_losses(rows: list[dict[str, str]], path: Path, title: str) -> Path:
    terms = _framework_terms(rows)
    panels = [
        ("critic loss (WGAN-GP)", ["critic_loss"]),
        ("Wasserstein estimate", ["wasserstein"]),
        ("generator loss", ["generator_loss"]),
        (" / ".join(FRAMEWORK_TERMS[k] for k in terms) or "framework terms", terms),
    ]
    fig, axes = plt.subplots(2, 2, figsize=(11, 7), sharex=True)
    for ax, (label, keys) in zip(axes.ravel(), panels, strict=True):
        for stage, (color, name) in _STAGE_STYLE.items():
            for key, style in zip(keys, ("-", "--", ":", "-."), strict=False):
                ep, val = _column([r for r in rows if r.get("stage") == stage], key)
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
    return _save(fig, path)


def _vline(ax: plt.Axes, epoch: object, color: str, label: str) -> None:
    if isinstance(epoch, (int, float)):
        ax.axvline(float(epoch), color=color, linestyle=":", linewidth=1.5, label=f"{label}: epoch {int(epoch)}")


def _plot_validation(rows: list[dict[str, str]], chosen: dict | None, path: Path, title: str) -> Path:
    chosen = chosen if isinstance(chosen, dict) else {}
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.3), sharex=True)
    ax = axes[0]
    ep, val = _column(rows, "val_zsl")
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
            ep, val = _column(rows, f"val_{pre}{key}")
            if ep.size:
                ax.plot(
                    ep, val, color=color, marker="o", markersize=3, label=label, linewidth=2.2 if key == "h" else 1.3
                )
        _vline(ax, sel, "tab:red", "selected")
        ax.set_title(f"{name} (validation)")
    ep, constant = _column(rows, "val_cs_constant")
    if ep.size and isinstance(chosen.get("gzsl_calibrated"), (int, float)):
        at = np.flatnonzero(ep == float(chosen["gzsl_calibrated"]))
        if at.size:
            axes[2].set_title(f"GZSL, calibrated stacking (validation; constant {constant[at[0]]:.2f} at selection)")
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="best")
    axes[0].set_ylabel("accuracy")
    note = "" if chosen else " (run not finished: no epochs selected yet)"
    fig.suptitle(f"Accuracy during training, on the validation classes — {title}{note}")
    fig.tight_layout()
    return _save(fig, path)


def _plot_tsne(run_dir: Path, path: Path, log: Log) -> Path | None:
    ckpt_path = run_dir / "checkpoint.pt"
    if not ckpt_path.is_file():
        log(f"note: {ckpt_path}: missing; t-SNE skipped")
        return None
    import torch

    from zeronas.runs import load_checkpoint

    ckpt = load_checkpoint(ckpt_path)
    if ckpt.get("stage") != "final" or "G" not in (ckpt.get("trainer") or {}):
        log(f"note: {ckpt_path}: training has not reached the final stage; t-SNE skipped")
        return None
    rec = _read_record(run_dir)
    if not rec or "data" not in rec or "config" not in rec:
        log(f"note: {run_dir}: no run record (config.json) naming the dataset; t-SNE skipped")
        return None

    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    from zeronas.config import Config
    from zeronas.data import load_dataset
    from zeronas.frameworks import framework_class
    from zeronas.nas.genotype import Genotype
    from zeronas.nas.network import DiscreteNet

    try:
        ds = load_dataset(rec["data"], int(rec.get("split_seed", 0)))
    except ZeroNASError as exc:
        log(f"note: cannot load the run's dataset ({exc}); t-SNE skipped")
        return None
    task = ds.test_task()
    config = Config.from_dict(rec["config"], str(run_dir / "config.json"))
    cfg = config.train
    noise_dim = cfg.noise_dim or task.attr_dim
    genotype = Genotype.load(run_dir / "genotype.json")
    G = DiscreteNet(genotype.generator, (noise_dim, task.attr_dim), task.feature_dim, cfg.slope, cfg.dropout)
    fw = framework_class(cfg.framework)(G, None, task, config, cfg.cls_weight, cfg.gp_weight)
    try:
        G.load_state_dict(ckpt["trainer"]["G"])
        fw.load_state_dict(ckpt["trainer"]["framework"])
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
    keep = np.concatenate(keep)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        syn_x, syn_y = fw.synthesize(task.class_vectors.cpu(), unseen, TSNE_PER_CLASS)
    x = np.concatenate([real_x[keep], syn_x.numpy()]).astype(np.float32)
    y = np.concatenate([real_y[keep], syn_y.numpy()])
    is_real = np.r_[np.ones(keep.size, bool), np.zeros(syn_y.numel(), bool)]
    if x.shape[1] > 50 and x.shape[0] > 50:
        x = PCA(50, random_state=0).fit_transform(x)
    perplexity = float(min(30.0, max(2.0, (x.shape[0] - 1) / 3.5)))
    # One OpenMP thread: Barnes-Hut t-SNE with many threads can be slower by 10-50x on a
    # busy machine (spin-waiting threads), and one thread takes seconds at this size.
    with threadpool_limits(limits=1, user_api="openmp"):
        emb = TSNE(2, perplexity=perplexity, init="pca", learning_rate="auto", random_state=0).fit_transform(x)

    fig, ax = plt.subplots(figsize=(9, 7.5))
    cmap = plt.get_cmap("tab10")
    handles = []
    for k, c in enumerate(unseen.tolist()):
        color = cmap(k % 10)
        r, s = (y == c) & is_real, (y == c) & ~is_real
        ax.scatter(emb[r, 0], emb[r, 1], s=14, marker="o", facecolors="none", edgecolors=[color], linewidths=0.8)
        ax.scatter(emb[s, 0], emb[s, 1], s=14, marker="x", color=color, linewidths=0.8)
        handles.append(Line2D([], [], color=color, marker="s", linestyle="", label=ds.class_name(int(c))))
    handles += [
        Line2D([], [], color="grey", marker="o", markerfacecolor="none", linestyle="", label="real (test)"),
        Line2D([], [], color="grey", marker="x", linestyle="", label="synthetic G(z,c)"),
    ]
    ax.legend(handles=handles, fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    ax.set_xticks([])
    ax.set_yticks([])
    shown = f"{unseen.numel()} of {n_all} unseen classes" if n_all > unseen.numel() else f"{n_all} unseen classes"
    ax.set_title(
        f"t-SNE of real vs synthetic unseen-class features — {_title_of(run_dir)}\n"
        f"{shown}, ≤{TSNE_PER_CLASS} real + {TSNE_PER_CLASS} synthetic per class; "
        f"generator after final-stage epoch {ckpt.get('epoch', '?')}",
        fontsize=10,
    )
    fig.tight_layout()
    return _save(fig, path)


# --------------------------------------------------------------------------- search run


def _plot_search(run_dir: Path, out: Path, log: Log) -> list[Path]:
    rows = _read_csv(run_dir / "search_history.csv")
    title = _title_of(run_dir)
    written: list[Path] = []
    if rows:
        written.append(_plot_search_losses(rows, out / "search_losses.png", title))
        if _has(rows, "val_zsl"):
            written.append(_plot_search_validation(rows, out / "search_validation.png", title))
    else:
        log(f"note: {run_dir / 'search_history.csv'}: empty; search figures skipped")
    arch = _read_json(run_dir / "arch_history.json")
    if (
        isinstance(arch, list)
        and arch
        and any(isinstance(e, dict) and ("generator" in e or "critic" in e) for e in arch)
    ):
        genotype = _read_json(run_dir / "genotype.json")
        written.append(
            _plot_arch(arch, genotype if isinstance(genotype, dict) else None, out / "arch_weights.png", title)
        )
    else:
        log(f"note: {run_dir / 'arch_history.json'}: missing or empty; arch_weights.png skipped")
    return written


def _plot_search_losses(rows: list[dict[str, str]], path: Path, title: str) -> Path:
    terms = _framework_terms(rows)
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
        (" / ".join(FRAMEWORK_TERMS[k] for k in terms) or "framework terms", [(k, k) for k in terms]),
    ]
    fig, axes = plt.subplots(2, 2, figsize=(11, 7), sharex=True)
    for ax, (name, keys) in zip(axes.ravel(), panels, strict=True):
        for (key, label), color in zip(keys, ("tab:purple", "tab:green", "tab:orange"), strict=False):
            ep, val = _column(rows, key)
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
    return _save(fig, path)


def _plot_search_validation(rows: list[dict[str, str]], path: Path, title: str) -> Path:
    fig, ax = plt.subplots(figsize=(7, 4.3))
    ep, val = _column(rows, "val_zsl")
    ax.plot(ep, val, color="tab:purple", marker="o", markersize=3, label="supernet generator")
    best = int(np.argmax(val))
    ax.annotate(
        f"max {val[best]:.3f} @ {int(ep[best])}",
        (ep[best], val[best]),
        textcoords="offset points",
        xytext=(0, 8),
        ha="center",
        fontsize=8,
    )
    ax.set_xlabel("search epoch")
    ax.set_ylabel("ZSL per-class top-1 (validation classes)")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(f"Accuracy during searching — {title}")
    fig.tight_layout()
    return _save(fig, path)


def _node_name(role: str, i: int, out_id: int) -> str:
    if i < N_INPUTS:
        return INPUT_NAMES[role][i]
    return "out" if i == out_id else f"v{i}"


def _kept_edges(genotype: dict | None, role: str, out_id: int) -> set[tuple[int, int]]:
    """(src, dst) of the edges in the final genotype (dst = out_id for the output node)."""
    net = genotype.get(role) if genotype else None
    if not isinstance(net, dict):
        return set()
    kept = set()
    try:
        for n in net.get("nodes", []):
            kept.update((int(e["from"]), int(n["id"])) for e in n.get("in", []))
        kept.update((int(e["from"]), out_id) for e in net.get("output", {}).get("in", []))
    except (TypeError, KeyError, ValueError, AttributeError):
        return set()
    return kept


def _plot_arch(arch: list[dict], genotype: dict | None, path: Path, title: str) -> Path:
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
            ax.axhline(1.0 / n_in, color="grey", linestyle=":", linewidth=0.8)
            ax.set_title(f"{role[0].upper()}: in-edges of {_node_name(role, int(j), out_id)}", fontsize=9)
            ax.tick_params(labelsize=7)
            ax.legend(fontsize=6.5, ncol=2 if n_in > 4 else 1, loc="best", handlelength=1.2)
            ax.grid(alpha=0.3)
            if col == 0:
                ax.set_ylabel("softmax(β)", fontsize=8)
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
    return _save(fig, path)


# --------------------------------------------------------------------------- combined run


def _plot_search_and_train_zsl(search_dir: Path, train_dir: Path, out: Path) -> Path | None:
    """Paper Fig. 6: ZSL accuracy (validation classes) during searching and training."""
    s_rows = _read_csv(search_dir / "search_history.csv")
    t_rows = [r for r in _read_csv(train_dir / "history.csv") if r.get("stage") == "select"]
    if not (_has(s_rows, "val_zsl") and _has(t_rows, "val_zsl")):
        return None
    fig, ax = plt.subplots(figsize=(7, 4.3))
    for rows, label, color in (
        (s_rows, "searching (supernet G)", "tab:purple"),
        (t_rows, "training the found architecture", "tab:blue"),
    ):
        ep, val = _column(rows, "val_zsl")
        ax.plot(ep, val, color=color, marker="o", markersize=3, label=label)
    ax.set_xlabel("epoch")
    ax.set_ylabel("ZSL per-class top-1 (validation classes)")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(f"Accuracy during searching and training — {_title_of(train_dir)}")
    fig.tight_layout()
    return _save(fig, out / "zsl_search_train.png")


def side_by_side(images: list[Path], titles: list[str], path: Path) -> Path:
    """Put existing PNG figures next to each other (e.g. the FIX and NAS t-SNEs, Fig. 4)."""
    import matplotlib.image as mpimg

    fig, axes = plt.subplots(1, len(images), figsize=(6.5 * len(images), 5.5))
    for ax, img, title in zip(np.atleast_1d(axes), images, titles, strict=True):
        ax.imshow(mpimg.imread(img))
        ax.set_title(title)
        ax.axis("off")
    fig.tight_layout()
    return _save(fig, Path(path))


def plot_transfer(rows: list[dict], path: Path, title: str = "") -> Path:
    """Fig. 5: ZSL top-1 and calibrated H of architectures searched on A (rows) and trained
    on B (columns), from ``transfer.csv`` rows; the last row is FIX (no search)."""
    srcs = list(dict.fromkeys(r["searched_on"] for r in rows))
    dsts = list(dict.fromkeys(r["trained_on"] for r in rows))
    cell = {(r["searched_on"], r["trained_on"]): r for r in rows}
    fig, axes = plt.subplots(1, 2, figsize=(4.2 + 2.6 * len(dsts), 1.6 + 0.9 * len(srcs)))
    for ax, (key, label) in zip(axes, (("zsl", "ZSL top-1 (%)"), ("cal_h", "GZSL H, calibrated (%)")), strict=True):
        mean = np.array([[float(cell[(a, b)][f"{key}_mean_pct"]) for b in dsts] for a in srcs])
        std = np.array([[float(cell[(a, b)][f"{key}_std_pct"]) for b in dsts] for a in srcs])
        ax.imshow(mean, cmap="viridis", vmin=0, vmax=100, aspect="auto")
        for i in range(len(srcs)):
            for j in range(len(dsts)):
                ax.text(
                    j,
                    i,
                    f"{mean[i, j]:.1f}\n± {std[i, j]:.1f}",
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
    return _save(fig, Path(path))


__all__ = ["plot_run", "plot_transfer", "side_by_side"]
