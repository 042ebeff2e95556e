"""The paper's experiments as resumable grids of cells, keyed by content.

A grid directory holds ``grid.json`` (every request made of it), one run directory per cell
under ``cells/<dataset>/<framework>/<method>/seed<N>`` (readable paths), and the tables
(``zeronas.experiments.tables``) as Markdown, LaTeX and CSV.

Each cell stores its **key** in ``key.json``: a sha256 of what its result depends on (the
method, the seed, the dataset's content fingerprint (:mod:`zeronas.data.fingerprint`), the
resolved settings the method reads (:func:`result_config`: ESZSL only ``eval.folds``, the
trainings every section but ``search``, the searches all; never the ``log`` settings such as
``checkpoint_every``), and the genotype a training trains). A cell whose key matches is reused
(finished) or resumed (unfinished); one whose key differs (a setting, a config file or the data
changed) is moved aside to ``stale/<old key>/<path>``, never deleted, and computed again; a
stale cell whose key matches again (the setting changed back) is restored. So a grid grows
(more seeds, methods, frameworks, datasets) and re-runs exactly the cells an edit affects.

Cells made before keys existed (no ``key.json``) are adopted when the key recomputed from their
run record (``config.json``: resolved config, data path, seed) and their ``genotype.json``
matches the new one.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import torch

from zeronas.config import SEARCH_SETTINGS, Config, apply_search_method, differences, load_config, result_settings
from zeronas.data import ZSLDataset, load_dataset
from zeronas.data.fingerprint import dataset_files, fingerprint
from zeronas.engine.train import training_sections
from zeronas.errors import ZeroNASError
from zeronas.experiments.executors import Executor, LocalExecutor, Task, run_tasks
from zeronas.nas.genotype import Genotype, GenotypeError, fixed_genotype
from zeronas.nas.space import random_pair
from zeronas.pipeline import run_fix, run_nas, run_search, train_genotype
from zeronas.runs import Log, write_json, write_record
from zeronas.synthetic import planted_genotype

#: Version of the key's recipe: a new recipe makes every cell stale (moved aside, not lost).
KEY_VERSION = 1
#: Methods that train a given genotype (their key holds it) and those that search.
TRAINS = ("fix", "paper", "planted", "random", "transfer")
SEARCHES = ("nas", *SEARCH_SETTINGS)

METHODS = {
    "oracle": "Planted generator (oracle ceiling)",
    "eszsl": "ESZSL (no generator)",
    "linear": "Linear generator (ridge to class means + seen residuals)",
    "fix": "{title} FIX",
    "paper": "{title} + the paper's {paper} genotype",
    "planted": "{title} + the planted generator's architecture (retrained), FIX's critic",
    "random": "{title} + random genotypes",
    "nas_g_only": "{title} + ZeroNAS, searched G only (fixed D)",
    "nas_d_only": "{title} + ZeroNAS, searched D only (fixed G)",
    "nas": "{title} + ZeroNAS",
    "nas_class_split": "{title} + ZeroNAS, architecture steps on held-out classes",
    "nas_heldout": "{title} + ZeroNAS, architecture steps on held-out classes, cosine architecture lr",
    "nas_kaiming": "{title} + ZeroNAS, He-initialised supernets",
    "nas_unit_scale": "{title} + ZeroNAS, candidates mixed at unit scale",
    "nas_gdas_plain": "{title} + ZeroNAS, one sampled operation per edge (GDAS), FC + activation candidates",
    "nas_settled": "{title} + ZeroNAS, as nas_gdas_plain with the critic's output from hidden nodes and "
    "discretisation terms on operations and in-edges",
}
#: Methods without a generator architecture: one row whatever the frameworks.
NO_FRAMEWORK = ("oracle", "eszsl", "linear")


def parse_seeds(text: str, option: str = "--seeds", noun: str = "seed") -> list[int]:
    """``--seeds``: a plain ``N`` means seeds 0..N-1; otherwise a comma-separated list of
    seeds and inclusive ranges, e.g. ``0,1,2``, ``0-4``, ``3,5-7`` (``5-5`` is seed 5 alone).
    ``--random-draws`` reads the same way (``option`` and ``noun`` name it in errors).

    Raises :class:`ZeroNASError` (one line) on anything else, on an empty range, a negative
    number or one given twice.
    """
    value = text.strip()
    if value.isdecimal():
        if int(value) < 1:
            raise ZeroNASError(f"{option} {text!r}: a count of {noun}s must be at least 1")
        return list(range(int(value)))
    numbers: list[int] = []
    for item in value.split(","):
        first, dash, last = item.strip().partition("-")
        if not first.isdecimal() or (dash and not last.isdecimal()):
            raise ZeroNASError(f"{option} {text!r}: expected N ({noun}s 0..N-1), a list like 0,1,2 or a range like 0-4")
        lo, hi = int(first), int(last) if dash else int(first)
        if hi < lo:
            raise ZeroNASError(f"{option} {text!r}: the range {item.strip()} is empty")
        numbers += range(lo, hi + 1)
    repeated = sorted({s for s in numbers if numbers.count(s) > 1})
    if repeated:
        raise ZeroNASError(f"{option} {text!r}: {noun} {repeated[0]} is given twice")
    return numbers


def seeds_label(seeds: list[int]) -> str:
    """``0-4`` for consecutive seeds, ``0, 2, 5`` otherwise (table notes, figure titles)."""
    if len(seeds) > 1 and seeds == list(range(seeds[0], seeds[-1] + 1)):
        return f"{seeds[0]}-{seeds[-1]}"
    return ", ".join(map(str, seeds))


def paper_arch_for(ds: ZSLDataset) -> str:
    """The paper's genotype to retrain on ``ds``: the one found on the benchmark its name (or
    its semi-synthetic base) starts with, CUB's otherwise."""
    from zeronas.nas.paper import PAPER_ARCHS

    name = ds.name.lower()
    return next((a for a in PAPER_ARCHS if name.startswith(a)), "cub")


def grid_dataset(source: str, split_seed: int = 0) -> ZSLDataset:
    """The dataset at ``source``, loaded once per process while its files are unchanged: the
    tables and the cells they compute here, or the cells one worker process computes in turn,
    share one copy."""
    stamp = tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in dataset_files(source))
    return _load_dataset(source, split_seed, stamp)


@functools.lru_cache(maxsize=8)
def _load_dataset(source: str, split_seed: int, stamp: tuple) -> ZSLDataset:
    return load_dataset(source, split_seed)


def result_config(cfg: Config, method: str) -> dict:
    """The resolved settings a cell of ``method`` reads, without the ``log`` ones: what its key
    holds (a setting added later is left out at its default: :func:`zeronas.config.keyed`).
    ESZSL reads ``eval.folds``; the linear generator and the oracle ``[eval]``; a training
    ``[model]``, ``[train]``, ``[eval]`` and its framework's sections; a search ``[search]`` too."""
    if method == "eszsl":
        return {"eval": {"folds": cfg.eval.folds}}
    if method in ("linear", "oracle"):
        return result_settings(cfg, ["eval"])
    return result_settings(cfg, [*training_sections(cfg), *(["search"] if method in SEARCHES else [])])


@dataclass
class CellSpec:
    """One cell: where it lives, and everything its result depends on."""

    rel: str
    method: str
    ds: ZSLDataset
    cfg: Config
    seed: int
    genotype: Genotype | None = None  # what a training (TRAINS) trains


def _digest(inputs: dict) -> str:
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()


@dataclass
class Grid:
    """Shared settings of every cell of a grid."""

    out: Path
    datasets: list[str]
    seeds: list[int]
    sets: tuple[str, ...] = ()
    device: torch.device = torch.device("cpu")
    log: Log = print
    random_draws: list[int] = field(default_factory=lambda: list(range(8)))  # genotypes of ``random``
    _hashes: dict[str, dict] = field(default_factory=dict, repr=False)

    def open(self, command: str = "", **asked: object) -> None:
        """Create the grid directory, or reopen an existing one (its cells are reused where their
        keys match: a grid grows, and compare and ablation share FIX and NAS), and record the
        request in ``grid.json``."""
        request = {
            "command": command,
            "datasets": self.datasets,
            "seeds": self.seeds,
            "sets": list(self.sets),
            "random_draws": list(self.random_draws),
            **asked,
        }
        path = self.out / "grid.json"
        if path.is_file():
            try:
                old = json.loads(path.read_text())
            except (OSError, json.JSONDecodeError) as exc:
                raise ZeroNASError(f"{path}: cannot read the grid record ({exc})") from None
            if old.get("format") != "zeronas-grid":  # a grid of zeronas <= 0.2: its one request
                old = {"format": "zeronas-grid", "version": 2, "asked": [{"command": "?", **old}]}
            self.log(f"resuming grid {self.out}: cells whose key matches are kept")
        else:
            old = {"format": "zeronas-grid", "version": 2, "asked": []}
            self.out.mkdir(parents=True, exist_ok=True)
        last = old["asked"][-1] if old["asked"] else None
        if last is None or {k: v for k, v in last.items() if k != "at"} != request:
            old["asked"].append({"at": datetime.now(UTC).isoformat(timespec="seconds"), **request})
        write_json(path, old)
        cache = self.out / "fingerprints.json"
        if cache.is_file():
            with contextlib.suppress(OSError, json.JSONDecodeError):
                self._hashes.update(json.loads(cache.read_text()))

    def config(self, ds: ZSLDataset, framework: str = "clswgan") -> Config:
        cfg, _ = load_config(None, ds.name)
        cfg.apply_overrides(self.sets)
        cfg.model.framework = framework
        return cfg

    def fingerprint(self, source: str, split_seed: int) -> str:
        """The dataset's content fingerprint (file hashes cached in ``fingerprints.json``)."""
        known = dict(self._hashes)
        fp = fingerprint(source, split_seed, self._hashes)
        if self._hashes != known and self.out.is_dir():
            write_json(self.out / "fingerprints.json", self._hashes)
        return fp

    def key_inputs(self, spec: CellSpec) -> dict:
        """What a cell's result depends on (hashed into its key)."""
        return {
            "version": KEY_VERSION,
            "method": spec.method,
            "seed": spec.seed,
            "data": self.fingerprint(spec.ds.source, spec.ds.split_seed),
            "config": result_config(spec.cfg, spec.method),
            "genotype": spec.genotype.to_dict() if spec.genotype is not None else None,
        }

    def record(self, d: Path, what: str, ds: ZSLDataset, cfg: Config, seed: int) -> None:
        """The run record (config.json) of a run of this grid in ``d``."""
        write_record(
            d,
            what,
            data=ds.source,
            seed=seed,
            split_seed=ds.split_seed,
            config=cfg.to_dict(),
            dataset=ds.summary(),
            device=str(self.device),
        )

    def _stored(self, d: Path, spec: CellSpec) -> tuple[str, dict] | None:
        """The key a cell directory was made with: its ``key.json``, or (a cell made before keys)
        the key recomputed from its run record; None if it has neither."""
        try:
            stored = json.loads((d / "key.json").read_text())
            return stored["key"], stored["inputs"]
        except (OSError, json.JSONDecodeError, KeyError, TypeError):
            pass
        try:
            rec = json.loads((d / "config.json").read_text())
            cfg = Config.from_dict(rec["config"], check=False)
            genotype = None
            if spec.method in TRAINS:
                genotype = Genotype.load(d / "genotype.json")
            legacy = CellSpec(spec.rel, spec.method, spec.ds, cfg, int(rec["seed"]), genotype)
            inputs = self.key_inputs(legacy)
            inputs["data"] = self.fingerprint(rec["data"], int(rec.get("split_seed", 0)))
        except (OSError, json.JSONDecodeError, KeyError, TypeError, ValueError, ZeroNASError, GenotypeError):
            return None
        return _digest(inputs), inputs

    def settle(self, spec: CellSpec) -> Path:
        """Bring ``cells/<rel>`` in line with the cell's key: keep it if the key matches (adopting
        a cell made before keys), move it aside to ``stale/`` if not, restore a stale copy whose key
        matches. Returns the cell's directory (which may not exist yet)."""
        inputs = self.key_inputs(spec)
        key = _digest(inputs)
        d = self.out / "cells" / spec.rel
        if d.is_dir():
            stored = self._stored(d, spec)
            if stored is not None and stored[0] == key:
                if not (d / "key.json").is_file():
                    write_json(d / "key.json", {"key": key, "inputs": inputs})
                return d
            old_key = stored[0] if stored else "unkeyed"
            why = ", ".join(differences(stored[1], inputs, whole=("genotype",))) if stored else "no key or run record"
            dest = self.out / "stale" / old_key[:16] / spec.rel
            n = 1
            while dest.exists():
                n += 1
                dest = self.out / "stale" / f"{old_key[:16]}-{n}" / spec.rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(d), str(dest))
            self.log(f"[stale] {spec.rel}: {why} changed; moved to {dest.relative_to(self.out)}")
        kept = self.out / "stale" / key[:16] / spec.rel
        if kept.is_dir():
            d.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(kept), str(d))
            self.log(f"[restored] {spec.rel} from {kept.relative_to(self.out)}")
        return d

    def prepare(self, spec: CellSpec) -> Path:
        """The cell's directory, settled and created with its key (and run record, if new)."""
        return self._create(self.settle(spec), spec)

    def _create(self, d: Path, spec: CellSpec) -> Path:
        """Create the settled cell directory ``d`` with its key and run record, where missing."""
        if not (d / "key.json").is_file():
            d.mkdir(parents=True, exist_ok=True)
            inputs = self.key_inputs(spec)
            write_json(d / "key.json", {"key": _digest(inputs), "inputs": inputs})
        if not (d / "config.json").is_file():
            self.record(d, f"experiment cell {spec.rel}", spec.ds, spec.cfg, spec.seed)
        return d

    def finished(self, spec: CellSpec) -> dict | None:
        """The metrics of the cell if it is finished (its key matches and it has metrics.json),
        else None; logs nothing."""
        done = self.settle(spec) / "metrics.json"
        return json.loads(done.read_text()) if done.is_file() else None

    def portable(self) -> dict:
        """The grid as plain values for a worker (:meth:`rebuild`): absolute paths, since a
        worker may start in another directory, and the fingerprint cache, so that it neither
        hashes the data again nor writes ``fingerprints.json`` beside other workers."""
        return {
            "out": str(self.out.resolve()),
            "datasets": [str(Path(d).resolve()) for d in self.datasets],
            "seeds": list(self.seeds),
            "sets": list(self.sets),
            "device": str(self.device),
            "random_draws": list(self.random_draws),
            "hashes": dict(self._hashes),
        }

    @classmethod
    def rebuild(cls, d: dict, log: Log) -> Grid:
        """The grid of :meth:`portable` in a worker (which does not :meth:`open` it: the grid
        directory and its record exist)."""
        device = torch.device(d["device"])
        if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
            device = torch.device("cuda")  # a Ray task sees only the GPU it was given, as cuda:0
        grid = cls(Path(d["out"]), d["datasets"], d["seeds"], tuple(d["sets"]), device, log, list(d["random_draws"]))
        grid._hashes.update(d["hashes"])
        return grid

    def cell(self, spec: CellSpec, fn: Callable[[Path], dict]) -> dict:
        """Run one cell unless it is finished (its key matches and it has metrics.json); resume
        it if it was interrupted."""
        d = self.settle(spec)
        done = d / "metrics.json"
        if done.is_file():
            self.log(f"[done] {spec.rel}")
            return json.loads(done.read_text())
        self.log(f"[run] {spec.rel}")
        self._create(d, spec)
        metrics = fn(d)
        if not done.is_file():
            write_json(done, metrics)
        for line in metrics.get("warnings", []):
            self.log(f"[{spec.rel}] warning: {line}")
        return metrics


def planted_pair(ds: ZSLDataset, cfg: Config) -> Genotype:
    """The planted generator's architecture of the planted-architecture benchmark ``ds``, with
    FIX's critic: retrained like every pair, it is the fit a search's generator is held to."""
    generator = planted_genotype(ds.source)
    if generator is None:
        raise ZeroNASError(f"{ds.source}: not a planted-architecture benchmark (zeronas data synth --variant genotype)")
    return Genotype(generator, fixed_genotype(cfg.model.fix_hidden).critic)


def method_spec(grid: Grid, ds: ZSLDataset, framework: str, method: str, seed: int) -> CellSpec:
    """The cell of ``method`` on ``ds`` with ``framework`` and ``seed``:
    ``cells/<dataset>/<framework>/<method>/seed<N>``; the methods without a generator
    architecture (:data:`NO_FRAMEWORK`) at ``cells/<dataset>/<method>/seed<N>``, and random
    genotype ``N`` at ``cells/<dataset>/<framework>/random/draw<N>`` (trained with seed N)."""
    from zeronas.nas.paper import paper_genotype

    cfg = grid.config(ds, framework)
    if method in SEARCH_SETTINGS:
        apply_search_method(cfg, method, f"method {method}")
    genotype = None
    if method == "fix":
        genotype = fixed_genotype(cfg.model.fix_hidden)
    elif method == "paper":
        genotype = paper_genotype(paper_arch_for(ds))
    elif method == "planted":
        genotype = planted_pair(ds, cfg)
    elif method == "random":
        genotype = random_pair(cfg, seed)
    if method in NO_FRAMEWORK:
        rel = f"{ds.name}/{method}/seed{seed}"
    elif method == "random":
        rel = f"{ds.name}/{framework}/random/draw{seed}"
    else:
        rel = f"{ds.name}/{framework}/{method}/seed{seed}"
    return CellSpec(rel, method, ds, cfg, seed, genotype)


def _compute(grid: Grid, spec: CellSpec) -> Callable[[Path], dict]:
    """What computes the cell ``spec`` in its directory (see :func:`method_spec`)."""
    from zeronas.baselines.eszsl import eszsl_evaluate
    from zeronas.baselines.generators import linear_generator_evaluate, oracle_evaluate

    ds, cfg, seed, method = spec.ds, spec.cfg, spec.seed, spec.method

    def fn(d: Path) -> dict:
        if method == "eszsl":
            return eszsl_evaluate(ds, folds=cfg.eval.folds)
        if method == "linear":
            return linear_generator_evaluate(ds, cfg, seed)
        if method == "oracle":
            return oracle_evaluate(ds, cfg, seed)
        if method == "fix":
            return run_fix(ds, cfg, seed, d, grid.device, True, grid.log)
        if method in TRAINS:  # paper, planted, random (its genotype.json is in the cell), transfer
            assert spec.genotype is not None
            return train_genotype(ds, spec.genotype, cfg, seed, d, grid.device, True, grid.log)
        return run_nas(ds, cfg, seed, d, grid.device, True, grid.log)

    return fn


def transfer_spec(grid: Grid, source: str, ds: ZSLDataset, framework: str, seed: int, genotype: Genotype) -> CellSpec:
    """The cell that trains on ``ds`` the pair found by the search on the dataset named ``source``."""
    rel = f"transfer/{framework}/{source}__on__{ds.name}/seed{seed}"
    return CellSpec(rel, "transfer", ds, grid.config(ds, framework), seed, genotype)


def search_dir(grid: Grid, spec: CellSpec) -> Path:
    """The search of the NAS cell ``spec`` (created with its key, if new): what transfer trains."""
    return grid.prepare(spec) / "search"


def nas_search(grid: Grid, spec: CellSpec) -> Genotype:
    """The search of the NAS cell ``spec``, run unless it has ended; its genotype."""
    d = search_dir(grid, spec)
    g_path = d / "genotype.json"
    if not g_path.is_file():
        d.mkdir(parents=True, exist_ok=True)
        grid.record(d, "experiment transfer search", spec.ds, spec.cfg, spec.seed)
        run_search(spec.ds, spec.cfg, spec.seed, d, grid.device, True, grid.log)
    return Genotype.load(g_path)


@dataclass(frozen=True)
class CellJob:
    """A cell as plain values (picklable, small): from these and :meth:`Grid.portable` a worker
    rebuilds the grid, the dataset and the cell, rather than receiving a dataset.

    ``method`` is a :data:`METHODS` key, ``transfer`` (training ``genotype`` found on the dataset
    named ``source``), or ``search`` (the search of the NAS cell: what ``transfer`` trains).
    """

    data: str
    split_seed: int
    framework: str
    method: str
    seed: int
    source: str = ""
    genotype: dict | None = None

    @classmethod
    def of(cls, ds: ZSLDataset, framework: str, method: str, seed: int) -> CellJob:
        return cls(str(Path(ds.source).resolve()), ds.split_seed, framework, method, seed)

    def spec(self, grid: Grid) -> CellSpec:
        ds = grid_dataset(self.data, self.split_seed)
        if self.method == "transfer":
            assert self.genotype is not None
            return transfer_spec(grid, self.source, ds, self.framework, self.seed, Genotype.from_dict(self.genotype))
        return method_spec(grid, ds, self.framework, "nas" if self.method == "search" else self.method, self.seed)


def run_job(grid: dict, job: CellJob, log: Log) -> None:
    """Compute ``job`` of the grid ``grid`` (:meth:`Grid.portable`), here or in a worker; a
    finished cell is read, not computed."""
    g = Grid.rebuild(grid, log)
    spec = job.spec(g)
    if job.method == "search":
        nas_search(g, spec)
    else:
        g.cell(spec, _compute(g, spec))


def compute_cells(grid: Grid, jobs: list[CellJob], executor: Executor | None = None) -> None:
    """Compute the unfinished cells of ``jobs`` on ``executor`` (default: one after the other
    here). The cells are settled and their data fingerprinted here first, so workers write
    neither ``fingerprints.json`` nor ``stale/``; a cell that fails is retried, then reported
    (:func:`~zeronas.experiments.executors.run_tasks`) once all others have finished."""
    todo: list[tuple[str, CellJob]] = []
    for job in jobs:
        spec = job.spec(grid)
        if job.method == "search":
            label = f"{spec.rel}/search"
            finished = (search_dir(grid, spec) / "genotype.json").is_file()
        else:
            label, finished = spec.rel, grid.finished(spec) is not None
        if finished:
            grid.log(f"[done] {label}")
        else:
            todo.append((label, job))
    portable = grid.portable()  # after every settle(): it carries the fingerprints just computed
    tasks = [Task(label, functools.partial(run_job, portable, job)) for label, job in todo]
    run_tasks(executor or LocalExecutor(), tasks, grid.log)
