"""The ``zeronas`` command line: data check, train, search, run, draw, plot."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import cast

import click

from zeronas.cli_data import config_group, download_command, extract_command, synth_command
from zeronas.config import Config, load_config
from zeronas.config_text import describe_source
from zeronas.data import ZSLDataset, load_dataset
from zeronas.errors import DivergenceError, ZeroNASError
from zeronas.frameworks import REGISTRY
from zeronas.nas.genotype import Genotype, fixed_genotype
from zeronas.nas.paper import PAPER_ARCHS, paper_genotype
from zeronas.nas.paper import PREFIX as PAPER_PREFIX
from zeronas.runs import pick_device, prepare_run_dir, write_record

# The run directory of the command in progress, for the Ctrl-C message.
_CURRENT_RUN: dict[str, str] = {}


def _log(msg: str) -> None:
    click.echo(msg, err=True)


def _resolve_config(
    config: str | None, sets: tuple[str, ...], dataset: ZSLDataset, epochs: int | None, section: str
) -> tuple[Config, str]:
    cfg, source = load_config(config, dataset.name)
    cfg.apply_overrides(sets)
    if epochs is not None:
        cfg.set(f"{section}.epochs", epochs, "--epochs")
    return cfg, source


def _load_arch(arch: str, cfg: Config) -> tuple[Genotype, str]:
    if arch == "fixed":
        return fixed_genotype(cfg.model.fix_hidden), "fixed"
    if arch.startswith(PAPER_PREFIX):  # the paper's found pairs, bundled (zeronas.nas.paper)
        return paper_genotype(arch[len(PAPER_PREFIX) :]), arch
    p = Path(arch)
    if p.is_dir():
        for cand in (p / "genotype.json", p / "search" / "genotype.json"):
            if cand.is_file():
                return Genotype.load(cand), str(cand)
        raise ZeroNASError(f"{p}: no genotype.json in this run directory")
    return Genotype.load(p), str(p)


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
    click.option("--seed", type=int, default=0, show_default=True, help="Seed of every random draw."),
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
    click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N."),
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


def _start(command: str, out: Path | None, resume: Path | None) -> tuple[Path, bool]:
    if (out is None) == (resume is None):
        raise ZeroNASError("give exactly one of --out RUN_DIR (new run) or --resume RUN_DIR")
    target = resume if resume is not None else out
    assert target is not None
    run_dir = prepare_run_dir(target, resume is not None)
    _CURRENT_RUN.update(dir=str(run_dir), command=command)
    return run_dir, resume is not None


def _setup(run_dir: Path, resumed: bool, command: str, data_path, seed, config, sets, device, epochs, section, **extra):
    """Resolve (or, on resume, reload) the dataset, config and device; write the run record."""
    framework = extra.pop("framework", None)
    if framework:
        sets = (f"model.framework={framework}",) + sets
    if extra.pop("tensorboard", False):
        sets = sets + ("train.tensorboard=true", "search.tensorboard=true")
    if resumed:
        rec = _read_record(run_dir)
        data_path = rec["data"]
        seed = rec["seed"]
        cfg = Config.from_dict(rec["config"], str(run_dir / "config.json"))
        extra = {k: rec.get(k, v) for k, v in extra.items()}
        ds = load_dataset(data_path, rec.get("split_seed", 0))
        source = rec.get("config_source", "")
        click.echo(f"config: {run_dir / 'config.json'} (resumed run; first resolved from {source or '?'})")
    else:
        ds = load_dataset(data_path)
        cfg, source = _resolve_config(config, sets, ds, epochs, section)
        click.echo(describe_source(source, config, ds.name, sets))  # stdout: errors stay one line on stderr
    dev = pick_device(device)
    if not resumed:
        write_record(
            run_dir,
            command,
            data=ds.source,
            seed=seed,
            split_seed=ds.split_seed,
            config_source=source,
            config=cfg.to_dict(),
            dataset=ds.summary(),
            device=str(dev),
            **extra,
        )
    return ds, cfg, seed, dev, extra


@cli.command()
@with_common
@click.option(
    "--arch",
    default="fixed",
    show_default=True,
    help="'fixed' (hand-crafted f-CLSWGAN), 'paper:"
    + "|".join(PAPER_ARCHS)
    + "' (the paper's found pair, Fig. 3), a genotype.json, or a search/run directory.",
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

    run_dir, resumed = _start("train", out, resume)
    ds, cfg, seed, dev, extra = _setup(
        run_dir,
        resumed,
        "train",
        data,
        seed,
        config,
        sets,
        device,
        epochs,
        "train",
        arch=arch,
        tensorboard=tensorboard,
        framework=framework,
        validate_only=validate_only,
    )
    genotype, _ = _load_arch(extra["arch"], cfg)
    if extra["validate_only"]:
        genotype.save(run_dir / "genotype.json")
        selection = validate_genotype(ds, genotype, cfg, seed, run_dir, dev, resumed, _log)
        _print_validation(selection, run_dir)
        return
    metrics = train_genotype(ds, genotype, cfg, seed, run_dir, dev, resumed, _log)
    _print_metrics(metrics, run_dir)


@cli.command()
@with_common
@click.option("--out", type=click.Path(path_type=Path), default=None, help="New run directory.")
@click.option("--resume", type=click.Path(path_type=Path), default=None, help="Continue this run directory.")
@click.option("--epochs", type=int, default=None, help="Search epochs (search.epochs).")
@click.option("--fixed-g", is_flag=True, help="Keep G at the FIX architecture; search D only.")
@click.option("--fixed-d", is_flag=True, help="Keep D at the FIX architecture; search G only.")
def search(data, seed, config, framework, sets, device, tensorboard, out, resume, epochs, fixed_g, fixed_d) -> None:
    """Search G and D jointly (Algorithm 1) and write genotype.json and its drawing."""
    from zeronas.pipeline import run_search

    run_dir, resumed = _start("search", out, resume)
    sets = sets + tuple(f"search.fixed_{s}=true" for s, on in (("g", fixed_g), ("d", fixed_d)) if on)
    ds, cfg, seed, dev, _ = _setup(
        run_dir,
        resumed,
        "search",
        data,
        seed,
        config,
        sets,
        device,
        epochs,
        "search",
        tensorboard=tensorboard,
        framework=framework,
    )
    genotype = run_search(ds, cfg, seed, run_dir, dev, resumed, _log)
    click.echo(f"G: {genotype.generator}\nD: {genotype.critic}\nwrote {run_dir / 'genotype.json'}")


@cli.command()
@with_common
@click.option("--out", type=click.Path(path_type=Path), default=None, help="New run directory.")
@click.option("--resume", type=click.Path(path_type=Path), default=None, help="Continue this run directory.")
@click.option("--search-epochs", type=int, default=None, help="Search epochs (search.epochs).")
@click.option("--epochs", type=int, default=None, help="Upper bound on GAN epochs (train.epochs).")
def run(data, seed, config, framework, sets, device, tensorboard, out, resume, search_epochs, epochs) -> None:
    """Search, then retrain the found pair from scratch, then evaluate: one command."""
    from zeronas.pipeline import run_nas

    run_dir, resumed = _start("run", out, resume)
    if search_epochs is not None:
        sets = sets + (f"search.epochs={search_epochs}",)
    ds, cfg, seed, dev, _ = _setup(
        run_dir,
        resumed,
        "run",
        data,
        seed,
        config,
        sets,
        device,
        epochs,
        "train",
        tensorboard=tensorboard,
        framework=framework,
    )
    metrics = run_nas(ds, cfg, seed, run_dir, dev, resumed, _log)
    _print_metrics(metrics, run_dir)


@cli.command()
@click.argument("genotype")
@click.option("-o", "--output", type=click.Path(path_type=Path), default=None, help="PNG or SVG (default: beside it).")
def draw(genotype: str, output: Path | None) -> None:
    """Draw a genotype.json (or the one in a run directory, or paper:cub|flo|awa|sun)."""
    from zeronas.plots import draw_genotype

    geno, src = _load_arch(str(genotype), Config())
    out = output or Path(src.replace(":", "_")).with_suffix(".png")  # paper:cub -> paper_cub.png
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


grid_options = [
    click.option(
        "--data",
        "datasets",
        multiple=True,
        type=click.Path(path_type=Path),
        help="Dataset (repeatable); default: the bundled Fashion-MNIST dataset.",
    ),
    click.option("--seeds", type=int, default=3, show_default=True, help="Seeds 0..N-1 per cell."),
    click.option("--out", type=click.Path(path_type=Path), required=True, help="Grid directory (re-use it to resume)."),
    click.option("--set", "sets", multiple=True, metavar="SECTION.KEY=VALUE", help="Override a setting in every cell."),
    click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N."),
]


def with_grid(f):
    for opt in reversed(grid_options):
        f = opt(f)
    return f


def _grid(kind: str, datasets, seeds, out, sets, device, random_draws: int = 8):
    from zeronas.experiments import Grid

    paths = [str(load_dataset(p).source) for p in (datasets or (None,))]
    grid = Grid(out, paths, seeds, tuple(sets), pick_device(device), _log, random_draws)
    grid.open()
    _CURRENT_RUN.update(dir=str(out), command=f"experiment {kind}")
    return grid


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
    help="Comma-separated, among: oracle (semi-synthetic data only), eszsl, linear, fix, paper, random, nas, "
    "nas_g_only, nas_d_only.",
)
@click.option(
    "--random-draws", type=click.IntRange(min=1), default=8, show_default=True, help="Random genotypes of 'random'."
)
def compare(datasets, seeds, out, sets, device, frameworks, methods, random_draws) -> None:
    """Floors, FIX, NAS and random search per framework, over seeds: Tables 1-2 as compare.md / compare.csv."""
    from zeronas.experiments import METHODS, method_table

    chosen = [m.strip() for m in methods.split(",") if m.strip()]
    unknown = [m for m in chosen if m not in METHODS]
    if unknown:
        raise ZeroNASError(f"--methods: unknown {', '.join(unknown)} (known: {', '.join(METHODS)})")
    grid = _grid("compare", datasets, seeds, out, sets, device, random_draws)
    click.echo(method_table(grid, chosen, "compare", frameworks or ("clswgan",)))


@experiment.command()
@with_grid
@frameworks_option
def ablation(datasets, seeds, out, sets, device, frameworks) -> None:
    """Searched G only, searched D only, both (Table 3) against FIX: ablation.md / .csv."""
    from zeronas.experiments import method_table

    methods = ["fix", "nas_g_only", "nas_d_only", "nas"]
    grid = _grid("ablation", datasets, seeds, out, sets, device)
    click.echo(method_table(grid, methods, "ablation", frameworks or ("clswgan",)))


@experiment.command()
@with_grid
@click.option("--framework", type=click.Choice(list(REGISTRY)), default="clswgan", show_default=True)
def transfer(datasets, seeds, out, sets, device, framework) -> None:
    """Architecture searched on A, trained and tested on B, for every pair (Fig. 5)."""
    from zeronas.experiments import transfer_matrix

    click.echo(transfer_matrix(_grid("transfer", datasets, seeds, out, sets, device), framework))


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
        f"epochs selected on the validation folds: {m['selected_epoch']} "
        f"(validation ZSL {100 * zsl['val_zsl_top1']:.1f}%{spread} over {m.get('validation_folds', 1)} fold(s))",
    ]
    search = m.get("search")
    if search:
        verdict = "decisive" if search.get("decisive") else "NOT decisive: " + "; ".join(search.get("warnings", []))
        margins = ", ".join(
            f"{r} {v:.3g} ({search['op_ratio'][r]:.0f}x initial)" for r, v in search["op_median"].items()
        )
        lines.append(f"search: {verdict}; median operation margins {margins}")
    lines.append(f"wrote {run_dir / 'metrics.json'}")
    click.echo("\n".join(lines))


def _print_validation(selection: dict, run_dir: Path) -> None:
    zsl, gzsl, cal = selection["zsl"], selection["gzsl"], selection["gzsl_calibrated"]
    spread = f" ± {100 * zsl['val_zsl_top1_std']:.1f}" if "val_zsl_top1_std" in zsl else ""
    click.echo(
        f"validation folds (mean): ZSL top-1 {100 * zsl['val_zsl_top1']:.1f}%{spread} at epoch {zsl['epoch']} | "
        f"GZSL H {100 * gzsl['val_h']:.1f}% at epoch {gzsl['epoch']} | "
        f"calibrated H {100 * cal['val_h']:.1f}% at epoch {cal['epoch']}\n"
        f"no test data was read; wrote {run_dir / 'validation.json'}"
    )


def main() -> None:
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except DivergenceError as exc:
        click.echo(f"zeronas: diverged: {exc}", err=True)
        sys.exit(3)
    except ZeroNASError as exc:
        click.echo(f"zeronas: error: {exc}", err=True)
        sys.exit(2)
    except (KeyboardInterrupt, click.exceptions.Abort):
        run, cmd = _CURRENT_RUN.get("dir"), _CURRENT_RUN.get("command")
        hint = f"; the last checkpoint is kept, continue with: zeronas {cmd} --resume {run}" if run else ""
        click.echo(f"\nzeronas: interrupted{hint}", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
