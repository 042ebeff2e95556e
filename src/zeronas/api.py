"""The public Python API: load a dataset, search, train, evaluate; the results stay in memory.

Every function is a thin layer over the engine the command line runs
(:func:`zeronas.engine.search`, :func:`zeronas.engine.train_and_evaluate`), so a call does
exactly what ``zeronas search`` or ``zeronas train`` does, with the same selection
protocol (every choice on the validation folds, test data scored once). A run directory is
optional: without one the engine writes its checkpoints into a temporary directory that is
removed before the call returns; with one, the directory must be new or empty and ends up
as a CLI run's (``config.json``, ``checkpoint.pt``, histories, ``genotype.json``,
``metrics.json``).

Accuracies are fractions (0-1) here, as in ``metrics.json``; the CLI prints them in %.
See ``docs/api.md`` for an example.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from zeronas.config import Config
from zeronas.config import load_config as _resolve_config
from zeronas.data import ZSLDataset, load_dataset
from zeronas.engine import Session, train_and_evaluate
from zeronas.engine import search as _engine_search
from zeronas.errors import ZeroNASError
from zeronas.evaluation import evaluate_test_once
from zeronas.frameworks import Framework
from zeronas.nas.arch import load_arch
from zeronas.nas.genotype import Genotype
from zeronas.runs import CHECKPOINT, Log, load_checkpoint, pick_device, prepare_run_dir, seed_everything, write_record

__all__ = [
    "Config",
    "Genotype",
    "SearchResult",
    "TrainResult",
    "ZSLDataset",
    "evaluate",
    "load_config",
    "load_dataset",
    "search",
    "train",
]

#: What the functions take as a dataset: a loaded one, an xlsa17 folder or ``.npz`` file, or
#: None for the bundled Fashion-MNIST dataset.
DatasetLike = ZSLDataset | str | Path | None
#: A config, a known config's name (``cub``, ``fmnist``, ...) or a TOML file; None: the one
#: the dataset's name selects, as on the command line.
ConfigLike = Config | str | Path | None


def load_config(
    name: str | Path | None = None,
    *,
    dataset: DatasetLike = None,
    search_method: str | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Config:
    """A run configuration.

    Args:
        name: a known config (``cub``, ``flo``, ``sun``, ``awa1``, ``awa2``, ``apy``,
            ``fmnist``, ...) or a TOML file; None: the config ``dataset``'s name selects
            (defaults when none matches).
        dataset: the dataset whose name selects the config when ``name`` is None.
        search_method: a named search (``nas_settled``, ...; :data:`zeronas.config.SEARCH_SETTINGS`),
            as ``--search-method``: its settings, applied before ``overrides``.
        overrides: ``{"section.key": value}``, as ``--set section.key=value`` (checked
            against the known settings).
    """
    ds_name = _dataset(dataset).name if name is None else None
    cfg, _ = _resolve_config(name, ds_name, search_method)
    for key, value in (overrides or {}).items():
        cfg.set(key, value, "overrides")
    return cfg


@dataclass
class SearchResult:
    """What :func:`search` found.

    Attributes:
        genotype: the derived generator/critic pair (what :func:`train` retrains).
        supernet: the searched networks after the last epoch: ``supernet["generator"]`` and
            ``supernet["critic"]`` (a :class:`~zeronas.nas.supernet.Supernet`, with
            ``arch_state()`` and ``export()``; a side kept fixed, ``search.fixed_g`` or
            ``fixed_d``, is the FIX network).
        history: one row per search epoch (``search_history.csv``): step losses, median
            margins, ``val_zsl`` (supernet generator's ZSL top-1 on the validation classes).
        arch_history: per epoch, softmax(alpha) and softmax(beta) and the derived genotype.
        verdict: the search's judgement of itself (``genotype.json["search"]``: the chosen
            epoch, margins, ``decisive``, ``warnings``).
    """

    genotype: Genotype
    supernet: nn.ModuleDict
    history: list[dict]
    arch_history: list[dict]
    verdict: dict


@dataclass
class TrainResult:
    """A trained and evaluated generator/critic pair.

    Attributes:
        genotype: the pair's architecture.
        generator, critic: the networks after the final training (on all seen classes),
            at its last epoch: the latest of the selected epochs (``metrics["selected_epoch"]``).
        extras: the framework's other networks (an encoder, a decoder, a frozen classifier, ...).
        framework: the framework around them (losses, ``synthesize``, ``classifier_input``).
        metrics: what ``metrics.json`` holds: test ZSL top-1, GZSL S/U/H, calibrated GZSL,
            the selected epochs and the validation figures they were chosen on (fractions).
        history: one row per epoch of every stage (``select0``.., ``final``).
        dataset, config: what it was trained on and with.
    """

    genotype: Genotype
    generator: nn.Module
    critic: nn.Module | None
    extras: nn.ModuleDict
    framework: Framework
    metrics: dict
    history: list[dict]
    dataset: ZSLDataset
    config: Config

    def synthesize(self, class_ids: Sequence[int] | torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` synthetic features for each class in ``class_ids`` (any of the dataset's
        classes, seen or unseen), in the preprocessed feature space the classifiers see (MinMax
        scaled on the training rows); returns ``(features, labels)`` on the networks' device."""
        classes = torch.as_tensor(class_ids, dtype=torch.long).reshape(-1)
        bad = classes[(classes < 0) | (classes >= self.dataset.num_classes)]
        if bad.numel():
            raise ZeroNASError(f"synthesize: no class {bad[0].item()} (the dataset has {self.dataset.num_classes})")
        if n < 1:
            raise ZeroNASError(f"synthesize: n must be at least 1, not {n}")
        return self.framework.synthesize(self.framework.task.class_vectors, classes, n)


def search(
    dataset: DatasetLike = None,
    config: ConfigLike = None,
    *,
    seed: int = 0,
    run_dir: str | Path | None = None,
    device: str | torch.device | None = None,
    log: Log | None = None,
) -> SearchResult:
    """Search the generator and the critic jointly (Algorithm 1), as ``zeronas search`` does.

    Args:
        dataset: a :class:`ZSLDataset`, a path, or None (the bundled dataset).
        config: a :class:`Config`, a config name or TOML file, or None (chosen by the dataset's name).
        seed: the seed of every random draw.
        run_dir: a new or empty directory to keep the run's files in; None: a temporary one.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or a device; None: CUDA when present.
        log: where the progress lines go (one per epoch); None: nowhere.
    """
    ds = _dataset(dataset)
    cfg = _config(config, ds)
    dev = _device(device)
    sessions, keep = _sessions()
    with _run_directory(run_dir, "search", ds, cfg, seed, dev) as d:
        genotype = _engine_search(ds, cfg, seed, d, dev, log=log or _quiet, on_epoch=keep)
        saved = load_checkpoint(d / CHECKPOINT)
        verdict = json.loads((d / "genotype.json").read_text())["search"]
    session = sessions["search"]
    nets = {"generator": session.G} | ({"critic": session.D} if session.D is not None else {})
    return SearchResult(genotype, nn.ModuleDict(nets), saved["history"], saved["arch_history"], verdict)


def train(
    dataset: DatasetLike = None,
    arch: Genotype | str | Path = "fixed",
    config: ConfigLike = None,
    *,
    seed: int = 0,
    run_dir: str | Path | None = None,
    device: str | torch.device | None = None,
    log: Log | None = None,
) -> TrainResult:
    """Train a generator/critic pair and evaluate it, as ``zeronas train`` does: one training
    per validation fold selects the epochs (and the calibration constant), then a final
    training on all seen classes is scored on the test split once per metric.

    Args:
        dataset: a :class:`ZSLDataset`, a path, or None (the bundled dataset).
        arch: a :class:`Genotype` (e.g. ``SearchResult.genotype``), or what ``--arch``
            takes: ``"fixed"`` (the hand-crafted f-CLSWGAN pair), ``"paper:cub"``
            (``flo``, ``awa``, ``sun``), a pair's one-line text (:meth:`Genotype.parse`), a
            ``genotype.json`` or a search/run directory.
        config, seed, run_dir, device, log: as for :func:`search`.
    """
    ds = _dataset(dataset)
    cfg = _config(config, ds)
    dev = _device(device)
    genotype = arch if isinstance(arch, Genotype) else load_arch(arch, cfg.model.fix_hidden)[0]
    sessions, keep = _sessions()
    with _run_directory(run_dir, "train", ds, cfg, seed, dev) as d:
        genotype.save(d / "genotype.json")
        metrics = train_and_evaluate(ds, genotype, cfg, seed, d, dev, log=log or _quiet, on_epoch=keep)
        history = load_checkpoint(d / CHECKPOINT)["history"]
    fw = sessions["final"].fw
    return TrainResult(genotype, fw.G, fw.D, fw.extras, fw, metrics, history, ds, cfg)


def evaluate(result: TrainResult, *, seed: int = 0, stacking_constant: float | None = None) -> dict:
    """Score a trained pair on its dataset's test split now: ZSL top-1, GZSL S/U/H and
    calibrated GZSL (and the framework's extra GZSL rules), the same figures (and dict layout)
    as ``metrics`` holds, in fractions.

    Each call trains new final classifiers on fresh synthetic features (seeded by ``seed``),
    so the figures vary a little with the seed. ``stacking_constant``: the calibration
    constant (default: the one chosen on the validation folds, ``metrics["calibrated"]``).
    Test data picks nothing here; do not use it to choose among models either.
    """
    constant = result.metrics["calibrated"]["stacking_constant"] if stacking_constant is None else stacking_constant
    every = {"epoch": 0}  # evaluate_test_once scores the metrics selected at this "epoch": all of them
    selection = {"zsl": every, "gzsl": every, "gzsl_calibrated": {**every, "stacking_constant": constant}}
    selection.update({f"gzsl_{key}": every for key in result.framework.gzsl_rules})
    scores: dict = {}
    seed_everything(seed)
    evaluate_test_once(result.framework, result.framework.task, result.config.eval, selection, 0, scores)
    return scores


def _quiet(_: str) -> None:
    """A log that drops every line."""


def _sessions() -> tuple[dict[str, Session], Callable[[str, int, Session], None]]:
    """A dict of the latest session of each stage, and the engine's ``on_epoch`` hook that fills it."""
    sessions: dict[str, Session] = {}

    def keep(stage: str, epoch: int, session: Session) -> None:
        sessions[stage] = session

    return sessions, keep


def _dataset(dataset: DatasetLike) -> ZSLDataset:
    return dataset if isinstance(dataset, ZSLDataset) else load_dataset(dataset)


def _config(config: ConfigLike, ds: ZSLDataset) -> Config:
    if isinstance(config, Config):
        return config
    return _resolve_config(config, ds.name)[0]


def _device(device: str | torch.device | None) -> torch.device:
    return device if isinstance(device, torch.device) else pick_device(device or "auto")


@contextmanager
def _run_directory(
    run_dir: str | Path | None, what: str, ds: ZSLDataset, cfg: Config, seed: int, device: torch.device
) -> Iterator[Path]:
    """The run directory, with its run record: ``run_dir`` (new or empty), or a temporary one
    removed on exit."""
    with ExitStack() as stack:
        if run_dir is None:
            path = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="zeronas-")))
        else:
            path = prepare_run_dir(Path(run_dir), resume=False)
        write_record(
            path,
            f"python api {what}",
            data=ds.source,
            seed=seed,
            split_seed=ds.split_seed,
            config=cfg.to_dict(),
            dataset=ds.summary(),
            device=str(device),
        )
        yield path
