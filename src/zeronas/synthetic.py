"""Semi-synthetic zero-shot benchmarks: real class vectors, features from a planted generator.

The class vectors and the seen/unseen class roles are a real benchmark's (CUB: 312-d
attributes, 150 seen / 50 unseen classes; AWA2: 85-d, 40 / 10; bundled in
``zeronas/datasets/class_vectors``), or, with the ``random`` base, drawn: many classes
(default 500: 400 seen / 100 unseen) with 32-d Gaussian class vectors, a check on data
with other class vectors and many more classes, where the class-to-feature map is
learnable beyond a linear one. The image features are drawn from a *planted*
generator whose parameters are saved beside the data (``planted.npz``), so that the
oracle ceiling (the planted generator itself as the feature generator) can be measured
with the same protocol as every method.

Variants:

- ``mlp``: ``x = softplus(W3 relu(W2 relu(W1 [h_y, s z])))`` with ``h_y`` the class vector
  (centred, scaled) plus a class-level *semantic gap* (a random offset per class that the
  class vectors do not explain) and per-image noise ``z`` entering nonlinearly, so that the
  within-class spread depends on the class. Nonlinear in the class vector: a linear map
  from class vectors to features cannot reach the ceiling.
- ``genotype``: a discrete network *of the search space* (a random genotype of the
  configured widths, operations FC+ReLU or FC+LeakyReLU: batch norm and dropout are affine
  or identity at synthesis time and cannot be told apart in the data), fed ``(z, c)``
  exactly as a searched generator is. A search can be scored on how much of the planted
  genotype it recovers.
- ``linear``: ``x = W h_y + b + s e`` with full-rank Gaussian noise ``e`` and no semantic gap
  by default: the class means are exactly affine in the class vectors, so the linear floor
  (ridge to class means plus seen residuals) is the right model and a generator can only
  match it. A sanity check: a GAN that loses to the linear floor here fails at learning
  class-conditional means, whatever the data's nonlinearity.
- ``nonlinear``: ``x = W2 sin(f W1 h_y + b1) + b2 + s e``, random features of the class
  vector with frequency ``f``, full-rank Gaussian noise and no semantic gap by default: the
  class means are a smooth nonlinear function of the class vectors, which a regressor can
  learn from enough classes (with low-dimensional class vectors, ``class_dim=8``) and a
  linear map cannot. Where the linear variant asks whether a generator can match the linear
  floor, this one asks whether it beats it where it should.

Everything is drawn from one seed; the same seed and settings give the same files.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import cast

import numpy as np
import scipy.io
import torch
import torch.nn.functional as F
from torch import nn

from zeronas._version import __version__
from zeronas.config import Config
from zeronas.errors import ZeroNASError
from zeronas.nas.genotype import NetGenotype, random_genotype
from zeronas.nas.network import DiscreteNet
from zeronas.nas.space import random_pair

CLASS_VECTOR_DIR = Path(__file__).resolve().parent / "datasets" / "class_vectors"
BASES = ("cub", "awa2", "sun", "random")
VARIANTS = ("mlp", "genotype", "linear", "nonlinear")
FORMAT = "zeronas-semisynthetic"
PLANTED_OPS = ("fc_relu", "fc_lrelu")
#: Per base, the values of the settings left at -1 (``noise_scale`` per variant). With the real
#: class vectors they put the oracle near 90 % ZSL top-1 on CUB; the random base's 32-d class
#: vectors carry less signal per class, so its noise and gap are smaller.
BASE_DEFAULTS: dict[str, dict[str, object]] = {
    "cub": {"gap": 0.8, "trainval_per_class": 40, "test_seen_per_class": 10, "test_unseen_per_class": 50},
    "awa2": {"gap": 0.8, "trainval_per_class": 40, "test_seen_per_class": 10, "test_unseen_per_class": 50},
    # SUN's own counts: 16 + 4 images per seen class, 20 per unseen class
    "sun": {"gap": 0.8, "trainval_per_class": 16, "test_seen_per_class": 4, "test_unseen_per_class": 20},
    "random": {"gap": 0.2, "trainval_per_class": 20, "test_seen_per_class": 5, "test_unseen_per_class": 20},
}
DEFAULT_NOISE: dict[tuple[str, str] | str, float] = {
    ("random", "mlp"): 2.0,
    "mlp": 6.0,
    "genotype": 1.5,
    "linear": 3.0,
    "nonlinear": 2.0,
}
#: Per variant, settings that override the base's defaults (the linear variant has no gap).
VARIANT_DEFAULTS: dict[str, dict[str, object]] = {"linear": {"gap": 0.0}, "nonlinear": {"gap": 0.0}}


@dataclass
class SynthConfig:
    """How a semi-synthetic benchmark is drawn (written to ``benchmark.json``)."""

    base: str = "cub"  # whose class vectors and class roles: cub | awa2 | sun (real) | random (drawn)
    variant: str = "mlp"  # mlp | genotype | linear (see the module docstring)
    seed: int = 0
    feature_dim: int = 128
    # -1: the base's default (BASE_DEFAULTS)
    trainval_per_class: int = -1  # images per seen class used for training
    test_seen_per_class: int = -1  # images per seen class held out for GZSL
    test_unseen_per_class: int = -1
    noise_scale: float = -1.0  # weight of the per-image noise against the class signal (DEFAULT_NOISE)
    gap: float = -1.0  # size of the class-level semantic gap, relative to the class signal
    # random base: how many classes, how many of them unseen, the class vectors' dimension
    classes: int = 500
    unseen_classes: int = 100
    class_dim: int = 32
    # mlp variant
    noise_dim: int = 32
    hidden: tuple[int, ...] = (256, 256)
    # nonlinear variant: frequency of its random features (0: linear; large: no shared structure)
    frequency: float = 1.5
    # genotype variant: the searched generator's node widths
    widths: tuple[int, ...] = (32, 64, 128, 256)

    def check(self) -> None:
        """Validate the settings and fill in the base's and the variant's defaults."""
        if self.base not in BASES:
            raise ZeroNASError(f"unknown base {self.base!r} (known: {', '.join(BASES)})")
        if self.variant not in VARIANTS:
            raise ZeroNASError(f"unknown variant {self.variant!r} (known: {', '.join(VARIANTS)})")
        for key, value in {**BASE_DEFAULTS[self.base], **VARIANT_DEFAULTS.get(self.variant, {})}.items():
            if getattr(self, key) == -1:
                setattr(self, key, value)
        if self.noise_scale < 0:
            self.noise_scale = DEFAULT_NOISE.get((self.base, self.variant), DEFAULT_NOISE[self.variant])
        if self.base == "random" and not (1 <= self.unseen_classes < self.classes - 1 and self.class_dim >= 1):
            raise ZeroNASError("random base: need 1 <= unseen_classes < classes - 1 and class_dim >= 1")
        counts = (self.feature_dim, self.trainval_per_class, self.test_seen_per_class, self.test_unseen_per_class)
        if min(counts) < 1 or self.trainval_per_class < 2:
            raise ZeroNASError("feature_dim and the per-class counts must be positive (trainval at least 2)")
        if self.gap < 0:
            raise ZeroNASError("gap must be >= 0")


@dataclass
class ClassVectors:
    """A real benchmark's class vectors (one unit-L2 row per class), names and unseen classes."""

    att: np.ndarray
    names: list[str]
    unseen: np.ndarray

    @property
    def seen(self) -> np.ndarray:
        return np.setdiff1d(np.arange(len(self.names)), self.unseen)


def class_vectors(cfg: SynthConfig) -> ClassVectors:
    """The benchmark's class vectors: a real base's (:func:`real_class_vectors`), or for the
    ``random`` base ``cfg.classes`` unit-L2 Gaussian vectors of ``cfg.class_dim`` dimensions,
    ``cfg.unseen_classes`` of them unseen, drawn from the seed."""
    if cfg.base != "random":
        return real_class_vectors(cfg.base)
    rng = np.random.default_rng([cfg.seed, 1])  # apart from the torch draws of the generator
    att = rng.standard_normal((cfg.classes, cfg.class_dim))
    unseen = np.sort(rng.choice(cfg.classes, cfg.unseen_classes, replace=False))
    names = [f"class{i:04d}" for i in range(cfg.classes)]
    return ClassVectors(att / np.linalg.norm(att, axis=1, keepdims=True), names, unseen)


def real_class_vectors(base: str) -> ClassVectors:
    """The bundled class vectors of ``base`` (see ``datasets/class_vectors/SOURCES.md``)."""
    if base not in BASES or base == "random":
        raise ZeroNASError(f"unknown real base {base!r} (known: {', '.join(b for b in BASES if b != 'random')})")
    with np.load(CLASS_VECTOR_DIR / f"{base}.npz", allow_pickle=False) as z:
        att = z["att"].astype(np.float64)
        return ClassVectors(att / np.linalg.norm(att, axis=1, keepdims=True), [str(n) for n in z["names"]], z["unseen"])


class PlantedGenerator(nn.Module):
    """The generator the features were drawn from: ``forward(z, classes)`` -> raw features."""

    def __init__(self, cfg: SynthConfig, class_input: torch.Tensor, net: nn.Module, genotype: NetGenotype | None):
        super().__init__()
        self.cfg = cfg
        self.class_input: torch.Tensor  # (C, d) what the network receives per class
        self.register_buffer("class_input", class_input)
        self.net = net
        self.genotype = genotype

    @property
    def noise_dim(self) -> int:
        if self.cfg.variant in ("linear", "nonlinear"):
            return self.cfg.feature_dim
        return self.cfg.noise_dim if self.cfg.variant == "mlp" else int(self.class_input.shape[1])

    def forward(self, z: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
        h = self.class_input[classes]
        if self.cfg.variant == "mlp":
            x = torch.cat([h, self.cfg.noise_scale * z], dim=1)
            layers = list(cast(nn.Sequential, self.net))
            for k, layer in enumerate(layers):
                x = layer(x)
                x = F.relu(x) if k < len(layers) - 1 else F.softplus(x)
            return x
        if self.cfg.variant == "linear":
            return self.net(h) + self.cfg.noise_scale * z
        if self.cfg.variant == "nonlinear":
            first, last = cast(nn.Sequential, self.net)
            return last(torch.sin(self.cfg.frequency * first(h))) + self.cfg.noise_scale * z
        return self.net(self.cfg.noise_scale * z, h)

    @torch.no_grad()
    def sample(self, classes: torch.Tensor, per_class: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        y = classes.repeat_interleave(per_class)
        z = torch.randn(y.numel(), self.noise_dim, generator=gen)
        return self.forward(z, y), y

    # ------------------------------------------------------------------ files
    def save(self, path: Path) -> None:
        arrays = {f"param/{k}": v.detach().cpu().numpy() for k, v in self.state_dict().items()}
        np.savez_compressed(path, **arrays)

    @classmethod
    def load(cls, folder: Path) -> PlantedGenerator:
        """The planted generator of a benchmark folder written by :func:`build_benchmark`."""
        meta_path = folder / "benchmark.json"
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ZeroNASError(f"{meta_path}: not a semi-synthetic benchmark ({exc})") from None
        if meta.get("format") != FORMAT:
            raise ZeroNASError(f"{meta_path}: not a semi-synthetic benchmark (format {meta.get('format')!r})")
        cfg = SynthConfig()
        for key, value in meta["config"].items():
            setattr(cfg, key, tuple(value) if isinstance(value, list) else value)
        cv = class_vectors(cfg)
        gen = _planted(cfg, cv, torch.Generator().manual_seed(cfg.seed))
        with np.load(folder / "planted.npz", allow_pickle=False) as z:
            state = {k.removeprefix("param/"): torch.from_numpy(z[k]) for k in z.files}
        gen.load_state_dict(state)
        return gen.eval()


def _planted(cfg: SynthConfig, cv: ClassVectors, gen: torch.Generator) -> PlantedGenerator:
    """Draw the planted generator (class inputs and weights) from ``gen``."""
    att = torch.from_numpy(cv.att).float()
    n_classes, dim = att.shape
    gap = torch.randn(n_classes, dim, generator=gen) / dim**0.5
    if cfg.variant == "genotype":
        # inputs exactly as a searched generator gets them (unit-L2 class vectors),
        # scaled inside the first layers so that class signal and noise both matter
        c = att + cfg.gap * gap * att.norm(dim=1, keepdim=True)
        class_input = c / c.norm(dim=1, keepdim=True)
        rng = np.random.default_rng(int(torch.randint(0, 2**31, (1,), generator=gen)))
        genotype = random_genotype("generator", cfg.widths, rng, ops=PLANTED_OPS)
        while len(genotype.nodes) < len(cfg.widths) - 1:  # a deep planted network, so that the architecture matters
            genotype = random_genotype("generator", cfg.widths, rng, ops=PLANTED_OPS)
        net = DiscreteNet(genotype, (dim, dim), cfg.feature_dim)
        for name, p in net.named_parameters():
            if name.endswith("weight"):
                src = int(name.split(".")[1].split("_")[0])
                # fan-in scaled; the class vector (unit norm) gets sqrt(dim) so it weighs like z
                nn.init.normal_(p, 0.0, (2.0 / p.shape[1]) ** 0.5, generator=gen)
                if src in (1, 2):
                    with torch.no_grad():
                        p[:, -dim:] *= dim**0.5
            else:
                nn.init.normal_(p, 0.0, 0.1, generator=gen)
        return PlantedGenerator(cfg, class_input, net.eval(), genotype)
    # mlp, linear and nonlinear: the class vectors centred and scaled, plus the gap
    a = att - att.mean(dim=0)
    a = a / a.pow(2).sum(dim=1).mean().sqrt()  # mean class norm 1 before the gap
    class_input = (a + cfg.gap * gap) * dim**0.5  # about unit variance per input unit
    if cfg.variant == "linear":
        layer = nn.Linear(dim, cfg.feature_dim)
        nn.init.normal_(layer.weight, 0.0, 1.0 / dim**0.5, generator=gen)  # unit variance per feature
        nn.init.normal_(layer.bias, 0.0, 1.0, generator=gen)
        return PlantedGenerator(cfg, class_input, layer, None)
    if cfg.variant == "nonlinear":
        width = cfg.hidden[0]
        first, last = nn.Linear(dim, width), nn.Linear(width, cfg.feature_dim)
        nn.init.normal_(first.weight, 0.0, 1.0 / dim**0.5, generator=gen)  # unit-variance phases
        nn.init.uniform_(first.bias, -torch.pi, torch.pi, generator=gen)
        nn.init.normal_(last.weight, 0.0, (2.0 / width) ** 0.5, generator=gen)  # unit variance per feature
        nn.init.normal_(last.bias, 0.0, 1.0, generator=gen)
        return PlantedGenerator(cfg, class_input, nn.Sequential(first, last), None)
    dims = [dim + cfg.noise_dim, *cfg.hidden, cfg.feature_dim]
    layers = [nn.Linear(i, o) for i, o in zip(dims[:-1], dims[1:], strict=True)]
    for k, layer in enumerate(layers):
        gain = 1.0 if k == 0 else 2**0.5  # keep pre-activations at about unit variance
        nn.init.normal_(layer.weight, 0.0, gain / layer.in_features**0.5, generator=gen)
        nn.init.normal_(layer.bias, 0.0, 0.1, generator=gen)
    return PlantedGenerator(cfg, class_input, nn.Sequential(*layers), None)


def build_benchmark(cfg: SynthConfig, out: Path) -> dict:
    """Draw a benchmark and write it to ``out`` (a new folder) in the xlsa17 layout.

    Writes ``res101.mat``, ``att_splits.mat`` (real class vectors and names), ``planted.npz``
    (the planted generator), ``benchmark.json`` (settings, summary) and ``README.md``.
    Returns the summary. The folder appears whole or not at all.
    """
    cfg.check()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ZeroNASError(f"{out}: already exists and is not empty; choose a new folder")
    cv = class_vectors(cfg)
    gen = torch.Generator().manual_seed(cfg.seed)
    planted = _planted(cfg, cv, gen).eval()
    seen, unseen = torch.from_numpy(cv.seen), torch.from_numpy(cv.unseen)
    n_seen = cfg.trainval_per_class + cfg.test_seen_per_class
    xs, ys = planted.sample(seen, n_seen, gen)
    xu, yu = planted.sample(unseen, cfg.test_unseen_per_class, gen)
    features = torch.cat([xs, xu]).numpy().astype(np.float32)
    labels = torch.cat([ys, yu]).numpy()
    rank = np.arange(labels.size) % n_seen  # images of a seen class are consecutive
    is_seen = np.arange(labels.size) < xs.shape[0]
    trainval = np.flatnonzero(is_seen & (rank < cfg.trainval_per_class))
    test_seen = np.flatnonzero(is_seen & (rank >= cfg.trainval_per_class))
    test_unseen = np.flatnonzero(~is_seen)

    summary = {
        "format": FORMAT,
        "version": 1,
        "zeronas": __version__,
        "config": asdict(cfg),
        "classes": {"total": len(cv.names), "seen": int(seen.numel()), "unseen": int(unseen.numel())},
        "samples": {
            "trainval": int(trainval.size),
            "test_seen": int(test_seen.size),
            "test_unseen": int(test_unseen.size),
        },
        "planted_genotype": str(planted.genotype) if planted.genotype is not None else None,
        "planted_genotype_dict": planted.genotype.to_dict() if planted.genotype is not None else None,
        "note": (
            "synthetic: drawn class vectors and class roles"
            if cfg.base == "random"
            else f"semi-synthetic: {cfg.base.upper()}'s real class vectors and class roles"
        )
        + ", features drawn from the planted generator",
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}."))
    try:
        scipy.io.savemat(
            tmp / "res101.mat", {"features": features.T, "labels": (labels + 1)[:, None].astype(np.float64)}
        )
        scipy.io.savemat(
            tmp / "att_splits.mat",
            {
                "att": cv.att.T,
                "allclasses_names": np.array([[n] for n in cv.names], dtype=object),
                "trainval_loc": (trainval + 1)[:, None].astype(np.float64),
                "test_seen_loc": (test_seen + 1)[:, None].astype(np.float64),
                "test_unseen_loc": (test_unseen + 1)[:, None].astype(np.float64),
            },
        )
        planted.save(tmp / "planted.npz")
        (tmp / "benchmark.json").write_text(json.dumps(summary, indent=2) + "\n")
        (tmp / "README.md").write_text(_readme(cfg, summary))
        if out.exists():
            out.rmdir()
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return summary


def recovery(found: NetGenotype, planted: NetGenotype) -> dict[str, float]:
    """How much of the planted generator a genotype recovers: the fraction of the planted
    edges ``(src, dst)`` it keeps, of those with the same operation, and with the same
    activation (ReLU or LeakyReLU, whatever batch norm or dropout it adds)."""

    def edges(g: NetGenotype) -> dict[tuple[int, object], str]:
        out: dict[tuple[int, object], str] = {(e.src, n.id): e.op for n in g.nodes for e in n.inputs}
        out.update({(e.src, "out"): e.op for e in g.output})
        return out

    def act(op: str) -> str:
        return "lrelu" if "lrelu" in op else "relu"

    f, p = edges(found), edges(planted)
    shared = [k for k in p if k in f]
    return {
        "edges": len(shared) / len(p),
        "ops": sum(f[k] == p[k] for k in shared) / len(p),
        "activations": sum(act(f[k]) == act(p[k]) for k in shared) / len(p),
    }


#: Genotypes drawn for the chance level of recovery: its mean is then known to about 1 point.
CHANCE_DRAWS = 1000


def planted_genotype(source: str | Path) -> NetGenotype | None:
    """The planted generator of the benchmark folder ``source``, if it is a planted-architecture
    one (``zeronas data synth --variant genotype``)."""
    meta = Path(source) / "benchmark.json"
    if not meta.is_file():
        return None
    d = json.loads(meta.read_text()).get("planted_genotype_dict")
    return NetGenotype.from_dict("generator", d) if d else None


def chance_recovery(cfg: Config, planted: NetGenotype, n: int = CHANCE_DRAWS) -> dict[str, np.ndarray]:
    """Recovery of ``planted`` by the generators of random pairs 0..n-1 of ``cfg``'s search
    space (those the ``random`` method trains, untrained here): what a search must beat."""
    found = [recovery(random_pair(cfg, d).generator, planted) for d in range(n)]
    return {k: np.asarray([f[k] for f in found]) for k in ("edges", "ops", "activations")}


def recovery_report(found: NetGenotype, planted: NetGenotype, cfg: Config) -> dict:
    """:func:`recovery` of ``found``, with the planted genotype, the chance level's mean, and
    the fraction of the random genotypes that recover at least as much (``chance_at_least``:
    a mean alone hides how often one random genotype does as well)."""
    own = recovery(found, planted)
    chance = chance_recovery(cfg, planted)
    return {
        "planted": str(planted),
        **own,
        "chance": {k: float(v.mean()) for k, v in chance.items()},
        "chance_at_least": {k: float((v >= own[k] - 1e-9).mean()) for k, v in chance.items()},
        "chance_draws": CHANCE_DRAWS,
    }


def recovery_line(report: dict) -> str:
    """One line of a :func:`recovery_report`, for the search's log and the run summary."""
    at_least = report.get("chance_at_least", {})
    found = ", ".join(
        f"{k} {100 * report[k]:.0f}% (chance {100 * v:.0f}%"
        + (f", reached by {100 * at_least[k]:.0f}% of random genotypes)" if k in at_least else ")")
        for k, v in report["chance"].items()
    )
    return f"planted generator recovered: {found}"


def _readme(cfg: SynthConfig, summary: dict) -> str:
    c, s = summary["classes"], summary["samples"]
    lines = [
        f"# {'Synthetic' if cfg.base == 'random' else 'Semi-synthetic'} zero-shot benchmark "
        f"({cfg.base}, {cfg.variant}, seed {cfg.seed})",
        "",
        (
            "**Synthetic.** The class vectors (unit-L2 Gaussian), class names and seen/unseen class roles were "
            "drawn, and so were the image features"
            if cfg.base == "random"
            else "**Semi-synthetic.** The class vectors, class names and seen/unseen class roles are the real "
            f"{cfg.base.upper()} ones (xlsa17 proposed split); the image features are NOT real"
        )
        + ": they were drawn from a planted generator (`planted.npz`), see `zeronas.synthetic`.",
        "",
        f"- {c['total']} classes: {c['seen']} seen, {c['unseen']} unseen; {cfg.feature_dim}-d features",
        f"- samples: trainval {s['trainval']}, test-seen {s['test_seen']}, test-unseen {s['test_unseen']}",
        f"- settings: {json.dumps(summary['config'])}",
    ]
    if summary["planted_genotype"]:
        lines.append(f"- planted generator genotype: `{summary['planted_genotype']}`")
    lines += [
        "",
        "Oracle ceiling and floors: `zeronas experiment compare --data THIS_FOLDER --methods oracle,linear,eszsl,fix`.",
        "",
    ]
    return "\n".join(lines)


__all__ = [
    "BASES",
    "VARIANTS",
    "ClassVectors",
    "class_vectors",
    "PlantedGenerator",
    "SynthConfig",
    "build_benchmark",
    "chance_recovery",
    "planted_genotype",
    "real_class_vectors",
    "recovery",
    "recovery_line",
    "recovery_report",
]
