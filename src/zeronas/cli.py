"""The ``zeronas`` command line: data check, train, search, run, draw, plot."""

from __future__ import annotations

import copy
import dataclasses
import functools
import json
import shutil
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import click
import torch
from tqdm import tqdm

from zeronas.cli_data import config_group, download_command, extract_command, search_method_option, synth_command
from zeronas.config import (
    EXTEND,
    ONE_SIDED,
    RESULT,
    SEARCH_SETTINGS,
    Config,
    apply_search_method,
    load_config,
    role,
    search_method_text,
    sections,
)
from zeronas.config_text import describe_source
from zeronas.data import ZSLDataset, load_dataset
from zeronas.errors import WRITE_ERROR_STATUS, DivergenceError, WriteError, ZeroNASError
from zeronas.frameworks import REGISTRY
from zeronas.nas.arch import load_arch
from zeronas.nas.margins import margins_text
from zeronas.nas.paper import PAPER_ARCHS
from zeronas.runs import (
    check_run_dir,
    checkpoint_pool_rows,
    checkpoint_position,
    first_missing,
    interrupt,
    pick_device,
    prepare_run_dir,
    write_json,
    write_record,
)

# The run (or grid) directory of the command in progress: for the interruption message, and to
# remove what a failed command created before it computed anything.
_CURRENT_RUN: dict[str, Any] = {}


class Terminated(KeyboardInterrupt):
    """SIGTERM (what Slurm and ``timeout`` send), handled like Ctrl-C."""

    signum = signal.SIGTERM


def _on_signal(signum: int, frame: object) -> None:
    """Ctrl-C and SIGTERM: stop, but never in the middle of writing a file (a checkpoint)."""
    _CURRENT_RUN["signal"] = signum  # click turns the exception into an Abort: remember why
    interrupt(Terminated() if signum == signal.SIGTERM else KeyboardInterrupt())


def _interrupted(exc: BaseException) -> bool:
    """Whether ``exc`` is, or was raised while handling, an interruption."""
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        if isinstance(e, (KeyboardInterrupt, click.exceptions.Abort)):
            return True
        seen.add(id(e))
        e = e.__cause__ or e.__context__
    return False


def _log(msg: str) -> None:
    """A line on stderr that never glues to a progress bar (tqdm clears and redraws it)."""
    tqdm.write(msg, file=sys.stderr)


#: A command's own options that set a setting: ``{"train.epochs": (value or None, "--epochs")}``.
Options = dict[str, tuple[object, str]]


def _resolve_config(
    config: str | None,
    sets: tuple[str, ...],
    dataset: ZSLDataset,
    options: Options,
    search_method: str | None = None,
) -> tuple[Config, str]:
    cfg, source = load_config(config, dataset.name, search_method)
    cfg.apply_overrides(sets)
    _apply_options(cfg, options)
    return cfg.check(), source


def _apply_options(cfg: Config, options: Options) -> None:
    """Set each option given, named as its source (so that errors name the option, not ``--set``)."""
    for key, (value, option) in options.items():
        if value is not None:
            cfg.set(key, value, option)


def check_against_dataset(cfg: Config, ds: ZSLDataset) -> None:
    """The settings that depend on the data, checked before any work: enough seen classes for the
    validation folds (and for a search split by class)."""
    try:
        ds.fold_classes(cfg.eval.folds)
    except ZeroNASError as exc:
        source = cfg.sources.get("eval.folds", "config")
        raise ZeroNASError(f"eval.folds = {cfg.eval.folds} ({source}): {exc}") from None
    if cfg.search.split == "class" and ds.validation_task().seen_classes.numel() < 2:
        raise ZeroNASError(f"{ds.source}: search.split = 'class' needs at least 2 search classes")


def _read_record(run_dir: Path) -> dict:
    try:
        return json.loads((run_dir / "config.json").read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ZeroNASError(f"{run_dir / 'config.json'}: cannot read the run record ({exc})") from None


common_options = [
    click.option(
        "--data",
        type=click.Path(path_type=Path),
        default=None,
        help="xlsa17 folder or .npz file (default: the bundled Fashion-MNIST dataset).",
    ),
    click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Seed of every random draw."),
    click.option(
        "--config",
        "config",
        default=None,
        help="Config name (cub, flo, sun, awa1, awa2, apy, fmnist) or TOML file; default: by dataset name.",
    ),
    click.option(
        "--framework",
        type=click.Choice(list(REGISTRY)),
        default=None,
        help="Feature-generating framework of search and training (model.framework; default clswgan; "
        "see `zeronas frameworks`).",
    ),
    click.option("--set", "sets", multiple=True, metavar="SECTION.KEY=VALUE", help="Override one setting."),
    click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:N or mps."),
    click.option("--tensorboard", is_flag=True, help="Also log every epoch to RUN_DIR/tensorboard."),
]


def with_common(f):
    for opt in reversed(common_options):
        f = opt(f)
    return f


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="zeronas")
def cli() -> None:
    """ZeroNAS: search GAN architectures for zero-shot learning, then train and evaluate them."""


@cli.group()
def data() -> None:
    """Dataset tools."""


# data download / data extract / config show live in cli_data.py (kept apart from the run commands)
data.add_command(download_command)
data.add_command(extract_command)
data.add_command(synth_command)
cli.add_command(config_group)


@data.command("check")
@click.argument("path", type=click.Path(path_type=Path), required=False)
def data_check(path: Path | None) -> None:
    """Validate a dataset folder or .npz file and print a summary."""
    ds = load_dataset(path)
    s = ds.summary()
    c, n = cast(dict, s["classes"]), cast(dict, s["samples"])
    click.echo(f"{s['source']}: OK")
    click.echo(f"  features: {s['feature_dim']}-d, class vectors: {s['class_vector_dim']}-d")
    click.echo(
        f"  classes: {c['total']} = {c['seen']} seen + {c['unseen']} unseen; "
        f"{c['validation']} of the seen are validation classes ({c['validation_source']})"
    )
    click.echo(f"  samples: trainval {n['trainval']}, test-seen {n['test_seen']}, test-unseen {n['test_unseen']}")
    click.echo(
        f"  validation task: train {n['validation_train']}, seen {n['validation_seen']}, "
        f"unseen {n['validation_unseen']} (all from trainval)"
    )


def _given(name: str) -> bool:
    """Whether option ``name`` was given on the command line (not its default)."""
    ctx = click.get_current_context(silent=True)
    source = ctx.get_parameter_source(name) if ctx is not None else None
    return source is not None and source.name in ("COMMANDLINE", "ENVIRONMENT")


#: Settings that may change when a run resumes (``--resume DIR --set k=v``): they change only
#: what is still to compute (role ``extend``) or nothing computed at all (``log``).
def resumable_settings() -> list[str]:
    return [
        f"{s}.{f}"
        for s in sections()
        for f in (x.name for x in dataclasses.fields(Config().section(s)))
        if role(f"{s}.{f}") != RESULT
    ]


def _parts(command: str, run_dir: Path) -> dict[str, Path]:
    """Where a command's search and training live in its run directory."""
    if command == "run":
        return {"search": run_dir / "search", "train": run_dir / "train"}
    return {command: run_dir}


def check_resume_changes(
    command: str,
    run_dir: Path,
    changes: dict[str, tuple[object, object]],
    cfg: Config,
    positions: dict[str, tuple[str, int] | None],
) -> None:
    """Refuse (one line, naming the key) a change on resume that would alter what was computed,
    or ask for fewer epochs than were run (``cfg``: the configuration with the changes;
    ``positions``: each part's checkpoint stage and epoch, :func:`checkpoint_position`)."""
    from zeronas.engine.search import sized
    from zeronas.engine.session import epoch_iterations_of

    for key, (old, new) in changes.items():
        if role(key) == RESULT:
            allowed = ", ".join(resumable_settings())
            raise ZeroNASError(
                f"{_given_as(cfg, key, new)}: a resumed run keeps the settings it computed with "
                f"({key} = {_show(old)}); on resume only {allowed} may change; start a new run with --out"
            )
    parts = _parts(command, run_dir)
    _check_candidates(command, parts.get("search"), changes, cfg)
    for key in (k for k in changes if role(k) == EXTEND):
        section = key.partition(".")[0]
        if section not in parts:
            continue  # a setting this command does not use (search.* in a training)
        part, at = parts[section], positions[section]
        new = changes[key][1]
        if section == "search":
            if command == "run" and (part / "genotype.json").is_file():
                raise ZeroNASError(
                    f"{_given_as(cfg, key, new)}: the search of this run is finished and its genotype is being "
                    "trained; start a new run with --out"
                )
            if key in ("search.epochs", "search.arch_steps") and at is not None:
                asked, per = cfg.search.epochs, ""
                if cfg.search.arch_steps:
                    rows = checkpoint_pool_rows(part, "tr")
                    if rows is None:
                        continue  # a checkpoint without pools: the engine refuses it once it has drawn them
                    iterations = epoch_iterations_of(rows, cfg.search.batch_size)
                    asked, per = sized(cfg, iterations).search.epochs, f" of {iterations} iterations"
                if asked < at[1]:
                    raise ZeroNASError(
                        f"{_given_as(cfg, key, new)}: the search has already run {at[1]} epochs{per}; "
                        f"this asks for {asked}"
                    )
        elif section == "train" and at is not None:
            stage, epoch = at
            if stage not in ("select", "select0"):
                raise ZeroNASError(
                    f"{_given_as(cfg, key, new)}: this training is past its first validation fold (checkpoint at "
                    f"stage '{stage}', epoch {epoch}); {key} can change only before that, or in a new run"
                )
            if key == "train.epochs" and int(cast(int, new)) < epoch:
                raise ZeroNASError(f"{_given_as(cfg, key, new)}: the training has already run {epoch} epochs")


def _check_candidates(
    command: str, search_dir: Path | None, changes: dict[str, tuple[object, object]], cfg: Config
) -> None:
    """A search with ``select = "val"`` trains its candidate genotypes on the validation folds
    with the training's settings: while it may still choose among them, a change to a setting
    their folds depend on (:func:`~zeronas.engine.train.fold_settings_changes`) is refused."""
    from zeronas.engine.search import candidates_dir
    from zeronas.engine.train import fold_settings_changes

    if search_dir is None or cfg.search.select != "val":
        return
    if command == "run" and (search_dir / "genotype.json").is_file():
        return
    candidates = candidates_dir(search_dir)
    for candidate in sorted(candidates.glob("epoch*")):
        moved = fold_settings_changes(candidate, cfg)
        for key in (k for k in changes if k in moved):
            raise ZeroNASError(
                f"{_given_as(cfg, key, changes[key][1])}: this search's candidates ({candidates}) were trained on "
                f"the validation folds with {key} = {_show(changes[key][0])} (search.select = 'val'); "
                "start a new run with --out"
            )


def _given_as(cfg: Config, key: str, value: object) -> str:
    """How the command line gave ``key``: its own option (``--epochs 2``) or ``--set key=value``."""
    source = cfg.sources.get(key, "--set")
    if source.startswith("--") and source != "--set":
        return f"{source} {_show(value)}"
    return f"--set {key}={_show(value)}"


def _show(value: object) -> str:
    if isinstance(value, (tuple, list)):
        return ",".join(map(str, value))
    return str(value).lower() if isinstance(value, bool) else str(value)


@dataclasses.dataclass
class Prepared:
    """A run command's inputs, resolved and checked before anything is created or computed."""

    command: str
    run_dir: Path
    resumed: bool
    ds: ZSLDataset
    cfg: Config
    seed: int
    device: torch.device
    extra: dict
    record: dict = dataclasses.field(default_factory=dict)
    record_changed: bool = True


def _prepare(command: str, out, resume, data_path, seed, config, sets, device, options: Options, **extra) -> Prepared:
    """Resolve (or, on resume, reload and amend) the dataset, config and device and check them all,
    creating nothing: a bad value ends here, with one line."""
    if (out is None) == (resume is None):
        raise ZeroNASError("give exactly one of --out RUN_DIR (new run) or --resume RUN_DIR")
    framework = extra.pop("framework", None)
    method = extra.pop("search_method", None)
    if framework:
        sets = (f"model.framework={framework}",) + sets
    if extra.pop("tensorboard", False):
        sets = sets + ("train.tensorboard=true", "search.tensorboard=true")
    dev = pick_device(device)
    if resume is None:
        check_run_dir(out, False)
        ds = load_dataset(data_path)
        cfg, source = _resolve_config(config, sets, ds, options, method)
        check_against_dataset(cfg, ds)
        click.echo(describe_source(source, config, ds.name, sets, method))  # stdout: errors stay one line on stderr
        record = dict(
            data=ds.source,
            seed=seed,
            split_seed=ds.split_seed,
            config_source=source,
            config=cfg.to_dict(),
            dataset=ds.summary(),
            device=str(dev),
            **extra,
            **({"search_method": method} if method else {}),
        )
        return Prepared(command, out, False, ds, cfg, seed, dev, extra, record)

    check_run_dir(resume, True)
    rec = _read_record(resume)
    record_path = resume / "config.json"
    for name, value, what in (("data", data_path, "dataset"), ("config", config, "config")):
        if value is not None:
            raise ZeroNASError(f"--{name}: a resumed run keeps its recorded {what}; change settings with --set")
    if _given("seed") and seed != rec["seed"]:
        raise ZeroNASError(f"--seed {seed}: a resumed run keeps its seed ({rec['seed']})")
    for name, value in extra.items():
        if _given(name) and rec.get(name, value) != value:
            raise ZeroNASError(f"--{name} {value}: a resumed run keeps its {name} ({rec.get(name)})")
    extra = {k: rec.get(k, v) for k, v in extra.items()}
    recorded = Config.from_dict(rec["config"], str(record_path), check=False)
    cfg = copy.deepcopy(recorded)
    if method is not None:  # accepted where the run already holds the method's settings
        if rec.get("search_method", method) != method:
            raise ZeroNASError(
                f"--search-method {method}: this run searched with {rec['search_method']}; start a new run with --out"
            )
        changed = apply_search_method(cfg, method).changes(recorded)
        if changed:
            key, (old, _) = next(iter(changed.items()))
            raise ZeroNASError(
                f"--search-method {method}: this run computed with {key} = {_show(old)}, not the method's; "
                "start a new run with --out"
            )
    cfg.apply_overrides(sets)
    _apply_options(cfg, options)
    changes = cfg.changes(recorded)
    at = {part: checkpoint_position(d) for part, d in _parts(command, resume).items()} if changes else {}
    check_resume_changes(command, resume, changes, cfg, at)
    try:
        cfg.check()
    except ZeroNASError as exc:
        hint = "; correct it with --resume DIR --set KEY=VALUE" if str(record_path) in str(exc) else ""
        raise ZeroNASError(f"{exc}{hint}") from None
    ds = load_dataset(rec["data"], rec.get("split_seed", 0))
    check_against_dataset(cfg, ds)
    source = rec.get("config_source", "")
    click.echo(f"config: {record_path} (resumed run; first resolved from {source or '?'})")
    if changes:
        entry = {
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
            "argv": sys.argv[1:],
            "settings": {k: {"from": old, "to": new} for k, (old, new) in changes.items()},
            "checkpoint": {part: {"stage": p[0], "epoch": p[1]} if p else None for part, p in at.items()},
        }
        rec = {**rec, "config": cfg.to_dict(), "changes": [*rec.get("changes", []), entry]}
        click.echo("changed on resume: " + ", ".join(f"{k} {_show(o)} -> {_show(n)}" for k, (o, n) in changes.items()))
    return Prepared(command, resume, True, ds, cfg, rec["seed"], dev, extra, rec, bool(changes))


def _open(p: Prepared) -> None:
    """Create the run directory (or reopen it on resume) and write the run record."""
    created = None if p.resumed else first_missing(p.run_dir)
    prepare_run_dir(p.run_dir, p.resumed)
    _CURRENT_RUN.update(dir=str(p.run_dir), command=p.command, created=str(created) if created else None)
    if not p.resumed:
        write_record(p.run_dir, p.command, **p.record)
    elif p.record_changed:
        write_json(p.run_dir / "config.json", p.record)


def _remove_if_empty() -> None:
    """Remove what a failed command created if nothing but its records is in it."""
    created = _CURRENT_RUN.get("created")
    if not created:
        return
    root = Path(created)
    if not root.is_dir():
        return
    files = [f for f in root.rglob("*") if not f.is_dir()]
    if all(f.name in ("config.json", "grid.json") for f in files):
        shutil.rmtree(root, ignore_errors=True)


@cli.command()
@with_common
@click.option(
    "--arch",
    default="fixed",
    show_default=True,
    help="'fixed' (hand-crafted f-CLSWGAN), 'paper:"
    + "|".join(PAPER_ARCHS)
    + "' (the paper's found pair, Fig. 3), a pair as text ('G 3:64<fc_relu~2> out<fc_relu~3> | D "
    "3:64<fc_lrelu~2> out<linear~3>', as the search's log prints it), a genotype.json, or a search/run directory.",
)
@click.option("--out", type=click.Path(path_type=Path), default=None, help="New run directory.")
@click.option("--resume", type=click.Path(path_type=Path), default=None, help="Continue this run directory.")
@click.option("--epochs", type=int, default=None, help="Upper bound on GAN epochs (train.epochs).")
@click.option(
    "--validate-only",
    is_flag=True,
    help="Only the select stages on the validation folds (for tuning settings): no final stage, no test data.",
)
def train(data, seed, config, framework, sets, device, tensorboard, arch, out, resume, epochs, validate_only) -> None:
    """Train a generator/critic pair with a framework (default f-CLSWGAN) and evaluate it (ZSL and GZSL)."""
    from zeronas.engine.train import validate_genotype
    from zeronas.pipeline import train_genotype

    p = _prepare(
        "train",
        out,
        resume,
        data,
        seed,
        config,
        sets,
        device,
        {"train.epochs": (epochs, "--epochs")},
        arch=arch,
        tensorboard=tensorboard,
        framework=framework,
        validate_only=validate_only,
    )
    genotype, _ = load_arch(p.extra["arch"], p.cfg.model.fix_hidden)  # before the run directory exists
    _open(p)
    if p.extra["validate_only"]:
        genotype.save(p.run_dir / "genotype.json")
        selection = validate_genotype(p.ds, genotype, p.cfg, p.seed, p.run_dir, p.device, p.resumed, _log)
        _print_validation(selection, p.run_dir)
        return
    metrics = train_genotype(p.ds, genotype, p.cfg, p.seed, p.run_dir, p.device, p.resumed, _log)
    _print_metrics(metrics, p.run_dir)


@cli.command()
@with_common
@click.option("--out", type=click.Path(path_type=Path), default=None, help="New run directory.")
@click.option("--resume", type=click.Path(path_type=Path), default=None, help="Continue this run directory.")
@click.option("--epochs", type=int, default=None, help="Search epochs (search.epochs).")
@click.option("--fixed-g", is_flag=True, help="Keep G at the FIX architecture; search D only.")
@click.option("--fixed-d", is_flag=True, help="Keep D at the FIX architecture; search G only.")
@search_method_option
def search(
    data, seed, config, framework, sets, device, tensorboard, out, resume, epochs, fixed_g, fixed_d, search_method
) -> None:
    """Search G and D jointly (Algorithm 1) and write genotype.json and its drawing."""
    from zeronas.pipeline import run_search

    sets = sets + tuple(f"search.fixed_{s}=true" for s, on in (("g", fixed_g), ("d", fixed_d)) if on)
    p = _prepare(
        "search",
        out,
        resume,
        data,
        seed,
        config,
        sets,
        device,
        {"search.epochs": (epochs, "--epochs")},
        tensorboard=tensorboard,
        framework=framework,
        search_method=search_method,
    )
    _open(p)
    genotype = run_search(p.ds, p.cfg, p.seed, p.run_dir, p.device, p.resumed, _log)
    click.echo(f"G: {genotype.generator}\nD: {genotype.critic}\nwrote {p.run_dir / 'genotype.json'}")


@cli.command()
@with_common
@click.option("--out", type=click.Path(path_type=Path), default=None, help="New run directory.")
@click.option("--resume", type=click.Path(path_type=Path), default=None, help="Continue this run directory.")
@click.option("--search-epochs", type=int, default=None, help="Search epochs (search.epochs).")
@click.option("--epochs", type=int, default=None, help="Upper bound on GAN epochs (train.epochs).")
@search_method_option
def run(
    data, seed, config, framework, sets, device, tensorboard, out, resume, search_epochs, epochs, search_method
) -> None:
    """Search, then retrain the found pair from scratch, then evaluate: one command."""
    from zeronas.pipeline import run_nas

    p = _prepare(
        "run",
        out,
        resume,
        data,
        seed,
        config,
        sets,
        device,
        {"train.epochs": (epochs, "--epochs"), "search.epochs": (search_epochs, "--search-epochs")},
        tensorboard=tensorboard,
        framework=framework,
        search_method=search_method,
    )
    _open(p)
    metrics = run_nas(p.ds, p.cfg, p.seed, p.run_dir, p.device, p.resumed, _log)
    _print_metrics(metrics, p.run_dir)


@cli.command()
@click.argument("genotype")
@click.option("-o", "--output", type=click.Path(path_type=Path), default=None, help="PNG or SVG (default: beside it).")
def draw(genotype: str, output: Path | None) -> None:
    """Draw a genotype.json (or the one in a run directory, paper:cub|flo|awa|sun, or a pair as text)."""
    from zeronas.plots import draw_genotype

    geno, src = load_arch(genotype, Config().model.fix_hidden)
    default = "genotype.png" if src == "text" else Path(src.replace(":", "_")).with_suffix(".png")  # paper_cub.png
    out = output or Path(default)
    click.echo(f"wrote {draw_genotype(geno, out)}")


@cli.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--no-tsne", is_flag=True, help="Skip the t-SNE (it needs the dataset and the final checkpoint).")
def plot(run_dir: Path, no_tsne: bool) -> None:
    """Draw the figures of a train, search or combined run into RUN_DIR/plots/."""
    from zeronas.plots import plot_run

    for p in plot_run(run_dir, log=click.echo, tsne=not no_tsne):
        click.echo(f"wrote {p}")


@cli.command()
def frameworks() -> None:
    """List the feature-generating frameworks (--framework NAME) and their config sections."""
    for name, kind in REGISTRY.items():
        section = f" [{kind.config_section[0]}]" if kind.config_section else ""
        click.echo(f"{name:10} {kind.title}: {kind.description}{section}")


@cli.group()
def experiment() -> None:
    """The paper's experiments as resumable grids (re-run the same command to resume)."""


def _numbers(noun: str):
    """A click callback reading a count, list or range of ``noun``s (``--seeds``, ``--random-draws``)."""

    def parse(ctx: click.Context, param: click.Parameter, value: str) -> list[int]:
        from zeronas.experiments import parse_seeds

        return parse_seeds(value, param.opts[0], noun)

    return parse


grid_options = [
    click.option(
        "--data",
        "datasets",
        multiple=True,
        type=click.Path(path_type=Path),
        help="Dataset (repeatable); default: the bundled Fashion-MNIST dataset.",
    ),
    click.option(
        "--seeds",
        default="3",
        show_default=True,
        callback=_numbers("seed"),
        help="Seeds per cell: N for 0..N-1, a list (0,1,2) or a range (0-4).",
    ),
    click.option("--out", type=click.Path(path_type=Path), required=True, help="Grid directory (re-use it to resume)."),
    click.option("--set", "sets", multiple=True, metavar="SECTION.KEY=VALUE", help="Override a setting in every cell."),
    click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:N or mps."),
    # Where the cells run (not recorded in grid.json: it changes no result). The choices are
    # zeronas.experiments.executors.EXECUTORS, named here so that --help loads no experiment code.
    click.option(
        "--executor",
        type=click.Choice(["local", "ray"]),
        default="local",
        show_default=True,
        help="local: this machine (--jobs cells at once); ray: a Ray cluster, one task per cell "
        "(pip install 'zeronas[ray]').",
    ),
    click.option(
        "--jobs",
        type=click.IntRange(min=1),
        default=None,
        help="Cells at once. local: default 1, one after the other in this process; N > 1 runs N processes. "
        "ray: default as many as the cluster's CPUs (GPUs) hold.",
    ),
    click.option(
        "--threads",
        type=click.IntRange(min=1),
        default=None,
        help="torch threads per cell (CPU results can differ with the thread count: give the same value "
        "for tables equal across executors). Default: local N > 1: the CPUs / N; ray: 1 (its declared CPUs); "
        "local 1: torch's default.",
    ),
    click.option(
        "--retries",
        type=click.IntRange(min=0),
        default=1,
        show_default=True,
        help="Further attempts of a failed cell; then the other cells finish and the command fails naming it.",
    ),
    click.option(
        "--ray-address",
        default=None,
        help="Ray cluster to join ('auto': the one `ray start` made on this node; or HOST:PORT); "
        "default: start a local one for the grid.",
    ),
]
#: The options of grid_options that say where cells run, handed to the commands as ``run``.
RUN_OPTIONS = ("executor", "jobs", "threads", "retries", "ray_address")


def with_grid(f):
    @functools.wraps(f)
    def command(**kw):
        kw["run"] = {k: kw.pop(k) for k in RUN_OPTIONS}
        return f(**kw)

    for opt in reversed(grid_options):
        command = opt(command)
    return command


def _grid(kind: str, datasets, seeds, out, sets, device, run: dict, random_draws: list[int] | None = None, **asked):
    """The grid of a command, opened, and the executor of its cells."""
    from zeronas.experiments import Grid, make_executor

    dev = pick_device(device)
    loaded = [load_dataset(p) for p in (datasets or (None,))]
    grid = Grid(out, [str(ds.source) for ds in loaded], seeds, tuple(sets), dev, _log)
    if random_draws is not None:
        grid.random_draws = random_draws
    for ds in loaded:  # every cell's settings, checked before the grid directory exists
        check_against_dataset(grid.config(ds).check(), ds)
    name, address = run["executor"], run["ray_address"]
    executor = make_executor(name, run["jobs"], run["threads"], run["retries"], dev.type == "cuda", address)
    created = first_missing(Path(out))
    grid.open(f"experiment {kind}", **asked)
    _CURRENT_RUN.update(
        dir=str(out), command=f"experiment {kind}", grid=True, created=str(created) if created else None
    )
    return grid, executor


frameworks_option = click.option(
    "--framework",
    "frameworks",
    multiple=True,
    type=click.Choice(list(REGISTRY)),
    help="Framework (repeatable): a FIX and a NAS row each; default clswgan.",
)


@experiment.command()
@with_grid
@frameworks_option
@click.option(
    "--methods",
    default="eszsl,linear,fix,nas",
    show_default=True,
    help="Comma-separated, among: oracle (semi-synthetic data only), eszsl, linear, fix, paper, planted (the "
    "planted generator's architecture retrained with FIX's critic; planted-architecture data only), random, nas, "
    + ", ".join(name if name in ONE_SIDED else f"{name} ({search_method_text(name)})" for name in SEARCH_SETTINGS)
    + ".",
)
@click.option(
    "--random-draws",
    default="8",
    show_default=True,
    callback=_numbers("draw"),
    help="Random genotypes of 'random', read as --seeds: N for draws 0..N-1, a list or a range "
    "(8-11 runs four more draws for a grid of 8; then 12 tabulates all twelve, reusing finished cells).",
)
def compare(datasets, seeds, out, sets, device, run, frameworks, methods, random_draws) -> None:
    """Floors, FIX, NAS and random search per framework, over seeds: Tables 1-2 as compare.md / .tex / .csv."""
    from zeronas.experiments import METHODS, method_table

    chosen = [m.strip() for m in methods.split(",") if m.strip()]
    unknown = [m for m in chosen if m not in METHODS]
    if unknown:
        raise ZeroNASError(f"--methods: unknown {', '.join(unknown)} (known: {', '.join(METHODS)})")
    grid, executor = _grid(
        "compare", datasets, seeds, out, sets, device, run, random_draws, methods=chosen, frameworks=list(frameworks)
    )
    click.echo(method_table(grid, chosen, "compare", frameworks or ("clswgan",), executor))


@experiment.command()
@with_grid
@frameworks_option
def ablation(datasets, seeds, out, sets, device, run, frameworks) -> None:
    """Searched G only, searched D only, both (Table 3) against FIX: ablation.md / .tex / .csv."""
    from zeronas.experiments import method_table

    methods = ["fix", *ONE_SIDED, "nas"]
    grid, executor = _grid("ablation", datasets, seeds, out, sets, device, run, frameworks=list(frameworks))
    click.echo(method_table(grid, methods, "ablation", frameworks or ("clswgan",), executor))


@experiment.command()
@with_grid
@click.option("--framework", type=click.Choice(list(REGISTRY)), default="clswgan", show_default=True)
def transfer(datasets, seeds, out, sets, device, run, framework) -> None:
    """Architecture searched on A, trained and tested on B, for every pair (Fig. 5).

    With --jobs or --executor ray, the searches run first (in parallel), then the trainings,
    which need them."""
    from zeronas.experiments import transfer_matrix

    grid, executor = _grid("transfer", datasets, seeds, out, sets, device, run, framework=framework)
    click.echo(transfer_matrix(grid, framework, executor))


@experiment.command()
@click.argument("grid_dir", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Folder (default: GRID_DIR/figures).")
def figures(grid_dir: Path, out: Path | None) -> None:
    """Paper figures 3-6 from a grid (genotype, t-SNE FIX vs NAS, transfer matrix, accuracy curves)."""
    from zeronas.experiments import figures as make_figures

    for p in make_figures(grid_dir, out or grid_dir / "figures", _log):
        click.echo(f"wrote {p}")


def _print_metrics(m: dict, run_dir: Path) -> None:
    cal = m["calibrated"]
    zsl = m["validation"]["zsl"]
    spread = f" ± {100 * zsl['val_zsl_top1_std']:.1f}" if "val_zsl_top1_std" in zsl else ""
    lines = [
        f"ZSL top-1 {100 * m['zsl_top1']:.1f}% | GZSL S {100 * m['gzsl_seen']:.1f}% U {100 * m['gzsl_unseen']:.1f}% "
        f"H {100 * m['gzsl_h']:.1f}% | calibrated (constant {cal['stacking_constant']:.3f}) "
        f"S {100 * cal['gzsl_seen']:.1f}% U {100 * cal['gzsl_unseen']:.1f}% H {100 * cal['gzsl_h']:.1f}%",
        *(
            f"{r['label']} [{key}]: S {100 * r['gzsl_seen']:.1f}% U {100 * r['gzsl_unseen']:.1f}% "
            f"H {100 * r['gzsl_h']:.1f}%"
            for key, r in m.get("rules", {}).items()
        ),
        f"epochs selected on the validation folds: {m['selected_epoch']} "
        f"(validation ZSL {100 * zsl['val_zsl_top1']:.1f}%{spread} over {m.get('validation_folds', 1)} fold(s))",
    ]
    search = m.get("search")
    if search:
        verdict = "decisive" if search.get("decisive") else "NOT decisive: " + "; ".join(search.get("warnings", []))
        lines.append(
            f"search: {verdict}; {margins_text(search)}"
            f"; genotype of epoch {search['epoch']} of {search['epochs']} (search.select = {search['select']!r})"
            + (f"; {search['arch_steps']} architecture steps" if "arch_steps" in search else "")
        )
        if search.get("recovery"):
            from zeronas.synthetic import recovery_line

            lines.append(recovery_line(search["recovery"]))
    lines += [f"warning: {line}" for line in m.get("warnings", [])]
    lines.append(f"wrote {run_dir / 'metrics.json'}")
    click.echo("\n".join(lines))


def _print_validation(selection: dict, run_dir: Path) -> None:
    zsl, gzsl, cal = selection["zsl"], selection["gzsl"], selection["gzsl_calibrated"]
    spread = f" ± {100 * zsl['val_zsl_top1_std']:.1f}" if "val_zsl_top1_std" in zsl else ""
    click.echo(
        f"validation folds (mean): ZSL top-1 {100 * zsl['val_zsl_top1']:.1f}%{spread} at epoch {zsl['epoch']} | "
        f"GZSL H {100 * gzsl['val_h']:.1f}% at epoch {gzsl['epoch']} | "
        f"calibrated H {100 * cal['val_h']:.1f}% at epoch {cal['epoch']}"
        + "".join(
            f" | {k} H {100 * v['val_h']:.1f}% at epoch {v['epoch']}"
            for k, v in selection.items()
            if k not in ("zsl", "gzsl", "gzsl_calibrated")
        )
        + "\n"
        f"no test data was read; wrote {run_dir / 'validation.json'}"
    )


def _continue_hint() -> str:
    run, cmd = _CURRENT_RUN.get("dir"), _CURRENT_RUN.get("command")
    if not run:
        return ""
    if _CURRENT_RUN.get("grid"):
        return f"re-run the same command to continue (finished cells of {run} are kept)"
    return f"continue with: zeronas {cmd} --resume {run}"


def _usage_line(exc: click.UsageError) -> str:
    where = f" (see {exc.ctx.command_path} --help)" if exc.ctx is not None else ""
    return f"zeronas: error: {exc.format_message()}{where}"


def main() -> None:
    """The ``zeronas`` entry point: one line and a status for every error a user can cause
    (2: bad input, 3: diverged, 74: a write failed), 130/143 after Ctrl-C/SIGTERM with the command
    that continues the run."""
    _CURRENT_RUN.clear()  # an earlier call in this process (tests) left its run and signal
    previous = {signal.SIGTERM: signal.signal(signal.SIGTERM, _on_signal)}
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:  # not when Ctrl-C is ignored (nohup)
        previous[signal.SIGINT] = signal.signal(signal.SIGINT, _on_signal)
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.UsageError as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # bare `zeronas`: the help, as usual
            exc.show()
        else:
            click.echo(_usage_line(exc), err=True)
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except DivergenceError as exc:
        click.echo(f"zeronas: diverged: {exc}", err=True)
        sys.exit(3)
    except WriteError as exc:
        hint = _continue_hint()
        click.echo(f"zeronas: error: {exc}" + (f"; free space, then {hint}" if hint else ""), err=True)
        sys.exit(WRITE_ERROR_STATUS)
    except ZeroNASError as exc:
        _remove_if_empty()
        click.echo(f"zeronas: error: {exc}", err=True)
        sys.exit(2)
    except SystemExit:
        raise
    except BaseException as exc:
        if not _interrupted(exc):
            _remove_if_empty()
            raise
        hint = _continue_hint()
        terminated = isinstance(exc, Terminated) or _CURRENT_RUN.get("signal") == signal.SIGTERM
        what = "terminated (SIGTERM)" if terminated else "interrupted"
        run = _CURRENT_RUN.get("dir")
        saved = "the last checkpoint is kept" if run and any(Path(run).rglob("checkpoint.pt")) else "no epoch had ended"
        kept = f"; {saved}, {hint}" if hint else ""
        click.echo(f"zeronas: {what}{kept}", err=True)  # click has ended the line of a progress bar
        sys.exit(128 + Terminated.signum if terminated else 130)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


if __name__ == "__main__":
    main()
