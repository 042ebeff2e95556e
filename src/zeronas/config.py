"""Run configuration: plain dataclasses, per-dataset TOML files, dumped with every run."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import tomllib

from zeronas.errors import ZeroNASError

CONFIG_DIR = Path(__file__).resolve().parent / "configs"
#: The feature-generating frameworks (``zeronas.frameworks``), by ``train.framework`` name.
FRAMEWORKS = ("clswgan", "fvaegan", "tfvaegan", "lisgan")
SEARCH_MODES = ("exact", "gdas")


@dataclass
class TrainConfig:
    """Training and evaluation (SPEC §7), shared by every framework."""

    framework: str = "clswgan"  # the losses and extra networks of both search and training
    epochs: int = 30  # upper bound; the epoch used is selected on the validation classes
    batch_size: int = 64
    lr: float = 1e-4
    beta1: float = 0.5
    cls_weight: float = 0.01  # lambda of Eq. 1 (clswgan, lisgan)
    gp_weight: float = 10.0
    critic_iters: int = 5
    noise_dim: int = 0  # 0: the class-vector dim
    fix_hidden: int = 4096  # hidden width of the hand-crafted FIX networks
    slope: float = 0.2
    dropout: float = 0.5
    syn_num_zsl: int = 300  # synthetic features per unseen class
    syn_num_gzsl: int = 300
    final_cls_lr_zsl: float = 1e-3
    final_cls_lr_gzsl: float = 1e-3
    final_cls_epochs: int = 25
    final_cls_batch: int = 300
    pretrain_cls_lr: float = 1e-3
    pretrain_cls_epochs: int = 50
    pretrain_cls_batch: int = 100
    eval_every: int = 1  # validation evaluation interval, in epochs
    calibration_grid: int = 21  # stacking constants tried on validation, from 0 to 1
    checkpoint_every: int = 1
    tensorboard: bool = False  # also log every epoch's row to run_dir/tensorboard


@dataclass
class SearchConfig:
    """The joint adversarial search (SPEC §5)."""

    epochs: int = 20
    batch_size: int = 64
    critic_iters: int = 5
    cls_weight: float = 0.01
    gp_weight: float = 10.0
    lr: float = 1e-4  # weights
    beta1: float = 0.5
    arch_lr: float = 3e-4
    arch_beta1: float = 0.5
    arch_weight_decay: float = 1e-3
    g_widths: tuple[int, ...] = (128, 256, 512, 1024)
    d_widths: tuple[int, ...] = (1024, 512, 256, 128)
    keep_edges: int = 2
    mode: str = "exact"  # "exact": every operation (Eq. 2); "gdas": one drawn operation per edge
    tau_max: float = 10.0  # gdas: Gumbel-softmax temperature of the first epoch,
    tau_min: float = 0.1  # decreased linearly to this at the last
    fixed_g: bool = False  # keep G at the FIX architecture ("Fixed G", Table 3)
    fixed_d: bool = False
    eval_every: int = 1  # score the supernet G on validation classes every N epochs (0: never)
    select: str = "last"  # genotype of the "last" epoch, or of the best "val" epoch
    checkpoint_every: int = 1
    tensorboard: bool = False


@dataclass
class VAEGANConfig:
    """f-VAEGAN-D2 and TF-VAEGAN: the VAE around the shared generator (Xian et al. 2019)."""

    gan_weight_d: float = 10.0  # weight of the critic's WGAN-GP loss (the authors' gamma_d)
    gan_weight_g: float = 10.0  # weight of the WGAN term in the generator's loss (gamma_g)
    encoded_noise: bool = True  # the generator's WGAN fakes decode the encoder's z, not prior noise
    encoder_hidden: int = 4096


@dataclass
class TFVAEGANConfig:
    """TF-VAEGAN's semantic decoder and feedback module (Narayan et al. 2020)."""

    recons_weight: float = 0.01  # cycle-consistency weight of the semantic decoder
    feedback_weight: float = 1.0  # a1: feedback strength while training
    feedback_weight_syn: float = 1.0  # a2: feedback strength when synthesising features
    decoder_hidden: int = 4096
    decoder_lr: float = 1e-4
    feedback_lr: float = 1e-5


@dataclass
class LisGANConfig:
    """LisGAN's soul samples (Li et al. 2019)."""

    souls_per_class: int = 3  # k-means clusters of each seen class's real features
    sample_soul_weight: float = 0.01  # each fake feature to its class's nearest soul
    class_soul_weight: float = 0.01  # each class's mean fake feature to its nearest soul
    soul_syn_num: int = 20  # fakes per seen class for the class-level term


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
    def from_dict(cls, d: dict, source: str = "config") -> Config:
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
