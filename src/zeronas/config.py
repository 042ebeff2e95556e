"""Run configuration: plain dataclasses, per-dataset TOML files, dumped with every run."""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from zeronas.errors import ZeroNASError

CONFIG_DIR = Path(__file__).resolve().parent / "configs"


@dataclass
class TrainConfig:
    """f-CLSWGAN training and evaluation (SPEC §7)."""

    epochs: int = 30  # upper bound; the epoch used is selected on the validation classes
    batch_size: int = 64
    lr: float = 1e-4
    beta1: float = 0.5
    cls_weight: float = 0.01  # lambda of Eq. 1
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
    fixed_g: bool = False  # keep G at the FIX architecture ("Fixed G", Table 3)
    fixed_d: bool = False
    eval_every: int = 1  # score the supernet G on validation classes every N epochs (0: never)
    select: str = "last"  # genotype of the "last" epoch, or of the best "val" epoch
    checkpoint_every: int = 1
    tensorboard: bool = False


@dataclass
class Config:
    train: TrainConfig = field(default_factory=TrainConfig)
    search: SearchConfig = field(default_factory=SearchConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict, source: str = "config") -> "Config":
        cfg = cls()
        for section, values in d.items():
            if section not in ("train", "search") or not isinstance(values, dict):
                raise ZeroNASError(f"{source}: unknown section {section!r} (expected 'train' or 'search')")
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
        target = getattr(self, section, None) if section in ("train", "search") else None
        fields = {f.name: f for f in dataclasses.fields(target)} if target is not None else {}
        if key not in fields:
            raise ZeroNASError(f"{source}: unknown setting {dotted!r}")
        current = getattr(target, key)
        try:
            setattr(target, key, _coerce(value, current))
        except (TypeError, ValueError):
            raise ZeroNASError(f"{source}: bad value {value!r} for {dotted} ({type(current).__name__})") from None


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
