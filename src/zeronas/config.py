"""Run configuration: plain dataclasses, per-dataset TOML files, dumped with every run.

Sections: ``[model]`` (what search and training share: the framework and the networks'
fixed settings), ``[train]`` (the GAN training loop), ``[eval]`` (synthesis, the final
classifier and calibration: how a generator is scored, on validation or test classes),
``[search]`` (Algorithm 1), and one section per framework that has settings, declared by
the framework itself (:func:`register_section`; ``cfg.vaegan.gan_weight_d``). Settings are
validated against the known keys; some take one of a set of values (:func:`register_choice`);
numbers carry their range (``setting(..., gt=0)``), checked as they are set and again, with the
rules between settings, by :meth:`Config.check` before any work starts. A setting's ``role``
says what may change when a run resumes and what keys a grid cell (:data:`RESULT`,
:data:`EXTEND`, :data:`LOG`).
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zeronas.errors import ZeroNASError

CONFIG_DIR = Path(__file__).resolve().parent / "configs"


#: Roles of a setting. ``result``: fixed once a run has started (changing it changes what was
#: computed); part of a grid cell's key. ``extend``: may change when a run resumes, affecting only
#: what is still to compute (more epochs, the genotype's selection, the scoring interval); part
#: of a grid cell's key. ``log``: never changes a result (checkpoints, logging); may change on
#: resume, not part of any key.
RESULT, EXTEND, LOG = "result", "extend", "log"


def setting(
    default: object,
    help: str,
    *,
    min: float | None = None,
    gt: float | None = None,
    max: float | None = None,
    lt: float | None = None,
    role: str = RESULT,
    key_default: bool = True,
) -> Any:
    """A config field with its one-line help (shown by ``zeronas config show``), its allowed range
    (``min``/``max`` inclusive, ``gt``/``lt`` exclusive; for a tuple, of every item) and its
    :data:`role <RESULT>`; every section (framework sections too) declares its fields with it.
    ``key_default=False`` leaves the setting out of a grid cell's key while it has its default
    value, so that a setting added to zeronas later does not make every existing cell stale."""
    if isinstance(default, (list, dict, set)):
        raise TypeError("mutable defaults need a default_factory")
    if role not in (RESULT, EXTEND, LOG):
        raise ValueError(f"unknown setting role {role!r}")
    bounds = {k: v for k, v in (("min", min), ("gt", gt), ("max", max), ("lt", lt)) if v is not None}
    return field(default=default, metadata={"help": help, "bounds": bounds, "role": role, "key_default": key_default})


def _rule(bounds: dict[str, float]) -> str:
    """``bounds`` in words: ``>= 1``, ``in [0, 1)``, ..."""
    low = next(((k, v) for k, v in bounds.items() if k in ("min", "gt")), None)
    high = next(((k, v) for k, v in bounds.items() if k in ("max", "lt")), None)
    if low and high:
        return f"in {'[' if low[0] == 'min' else '('}{low[1]:g}, {high[1]:g}{']' if high[0] == 'max' else ')'}"
    if low:
        return f"{'>=' if low[0] == 'min' else '>'} {low[1]:g}"
    if high:
        return f"{'<=' if high[0] == 'max' else '<'} {high[1]:g}"
    return "any"


def _within(value: float, bounds: dict[str, float]) -> bool:
    b = bounds
    return not (
        ("min" in b and value < b["min"])
        or ("gt" in b and value <= b["gt"])
        or ("max" in b and value > b["max"])
        or ("lt" in b and value >= b["lt"])
    )


def allowed(f: dataclasses.Field) -> str:
    """What a field accepts, in words (``an integer >= 1``, ``a number in [0, 1)``, ...)."""
    bounds = f.metadata.get("bounds", {})
    kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    if kind == "bool":
        return "true or false"
    if kind.startswith("tuple"):
        return "a non-empty comma-separated list of integers" + (f" {_rule(bounds)}" if bounds else "")
    if kind == "int":
        return "an integer" + (f" {_rule(bounds)}" if bounds else "")
    if kind == "float":
        return "a finite number" + (f" {_rule(bounds)}" if bounds else "")
    return "a string"


def field_problem(f: dataclasses.Field, value: object) -> str | None:
    """Why ``value`` is not allowed for field ``f`` (its type already converted), or None."""
    bounds = f.metadata.get("bounds", {})
    items = value if isinstance(value, tuple) else (value,)
    if isinstance(value, tuple) and not value:
        return f"must be {allowed(f)}"
    for v in items:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            continue
        if not math.isfinite(v) or not _within(v, bounds):
            return f"must be {allowed(f)}"
    return None


@dataclass
class ModelConfig:
    """What the search and the training share: the framework and the networks' fixed settings."""

    framework: str = setting("clswgan", "losses and extra networks of search and training (a registered framework)")
    noise_dim: int = setting(0, "dimension of the noise z; 0: the class-vector dim", min=0)
    slope: float = setting(0.2, "negative slope of LeakyReLU", min=0)
    dropout: float = setting(0.5, "dropout probability of the *_drop operations", min=0, lt=1)
    fix_hidden: int = setting(4096, "hidden width of the hand-crafted FIX networks (and of a side kept fixed)", min=1)
    critic_projection: bool = setting(
        False,
        "add a projection term <W x, c> to the critic's score (Miyato & Koyama 2018), searched or not",
        key_default=False,
    )


@dataclass
class TrainConfig:
    """Training a generator/critic pair (SPEC §7), shared by every framework."""

    epochs: int = setting(
        30, "upper bound on GAN epochs; the epoch used is selected on the validation classes", min=1, role=EXTEND
    )
    batch_size: int = setting(64, "samples per GAN training batch", min=1)
    lr: float = setting(1e-4, "Adam learning rate of the generator and critic", gt=0)
    beta1: float = setting(0.5, "Adam beta1 of the generator and critic", min=0, lt=1)
    cls_weight: float = setting(0.01, "lambda of Eq. 1: weight of the classification loss (clswgan, lisgan)", min=0)
    gp_weight: float = setting(10.0, "WGAN-GP gradient-penalty weight", min=0)
    critic_iters: int = setting(5, "critic steps per generator step", min=1)
    precision: str = setting(
        "fp32", "arithmetic of the GAN steps: fp32 | bf16 (autocast, fp32 master weights)", key_default=False
    )
    fold_epoch: str = setting(
        "own",
        "iterations of a validation fold's epoch: own (its training rows / batch) | final (the final training's: "
        "all seen rows / batch, so that a selected epoch is the same number of steps in the final training)",
        key_default=False,
    )
    eval_every: int = setting(1, "validation evaluation interval, in epochs", min=1, role=EXTEND)
    checkpoint_every: int = setting(1, "write checkpoint.pt every N epochs", min=1, role=LOG)
    tensorboard: bool = setting(False, "also log every epoch's row to RUN_DIR/tensorboard", role=LOG)


@dataclass
class EvalConfig:
    """Scoring a generator: validation folds, synthetic features, the final classifier, calibration."""

    folds: int = setting(
        3, "class-disjoint validation folds of the seen classes; every choice uses their mean score", min=1
    )
    syn_num_zsl: int = setting(300, "synthetic features per unseen class for the ZSL classifier", min=1)
    syn_num_gzsl: int = setting(300, "synthetic features per unseen class for the GZSL classifier", min=1)
    final_cls_lr_zsl: float = setting(1e-3, "learning rate of the final ZSL softmax classifier", gt=0)
    final_cls_lr_gzsl: float = setting(1e-3, "learning rate of the final GZSL softmax classifier", gt=0)
    final_cls_epochs: int = setting(25, "epochs of the final softmax classifiers", min=1)
    final_cls_batch: int = setting(300, "batch size of the final softmax classifiers", min=1)
    final_cls_schedule: str = setting(
        "constant",
        "learning rate of the final softmax classifiers over their steps: constant (SPEC §7) | cosine "
        "(annealed to 0, so that the classifier scored is a converged one, not the last noisy iterate)",
        key_default=False,
    )
    gzsl_balanced: bool = setting(False, "class-balanced loss for the GZSL classifier (real seen + synthetic unseen)")
    calibration_points: int = setting(
        101, "quantiles of the validation margins that place the stacking constants", min=2
    )


@dataclass
class SearchConfig:
    """The joint adversarial search (SPEC §5)."""

    epochs: int = setting(20, "search epochs", min=1, role=EXTEND)
    arch_steps: int = setting(
        0,
        "size of the search in architecture steps (iterations that take them: one G step and n_d critic steps "
        "each): > 0 runs search.warmup_epochs plus the fewest epochs that hold them, in place of search.epochs",
        min=0,
        key_default=False,
        role=EXTEND,
    )
    batch_size: int = setting(64, "samples per search batch", min=1)
    critic_iters: int = setting(5, "n_d: critic (architecture + weight) steps per generator step", min=1)
    cls_weight: float = setting(0.01, "lambda of Eqs. 8-9: weight of the classification loss", min=0)
    gp_weight: float = setting(10.0, "WGAN-GP gradient-penalty weight", min=0)
    lr: float = setting(1e-4, "Adam learning rate of the supernets' weights", gt=0)
    beta1: float = setting(0.5, "Adam beta1 of the weights", min=0, lt=1)
    arch_lr: float = setting(3e-4, "Adam learning rate of the architecture parameters alpha, beta", gt=0)
    arch_beta1: float = setting(0.5, "Adam beta1 of the architecture parameters", min=0, lt=1)
    arch_weight_decay: float = setting(1e-3, "weight decay of the architecture parameters", min=0)
    arch_schedule: str = setting("constant", "architecture learning rate over the search: constant | cosine (to 0)")
    warmup_epochs: int = setting(0, "epochs of weight steps only before the architecture steps start (paper: 0)", min=0)
    arch_cls_weight: float = setting(-1.0, "lambda in G's architecture steps; < 0: search.cls_weight (paper)")
    split: str = setting("sample", "D_tr/D_val halves by 'sample' (paper) or by 'class' (arch steps see other classes)")
    g_widths: tuple[int, ...] = setting((128, 256, 512, 1024), "widths of the generator's intermediate nodes", min=1)
    d_widths: tuple[int, ...] = setting((1024, 512, 256, 128), "widths of the critic's intermediate nodes", min=1)
    g_ops: str = setting("paper", "candidate operations of G's edges: paper (all 8) | no_bn | plain (FC + activation)")
    d_ops: str = setting("paper", "candidate operations of the critic's edges: paper | no_bn | plain")
    g_out: str = setting(
        "any",
        "sources of G's output node: any earlier node (paper) | hidden (intermediate nodes only, like a DARTS cell)",
        key_default=False,
    )
    d_out: str = setting(
        "any",
        "sources of the critic's output node: any earlier node (paper) | hidden (intermediate nodes only, so that "
        "the critic cannot score x through a bare linear edge)",
        key_default=False,
    )
    supernet_widths: str = setting(
        "space",
        "node widths of the supernets: space (each node at its own width, paper) | max (every node at its "
        "side's widest; the genotype keeps the space's widths)",
        key_default=False,
    )
    weight_init: str = setting(
        "normal",
        "initialisation of the supernets' FC layers: normal (N(0, 0.02), f-CLSWGAN's) | kaiming (He normal: "
        "deeper nodes keep the signal's scale) | torch (nn.Linear's default, which the authors' search script "
        "keeps); retraining always uses normal",
        key_default=False,
    )
    edge_gates: str = setting(
        "softmax",
        "how beta weighs a node's in-edges: softmax (they compete, Eq. 3, paper) | sigmoid (an independent "
        "gate per in-edge, FairDARTS)",
        key_default=False,
    )
    op_scale: str = setting(
        "raw",
        "what each candidate operation's output enters its edge's mix at: raw (Eq. 2, paper) | unit (divided "
        "by its root mean square over the batch, so alpha weighs what the operations compute and not their "
        "output scale: batch norm's is 1, an FC layer's follows its init and its input); retraining is unchanged",
        key_default=False,
    )
    arch_entropy: float = setting(
        0.0,
        "weight of the mean entropy of softmax(alpha) added to every architecture step's loss, ramped "
        "linearly from 0 in the first epoch of architecture steps to this in the last, so that each edge "
        "settles on one operation (a discretisation loss); beta is untouched; 0: off (paper)",
        min=0,
        key_default=False,
    )
    edge_topk: float = setting(
        0.0,
        "weight of -log(the share of softmax(beta) on each node's keep_edges strongest in-edges), added to every "
        "architecture step's loss and ramped like arch_entropy, so that the kept in-edges part from the others; "
        "needs edge_gates = softmax; 0: off (paper)",
        min=0,
        key_default=False,
    )
    keep_edges: int = setting(2, "in-edges kept per node when deriving the genotype", min=1)
    mode: str = setting("exact", "'exact': every operation (Eq. 2); 'gdas': one drawn operation per edge")
    precision: str = setting(
        "fp32", "arithmetic of the search steps: fp32 | bf16 (autocast, fp32 master weights)", key_default=False
    )
    tau_max: float = setting(10.0, "gdas: Gumbel-softmax temperature of the first epoch", gt=0)
    tau_min: float = setting(0.1, "gdas: temperature of the last epoch (linear in between)", gt=0)
    fixed_g: bool = setting(False, "keep G at the FIX architecture, search D only ('Fixed G', Table 3)")
    fixed_d: bool = setting(False, "keep D at the FIX architecture, search G only ('Fixed D', Table 3)")
    eval_every: int = setting(
        1, "score the supernet G on validation classes every N epochs (0: never)", min=0, role=EXTEND
    )
    select: str = setting(
        "last",
        "genotype of the 'last' epoch, or 'val': the last distinct genotypes retrained on the validation folds",
        role=EXTEND,
    )
    val_candidates: int = setting(
        3, "select = 'val': how many of the last distinct genotypes are retrained", min=1, role=EXTEND
    )
    checkpoint_every: int = setting(1, "write checkpoint.pt every N epochs", min=1, role=LOG)
    tensorboard: bool = setting(False, "also log every epoch's row to RUN_DIR/tensorboard", role=LOG)


CORE_SECTIONS: dict[str, type] = {
    "model": ModelConfig,
    "train": TrainConfig,
    "eval": EvalConfig,
    "search": SearchConfig,
}
#: The arithmetic of the update steps (``search.precision``, ``train.precision``).
PRECISIONS = ("fp32", "bf16")
#: Sections declared by extensions (each framework with settings), in registration order.
_SECTIONS: dict[str, type] = {}
#: Settings that take one of a set of values: dotted key -> (what a value is called, the values).
_CHOICES: dict[str, tuple[str, list[str]]] = {
    "search.mode": ("search mode", ["exact", "gdas"]),
    "search.select": ("genotype selection", ["last", "val"]),
    "search.split": ("search split", ["sample", "class"]),
    "search.arch_schedule": ("architecture schedule", ["constant", "cosine"]),
    "search.precision": ("precision", list(PRECISIONS)),
    "train.precision": ("precision", list(PRECISIONS)),
    "train.fold_epoch": ("fold epoch", ["own", "final"]),
    "eval.final_cls_schedule": ("classifier schedule", ["constant", "cosine"]),
    "search.g_ops": ("operation set", ["paper", "no_bn", "plain"]),
    "search.d_ops": ("operation set", ["paper", "no_bn", "plain"]),
    "search.g_out": ("output sources", ["any", "hidden"]),
    "search.d_out": ("output sources", ["any", "hidden"]),
    "search.supernet_widths": ("supernet widths", ["space", "max"]),
    "search.weight_init": ("initialisation", ["normal", "kaiming", "torch"]),
    "search.edge_gates": ("edge gates", ["softmax", "sigmoid"]),
    "search.op_scale": ("operation scale", ["raw", "unit"]),
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
    #: Where each setting that was set came from (a file, ``--set``, ``--epochs``), for messages.
    sources: dict[str, str] = field(default_factory=dict, repr=False, compare=False)

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
    def from_dict(cls, d: dict, source: str = "config", check: bool = True) -> Config:
        """A config from its dict form; ``check=False`` converts types but leaves ranges and
        choices to a later :meth:`check` (a resumed run's record, corrected by ``--set``)."""
        cfg = cls()
        for section, values in d.items():
            if section not in sections() or not isinstance(values, dict):
                raise ZeroNASError(f"{source}: unknown section {section!r} (expected one of {', '.join(sections())})")
            for key, value in values.items():
                cfg.set(f"{section}.{key}", value, source, check)
        return cfg

    def apply_overrides(self, items: tuple[str, ...] | list[str]) -> None:
        """Apply ``section.key=value`` strings (the CLI's ``--set``)."""
        for item in items:
            key, eq, value = item.partition("=")
            if not eq:
                raise ZeroNASError(f"--set {item!r}: expected section.key=value")
            self.set(key.strip(), value.strip())

    def set(self, dotted: str, value: object, source: str = "--set", check: bool = True) -> None:
        """Set ``section.key`` to ``value``, converting strings and checking the type and (with
        ``check``) the allowed values."""
        section, _, key = dotted.partition(".")
        target = self.section(section)
        fields = {f.name: f for f in dataclasses.fields(target)} if target is not None else {}
        if key not in fields:
            elsewhere = [s for s in sections() if key in {f.name for f in dataclasses.fields(self.section(s))}]
            hint = f" (did you mean {', '.join(f'{s}.{key}' for s in elsewhere)}?)" if elsewhere else ""
            raise ZeroNASError(f"{source}: unknown setting {dotted!r}{hint}")
        current = getattr(target, key)
        try:
            converted = coerce(value, current)
        except (TypeError, ValueError):
            raise ZeroNASError(
                f"{source}: bad value {value!r} for {dotted} (expected {allowed(fields[key])})"
            ) from None
        if check:
            self._check_value(dotted, fields[key], converted, source)
        setattr(target, key, converted)
        self.sources[dotted] = source

    @staticmethod
    def _check_value(dotted: str, f: dataclasses.Field, value: object, source: str) -> None:
        if dotted in _CHOICES and value not in _CHOICES[dotted][1]:
            label, known = _CHOICES[dotted]
            raise ZeroNASError(f"{source}: unknown {label} {value!r} for {dotted} (known: {', '.join(known)})")
        problem = field_problem(f, value)
        if problem:
            shown = ",".join(map(str, value)) if isinstance(value, tuple) else repr(value)
            raise ZeroNASError(f"{dotted} = {shown} ({source}): {problem}")

    def check(self) -> Config:
        """Every setting in its range or set, and the rules between settings; raises a one-line
        :class:`~zeronas.errors.ZeroNASError` naming the key, the value and what is allowed."""
        for name in sections():
            obj = self.section(name)
            for f in dataclasses.fields(obj):
                dotted = f"{name}.{f.name}"
                self._check_value(dotted, f, getattr(obj, f.name), self.sources.get(dotted, "config"))
        s = self.search
        rules = [
            (
                s.fixed_g and s.fixed_d,
                "search.fixed_g",
                "search.fixed_g and search.fixed_d are both true: nothing is left to search (set at most one)",
            ),
            (
                s.tau_min > s.tau_max,
                "search.tau_min",
                f"search.tau_min = {s.tau_min:g} is above search.tau_max = {s.tau_max:g} (the temperature decreases)",
            ),
            (
                s.edge_topk > 0 and s.edge_gates != "softmax",
                "search.edge_topk",
                "search.edge_topk needs search.edge_gates = 'softmax' (sigmoid gates do not compete)",
            ),
            (
                s.arch_steps > 0 and self.sources.get("search.epochs", "").startswith("--"),
                "search.epochs",
                f"search.epochs = {s.epochs} has no effect: search.arch_steps = {s.arch_steps} decides the search's "
                "epochs (give one of them)",
            ),
            (
                s.arch_steps == 0 and s.warmup_epochs >= s.epochs,
                "search.warmup_epochs",
                f"search.warmup_epochs = {s.warmup_epochs} leaves no architecture step in "
                f"search.epochs = {s.epochs} (it must be smaller)",
            ),
        ]
        for broken, key, message in rules:
            if broken:
                source = self.sources.get(key)
                raise ZeroNASError(message + (f" ({source})" if source else ""))
        return self

    def changes(self, other: Config) -> dict[str, tuple[object, object]]:
        """The settings that differ from ``other``'s: ``{dotted: (other's value, this one's)}``."""
        mine, theirs = self.to_dict(), other.to_dict()
        return {
            f"{sec}.{key}": (theirs.get(sec, {}).get(key), value)
            for sec, values in mine.items()
            for key, value in values.items()
            if theirs.get(sec, {}).get(key) != value
        }


def result_settings(cfg: Config, sections: list[str]) -> dict:
    """The resolved settings of ``sections`` that a result depends on: without the ``log``
    ones, and without a setting added later while it is at its default (:func:`keyed`)."""
    full = cfg.to_dict()
    return {
        name: {k: v for k, v in full[name].items() if role(f"{name}.{k}") != LOG and keyed(f"{name}.{k}", v)}
        for name in sections
        if name in full
    }


def differences(
    old: object, new: object, whole: tuple[str, ...] = (), prefix: str = ""
) -> dict[str, tuple[object, object]]:
    """``{dotted: (old value, new value)}`` where two nested dicts of settings differ (``train.lr``,
    ``data``), in key order; a key in ``whole`` counts as one value however deep it is."""
    if not isinstance(old, dict) or not isinstance(new, dict) or prefix.rstrip(".") in whole:
        return {prefix.rstrip("."): (old, new)} if old != new else {}
    found: dict[str, tuple[object, object]] = {}
    for k in sorted(set(old) | set(new), key=str):
        found.update(differences(old.get(k), new.get(k), whole, f"{prefix}{k}."))
    return found


def setting_field(dotted: str) -> dataclasses.Field:
    """The field of ``section.key`` (its help, bounds and role in ``metadata``)."""
    section, _, key = dotted.partition(".")
    cls = CORE_SECTIONS.get(section) or _SECTIONS[section]
    return next(f for f in dataclasses.fields(cls) if f.name == key)


def role(dotted: str) -> str:
    """The :data:`role <RESULT>` of ``section.key``."""
    return setting_field(dotted).metadata.get("role", RESULT)


def keyed(dotted: str, value: object) -> bool:
    """Whether ``section.key`` at ``value`` belongs in a grid cell's key: always, except a
    ``key_default=False`` setting at its default."""
    f = setting_field(dotted)
    return f.metadata.get("key_default", True) or value != f.default


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
        if any(isinstance(v, bool) or (isinstance(v, float) and not v.is_integer()) for v in items):
            raise ValueError(value)
        return tuple(int(v) for v in items)
    if isinstance(current, (int, float)):
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise TypeError(value)
        if isinstance(current, float):
            return float(value)
        if isinstance(value, float) and not value.is_integer():
            raise ValueError(value)
        return int(value)
    if isinstance(current, str) and not isinstance(value, str):
        raise TypeError(value)
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


#: The named searches that depart from the paper's (``nas``, the defaults): the settings each
#: one changes. ``zeronas search/run --search-method NAME`` and ``experiment compare --methods
#: NAME`` apply them on top of the dataset's config, before any ``--set``.
SEARCH_SETTINGS: dict[str, dict[str, object]] = {
    "nas_g_only": {"search.fixed_d": True},
    "nas_d_only": {"search.fixed_g": True},
    "nas_class_split": {"search.split": "class"},
    "nas_heldout": {"search.split": "class", "search.arch_schedule": "cosine"},
    "nas_kaiming": {"search.weight_init": "kaiming"},
    "nas_unit_scale": {"search.op_scale": "unit"},
    "nas_gdas_plain": {"search.mode": "gdas", "search.g_ops": "plain", "search.d_ops": "plain"},
    "nas_settled": {
        "search.mode": "gdas",
        "search.g_ops": "plain",
        "search.d_ops": "plain",
        "search.d_out": "hidden",
        "search.arch_entropy": 10.0,
        "search.edge_topk": 1.0,
    },
}


#: The searches of one network (the other kept at FIX): Table 3's ablation.
ONE_SIDED = ("nas_g_only", "nas_d_only")


def search_method_text(name: str) -> str:
    """A named search's settings as ``--set`` would spell them, e.g. ``search.split=class``
    (empty for ``nas``)."""
    return ", ".join(
        f"{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in SEARCH_SETTINGS.get(name, {}).items()
    )


def apply_search_method(cfg: Config, name: str, source: str | None = None) -> Config:
    """Set the settings of the named search ``name`` (``nas``: none) on ``cfg``, each recorded as
    coming from ``source`` (default ``--search-method NAME``)."""
    if name != "nas" and name not in SEARCH_SETTINGS:
        raise ZeroNASError(f"unknown search method {name!r} (known: nas, {', '.join(SEARCH_SETTINGS)})")
    for key, value in SEARCH_SETTINGS.get(name, {}).items():
        cfg.set(key, value, source or f"--search-method {name}")
    return cfg


def load_config(
    name_or_path: str | Path | None, dataset_name: str | None = None, search_method: str | None = None
) -> tuple[Config, str]:
    """A config from a file path, a known name (``cub``, ``fmnist``, ...) or the dataset's name,
    with the settings of the named search ``search_method`` (:func:`apply_search_method`) on top.

    Returns the config and where it came from.
    """
    cfg, source = _read_config(name_or_path, dataset_name)
    return (cfg if search_method is None else apply_search_method(cfg, search_method)), source


def _read_config(name_or_path: str | Path | None, dataset_name: str | None) -> tuple[Config, str]:
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
