"""Run configuration: plain dataclasses, per-dataset TOML files, dumped with every run."""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zeronas.errors import ZeroNASError

CONFIG_DIR = Path(__file__).resolve().parent / "configs"
#: The feature-generating frameworks (``zeronas.frameworks``), by ``train.framework`` name.
FRAMEWORKS = ("clswgan", "fvaegan", "tfvaegan", "lisgan")
SEARCH_MODES = ("exact", "gdas")


def _h(default: object, help: str) -> Any:
    """A dataclass field with its one-line help (shown by ``zeronas config show``)."""
    return field(default=default, metadata={"help": help})


@dataclass
class TrainConfig:
    """Training and evaluation (SPEC §7), shared by every framework."""

    framework: str = _h("clswgan", "losses and extra networks of search and training: " + ", ".join(FRAMEWORKS))
    epochs: int = _h(30, "upper bound on GAN epochs; the epoch used is selected on the validation classes")
    batch_size: int = _h(64, "samples per GAN training batch")
    lr: float = _h(1e-4, "Adam learning rate of the generator and critic")
    beta1: float = _h(0.5, "Adam beta1 of the generator and critic")
    cls_weight: float = _h(0.01, "lambda of Eq. 1: weight of the classification loss (clswgan, lisgan)")
    gp_weight: float = _h(10.0, "WGAN-GP gradient-penalty weight")
    critic_iters: int = _h(5, "critic steps per generator step")
    noise_dim: int = _h(0, "dimension of the noise z; 0: the class-vector dim")
    fix_hidden: int = _h(4096, "hidden width of the hand-crafted FIX networks")
    slope: float = _h(0.2, "negative slope of LeakyReLU")
    dropout: float = _h(0.5, "dropout probability of the *_drop operations")
    syn_num_zsl: int = _h(300, "synthetic features per unseen class for the ZSL classifier")
    syn_num_gzsl: int = _h(300, "synthetic features per unseen class for the GZSL classifier")
    final_cls_lr_zsl: float = _h(1e-3, "learning rate of the final ZSL softmax classifier")
    final_cls_lr_gzsl: float = _h(1e-3, "learning rate of the final GZSL softmax classifier")
    final_cls_epochs: int = _h(25, "epochs of the final softmax classifiers")
    final_cls_batch: int = _h(300, "batch size of the final softmax classifiers")
    pretrain_cls_lr: float = _h(1e-3, "learning rate of the frozen classifier behind the classification loss")
    pretrain_cls_epochs: int = _h(50, "epochs of that pre-trained classifier")
    pretrain_cls_batch: int = _h(100, "batch size of that pre-trained classifier")
    eval_every: int = _h(1, "validation evaluation interval, in epochs")
    calibration_grid: int = _h(21, "calibrated-stacking constants tried on validation, evenly from 0 to 1")
    checkpoint_every: int = _h(1, "write checkpoint.pt every N epochs")
    tensorboard: bool = _h(False, "also log every epoch's row to RUN_DIR/tensorboard")


@dataclass
class SearchConfig:
    """The joint adversarial search (SPEC §5)."""

    epochs: int = _h(20, "search epochs")
    batch_size: int = _h(64, "samples per search batch")
    critic_iters: int = _h(5, "n_d: critic (architecture + weight) steps per generator step")
    cls_weight: float = _h(0.01, "lambda of Eqs. 8-9: weight of the classification loss")
    gp_weight: float = _h(10.0, "WGAN-GP gradient-penalty weight")
    lr: float = _h(1e-4, "Adam learning rate of the supernets' weights")
    beta1: float = _h(0.5, "Adam beta1 of the weights")
    arch_lr: float = _h(3e-4, "Adam learning rate of the architecture parameters alpha, beta")
    arch_beta1: float = _h(0.5, "Adam beta1 of the architecture parameters")
    arch_weight_decay: float = _h(1e-3, "weight decay of the architecture parameters")
    g_widths: tuple[int, ...] = _h((128, 256, 512, 1024), "widths of the generator's intermediate nodes")
    d_widths: tuple[int, ...] = _h((1024, 512, 256, 128), "widths of the critic's intermediate nodes")
    keep_edges: int = _h(2, "in-edges kept per node when deriving the genotype")
    mode: str = _h("exact", "'exact': every operation (Eq. 2); 'gdas': one drawn operation per edge")
    tau_max: float = _h(10.0, "gdas: Gumbel-softmax temperature of the first epoch")
    tau_min: float = _h(0.1, "gdas: temperature of the last epoch (linear in between)")
    fixed_g: bool = _h(False, "keep G at the FIX architecture, search D only ('Fixed G', Table 3)")
    fixed_d: bool = _h(False, "keep D at the FIX architecture, search G only ('Fixed D', Table 3)")
    eval_every: int = _h(1, "score the supernet G on validation classes every N epochs (0: never)")
    select: str = _h("last", "genotype of the 'last' epoch, or of the best 'val' epoch")
    checkpoint_every: int = _h(1, "write checkpoint.pt every N epochs")
    tensorboard: bool = _h(False, "also log every epoch's row to RUN_DIR/tensorboard")


@dataclass
class VAEGANConfig:
    """f-VAEGAN-D2 and TF-VAEGAN: the VAE around the shared generator (Xian et al. 2019)."""

    gamma_d: float = _h(10.0, "weight of the critic's WGAN-GP loss")
    gamma_g: float = _h(10.0, "weight of the WGAN term in the generator's loss")
    encoded_noise: bool = _h(True, "the generator's WGAN fakes decode the encoder's z, not prior noise")
    encoder_hidden: int = _h(4096, "hidden width of the encoder")


@dataclass
class TFVAEGANConfig:
    """TF-VAEGAN's semantic decoder and feedback module (Narayan et al. 2020)."""

    recons_weight: float = _h(0.01, "cycle-consistency weight of the semantic decoder")
    feedback_weight: float = _h(1.0, "a1: feedback strength while training")
    feedback_weight_syn: float = _h(1.0, "a2: feedback strength when synthesising features")
    decoder_hidden: int = _h(4096, "hidden width of the semantic decoder")
    decoder_lr: float = _h(1e-4, "learning rate of the semantic decoder")
    feedback_lr: float = _h(1e-5, "learning rate of the feedback module")


@dataclass
class LisGANConfig:
    """LisGAN's soul samples (Li et al. 2019)."""

    souls_per_class: int = _h(3, "k-means clusters of each seen class's real features")
    sample_soul_weight: float = _h(0.01, "weight pulling each fake feature to its class's nearest soul")
    class_soul_weight: float = _h(0.01, "weight pulling each class's mean fake feature to its nearest soul")
    soul_syn_num: int = _h(20, "fakes per seen class for the class-level term")


SECTIONS = ("train", "search", "vaegan", "tfvaegan", "lisgan")


@dataclass
class Config:
    train: TrainConfig = field(default_factory=TrainConfig)
    search: SearchConfig = field(default_factory=SearchConfig)
    vaegan: VAEGANConfig = field(default_factory=VAEGANConfig)
    tfvaegan: TFVAEGANConfig = field(default_factory=TFVAEGANConfig)
    lisgan: LisGANConfig = field(default_factory=LisGANConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict, source: str = "config") -> "Config":
        cfg = cls()
        for section, values in d.items():
            if section not in SECTIONS or not isinstance(values, dict):
                raise ZeroNASError(f"{source}: unknown section {section!r} (expected one of {', '.join(SECTIONS)})")
            for key, value in values.items():
                cfg.set(f"{section}.{key}", value, source)
        return cfg

    def apply_overrides(self, items: tuple[str, ...] | list[str]) -> None:
        """Apply ``section.key=value`` strings (the CLI's ``--set``)."""
        for item in items:
            key, eq, value = item.partition("=")
            if not eq:
                raise ZeroNASError(f"--set {item!r}: expected section.key=value")
            self.set(key.strip(), value.strip())

    def set(self, dotted: str, value: object, source: str = "--set") -> None:
        """Set ``section.key`` to ``value``, converting strings and checking the type."""
        section, _, key = dotted.partition(".")
        target = getattr(self, section, None) if section in SECTIONS else None
        fields = {f.name: f for f in dataclasses.fields(target)} if target is not None else {}
        if key not in fields:
            raise ZeroNASError(f"{source}: unknown setting {dotted!r}")
        current = getattr(target, key)
        try:
            setattr(target, key, _coerce(value, current))
        except (TypeError, ValueError):
            raise ZeroNASError(f"{source}: bad value {value!r} for {dotted} ({type(current).__name__})") from None
        if dotted == "train.framework" and value not in FRAMEWORKS:
            raise ZeroNASError(f"{source}: unknown framework {value!r} (known: {', '.join(FRAMEWORKS)})")
        if dotted == "search.mode" and value not in SEARCH_MODES:
            raise ZeroNASError(f"{source}: unknown search mode {value!r} (known: {', '.join(SEARCH_MODES)})")


def _coerce(value: object, current: object) -> object:
    if isinstance(current, bool):
        if isinstance(value, str):
            if value.lower() not in ("true", "false", "1", "0"):
                raise ValueError(value)
            return value.lower() in ("true", "1")
        if not isinstance(value, bool):
            raise TypeError(value)
        return value
    if isinstance(current, tuple):
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, (list, tuple)) or not items:
            raise TypeError(value)
        return tuple(int(v) for v in items)
    if isinstance(current, int):
        if isinstance(value, float) and not value.is_integer():
            raise ValueError(value)
        return int(value)  # type: ignore[arg-type]
    if isinstance(current, float):
        return float(value)  # type: ignore[arg-type]
    return value


def known_configs() -> list[str]:
    return sorted(p.stem for p in CONFIG_DIR.glob("*.toml"))


def load_config(name_or_path: str | Path | None, dataset_name: str | None = None) -> tuple[Config, str]:
    """A config from a file path, a known name (``cub``, ``fmnist``, ...) or the dataset's name.

    Returns the config and where it came from.
    """
    if name_or_path is None:
        name = (dataset_name or "").lower()
        if name not in known_configs():
            return Config(), "defaults"
        name_or_path = name
    p = Path(name_or_path)
    if not p.is_file():
        if str(name_or_path).lower() in known_configs():
            p = CONFIG_DIR / f"{str(name_or_path).lower()}.toml"
        else:
            raise ZeroNASError(f"{name_or_path}: no such config file or known config ({', '.join(known_configs())})")
    try:
        d = tomllib.loads(p.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ZeroNASError(f"{p}: not valid TOML ({exc})") from None
    return Config.from_dict(d, str(p)), str(p)
