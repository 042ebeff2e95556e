"""Run configuration: plain dataclasses, per-dataset TOML files, dumped with every run.

Sections: ``[model]`` (what search and training share: the framework and the networks'
fixed settings), ``[train]`` (the GAN training loop), ``[eval]`` (synthesis, the final
classifier and calibration: how a generator is scored, on validation or test classes),
``[search]`` (Algorithm 1), and one section per framework that has settings, declared by
the framework itself (:func:`register_section`; ``cfg.vaegan.gan_weight_d``). Settings are
validated against the known keys; some take one of a set of values (:func:`register_choice`).
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zeronas.errors import ZeroNASError

CONFIG_DIR = Path(__file__).resolve().parent / "configs"


def setting(default: object, help: str) -> Any:
    """A config field with its one-line help (shown by ``zeronas config show``); every section
    (framework sections too) declares its fields with it."""
    if isinstance(default, (list, dict, set)):
        raise TypeError("mutable defaults need a default_factory")
    return field(default=default, metadata={"help": help})


@dataclass
class ModelConfig:
    """What the search and the training share: the framework and the networks' fixed settings."""

    framework: str = setting("clswgan", "losses and extra networks of search and training (a registered framework)")
    noise_dim: int = setting(0, "dimension of the noise z; 0: the class-vector dim")
    slope: float = setting(0.2, "negative slope of LeakyReLU")
    dropout: float = setting(0.5, "dropout probability of the *_drop operations")
    fix_hidden: int = setting(4096, "hidden width of the hand-crafted FIX networks (and of a side kept fixed)")


@dataclass
class TrainConfig:
    """Training a generator/critic pair (SPEC §7), shared by every framework."""

    epochs: int = setting(30, "upper bound on GAN epochs; the epoch used is selected on the validation classes")
    batch_size: int = setting(64, "samples per GAN training batch")
    lr: float = setting(1e-4, "Adam learning rate of the generator and critic")
    beta1: float = setting(0.5, "Adam beta1 of the generator and critic")
    cls_weight: float = setting(0.01, "lambda of Eq. 1: weight of the classification loss (clswgan, lisgan)")
    gp_weight: float = setting(10.0, "WGAN-GP gradient-penalty weight")
    critic_iters: int = setting(5, "critic steps per generator step")
    eval_every: int = setting(1, "validation evaluation interval, in epochs")
    checkpoint_every: int = setting(1, "write checkpoint.pt every N epochs")
    tensorboard: bool = setting(False, "also log every epoch's row to RUN_DIR/tensorboard")


@dataclass
class EvalConfig:
    """Scoring a generator: validation folds, synthetic features, the final classifier, calibration."""

    folds: int = setting(3, "class-disjoint validation folds of the seen classes; every choice uses their mean score")
    syn_num_zsl: int = setting(300, "synthetic features per unseen class for the ZSL classifier")
    syn_num_gzsl: int = setting(300, "synthetic features per unseen class for the GZSL classifier")
    final_cls_lr_zsl: float = setting(1e-3, "learning rate of the final ZSL softmax classifier")
    final_cls_lr_gzsl: float = setting(1e-3, "learning rate of the final GZSL softmax classifier")
    final_cls_epochs: int = setting(25, "epochs of the final softmax classifiers")
    final_cls_batch: int = setting(300, "batch size of the final softmax classifiers")
    gzsl_balanced: bool = setting(False, "class-balanced loss for the GZSL classifier (real seen + synthetic unseen)")
    calibration_points: int = setting(101, "quantiles of the validation margins that place the stacking constants")


@dataclass
class SearchConfig:
    """The joint adversarial search (SPEC §5)."""

    epochs: int = setting(20, "search epochs")
    batch_size: int = setting(64, "samples per search batch")
    critic_iters: int = setting(5, "n_d: critic (architecture + weight) steps per generator step")
    cls_weight: float = setting(0.01, "lambda of Eqs. 8-9: weight of the classification loss")
    gp_weight: float = setting(10.0, "WGAN-GP gradient-penalty weight")
    lr: float = setting(1e-4, "Adam learning rate of the supernets' weights")
    beta1: float = setting(0.5, "Adam beta1 of the weights")
    arch_lr: float = setting(3e-4, "Adam learning rate of the architecture parameters alpha, beta")
    arch_beta1: float = setting(0.5, "Adam beta1 of the architecture parameters")
    arch_weight_decay: float = setting(1e-3, "weight decay of the architecture parameters")
    arch_schedule: str = setting("constant", "architecture learning rate over the search: constant | cosine (to 0)")
    warmup_epochs: int = setting(0, "epochs of weight steps only before the architecture steps start (paper: 0)")
    arch_cls_weight: float = setting(-1.0, "lambda in G's architecture steps; < 0: search.cls_weight (paper)")
    split: str = setting("sample", "D_tr/D_val halves by 'sample' (paper) or by 'class' (arch steps see other classes)")
    g_widths: tuple[int, ...] = setting((128, 256, 512, 1024), "widths of the generator's intermediate nodes")
    d_widths: tuple[int, ...] = setting((1024, 512, 256, 128), "widths of the critic's intermediate nodes")
    g_ops: str = setting("paper", "candidate operations of G's edges: paper (all 8) | no_bn | plain (FC + activation)")
    d_ops: str = setting("paper", "candidate operations of the critic's edges: paper | no_bn | plain")
    keep_edges: int = setting(2, "in-edges kept per node when deriving the genotype")
    mode: str = setting("exact", "'exact': every operation (Eq. 2); 'gdas': one drawn operation per edge")
    tau_max: float = setting(10.0, "gdas: Gumbel-softmax temperature of the first epoch")
    tau_min: float = setting(0.1, "gdas: temperature of the last epoch (linear in between)")
    fixed_g: bool = setting(False, "keep G at the FIX architecture, search D only ('Fixed G', Table 3)")
    fixed_d: bool = setting(False, "keep D at the FIX architecture, search G only ('Fixed D', Table 3)")
    eval_every: int = setting(1, "score the supernet G on validation classes every N epochs (0: never)")
    select: str = setting(
        "last", "genotype of the 'last' epoch, or 'val': the last distinct genotypes retrained on the validation folds"
    )
    val_candidates: int = setting(3, "select = 'val': how many of the last distinct genotypes are retrained")
    checkpoint_every: int = setting(1, "write checkpoint.pt every N epochs")
    tensorboard: bool = setting(False, "also log every epoch's row to RUN_DIR/tensorboard")


CORE_SECTIONS: dict[str, type] = {
    "model": ModelConfig,
    "train": TrainConfig,
    "eval": EvalConfig,
    "search": SearchConfig,
}
#: Sections declared by extensions (each framework with settings), in registration order.
_SECTIONS: dict[str, type] = {}
#: Settings that take one of a set of values: dotted key -> (what a value is called, the values).
_CHOICES: dict[str, tuple[str, list[str]]] = {
    "search.mode": ("search mode", ["exact", "gdas"]),
    "search.select": ("genotype selection", ["last", "val"]),
    "search.split": ("search split", ["sample", "class"]),
    "search.arch_schedule": ("architecture schedule", ["constant", "cosine"]),
    "search.g_ops": ("operation set", ["paper", "no_bn", "plain"]),
    "search.d_ops": ("operation set", ["paper", "no_bn", "plain"]),
}


def register_section(name: str, cls: type) -> None:
    """Declare a config section (a dataclass with defaults): ``[name]`` in TOML, ``cfg.<name>``."""
    if name in CORE_SECTIONS or _SECTIONS.get(name, cls) is not cls:
        raise ValueError(f"config section {name!r} is already declared")
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"config section {name!r}: {cls!r} is not a dataclass")
    _SECTIONS[name] = cls


def register_choice(dotted: str, label: str, value: str) -> None:
    """Allow ``value`` for the setting ``dotted`` (e.g. a framework name for ``model.framework``)."""
    values = _CHOICES.setdefault(dotted, (label, []))[1]
    if value not in values:
        values.append(value)


def choices(dotted: str) -> list[str]:
    """The values allowed for ``dotted``, if it takes one of a set."""
    return list(_CHOICES.get(dotted, ("", []))[1])


def sections() -> list[str]:
    return [*CORE_SECTIONS, *_SECTIONS]


@dataclass
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    search: SearchConfig = field(default_factory=SearchConfig)
    #: The declared extension sections, by name (reached as attributes: ``cfg.vaegan``).
    extra: dict[str, Any] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for name, cls in _SECTIONS.items():
            self.extra.setdefault(name, cls())

    def __getattr__(self, name: str) -> Any:  # only for names that are not attributes
        if name in _SECTIONS:
            extra = self.__dict__.setdefault("extra", {})
            return extra.setdefault(name, _SECTIONS[name]())
        raise AttributeError(f"{type(self).__name__!r} has no section {name!r}")

    def section(self, name: str) -> Any:
        if name in CORE_SECTIONS:
            return getattr(self, name)
        return self.__getattr__(name) if name in _SECTIONS else None

    def to_dict(self) -> dict:
        return {name: dataclasses.asdict(self.section(name)) for name in sections()}

    @classmethod
    def from_dict(cls, d: dict, source: str = "config") -> Config:
        cfg = cls()
        for section, values in d.items():
            if section not in sections() or not isinstance(values, dict):
                raise ZeroNASError(f"{source}: unknown section {section!r} (expected one of {', '.join(sections())})")
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
        target = self.section(section)
        fields = {f.name for f in dataclasses.fields(target)} if target is not None else set()
        if key not in fields:
            elsewhere = [s for s in sections() if key in {f.name for f in dataclasses.fields(self.section(s))}]
            hint = f" (did you mean {', '.join(f'{s}.{key}' for s in elsewhere)}?)" if elsewhere else ""
            raise ZeroNASError(f"{source}: unknown setting {dotted!r}{hint}")
        if dotted in _CHOICES and value not in _CHOICES[dotted][1]:
            label, known = _CHOICES[dotted]
            raise ZeroNASError(f"{source}: unknown {label} {value!r} (known: {', '.join(known)})")
        current = getattr(target, key)
        try:
            setattr(target, key, coerce(value, current))
        except (TypeError, ValueError):
            raise ZeroNASError(f"{source}: bad value {value!r} for {dotted} ({type(current).__name__})") from None


def coerce(value: object, current: object) -> object:
    """``value`` (a TOML value or a string) converted to the type of ``current``."""
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
    if isinstance(current, (int, float)):
        if not isinstance(value, (int, float, str)):
            raise TypeError(value)
        if isinstance(current, float):
            return float(value)
        if isinstance(value, float) and not value.is_integer():
            raise ValueError(value)
        return int(value)
    return value


def known_configs() -> list[str]:
    return sorted(p.stem for p in CONFIG_DIR.glob("*.toml"))


def config_for_dataset(name: str) -> str | None:
    """The known config a dataset name selects: the same name, or else the longest known name
    it starts with before a separator (``CUB_features`` -> ``cub``, ``cubsim_s1`` -> ``cubsim``)."""
    name = name.lower()
    known = known_configs()
    if name in known:
        return name
    prefixes = [c for c in known if any(name.startswith(c + sep) for sep in "_-. ")]
    return max(prefixes, key=len) if prefixes else None


def load_config(name_or_path: str | Path | None, dataset_name: str | None = None) -> tuple[Config, str]:
    """A config from a file path, a known name (``cub``, ``fmnist``, ...) or the dataset's name.

    Returns the config and where it came from.
    """
    if name_or_path is None:
        match = config_for_dataset(dataset_name or "")
        if match is None:
            return Config(), "defaults"
        name_or_path = match
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
