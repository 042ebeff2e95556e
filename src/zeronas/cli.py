"""The ``zeronas`` command line: data check, train, search, run, draw, plot."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from zeronas.config import Config, load_config
from zeronas.data import ZSLDataset, load_dataset
from zeronas.errors import DivergenceError, ZeroNASError
from zeronas.nas.genotype import Genotype, fixed_genotype
from zeronas.runs import pick_device, prepare_run_dir, versions, write_json

# The run directory of the command in progress, for the Ctrl-C message.
_CURRENT_RUN: dict[str, str] = {}


def _log(msg: str) -> None:
    click.echo(msg, err=True)


def _resolve_config(config: str | None, sets: tuple[str, ...], dataset: ZSLDataset, epochs: int | None,
                    section: str) -> tuple[Config, str]:  # fmt: skip
    cfg, source = load_config(config, dataset.name)
    for item in sets:
        key, eq, value = item.partition("=")
        if not eq:
            raise ZeroNASError(f"--set {item!r}: expected section.key=value")
        cfg.set(key.strip(), value.strip())
    if epochs is not None:
        cfg.set(f"{section}.epochs", epochs, "--epochs")
    return cfg, source


def _load_arch(arch: str, cfg: Config) -> tuple[Genotype, str]:
    if arch == "fixed":
        return fixed_genotype(cfg.train.fix_hidden), "fixed"
    p = Path(arch)
    if p.is_dir():
        for cand in (p / "genotype.json", p / "search" / "genotype.json"):
            if cand.is_file():
                return Genotype.load(cand), str(cand)
        raise ZeroNASError(f"{p}: no genotype.json in this run directory")
    return Genotype.load(p), str(p)


def _record(run_dir: Path, command: str, **fields: object) -> None:
    write_json(run_dir / "config.json", {"command": command, **fields, "versions": versions(), "argv": sys.argv})


def _read_record(run_dir: Path) -> dict:
    try:
        return json.loads((run_dir / "config.json").read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ZeroNASError(f"{run_dir / 'config.json'}: cannot read the run record ({exc})") from None


common_options = [
    click.option("--data", type=click.Path(path_type=Path), default=None,
                 help="xlsa17 folder or .npz file (default: the bundled Fashion-MNIST dataset)."),
    click.option("--seed", type=int, default=0, show_default=True, help="Seed of every random draw."),
    click.option("--config", "config", default=None,
                 help="Config name (cub, flo, sun, awa1, awa2, apy, fmnist) or TOML file; default: by dataset name."),
    click.option("--set", "sets", multiple=True, metavar="SECTION.KEY=VALUE", help="Override one setting."),
    click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N."),
]  # fmt: skip


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


@data.command("check")
@click.argument("path", type=click.Path(path_type=Path), required=False)
def data_check(path: Path | None) -> None:
    """Validate a dataset folder or .npz file and print a summary."""
    ds = load_dataset(path)
    s = ds.summary()
    c, n = s["classes"], s["samples"]
    click.echo(f"{s['source']}: OK")
    click.echo(f"  features: {s['feature_dim']}-d, class vectors: {s['class_vector_dim']}-d")
    click.echo(f"  classes: {c['total']} = {c['seen']} seen + {c['unseen']} unseen; "
               f"{c['validation']} of the seen are validation classes ({c['validation_source']})")  # fmt: skip
    click.echo(f"  samples: trainval {n['trainval']}, test-seen {n['test_seen']}, test-unseen {n['test_unseen']}")
    click.echo(f"  validation task: train {n['validation_train']}, seen {n['validation_seen']}, "
               f"unseen {n['validation_unseen']} (all from trainval)")  # fmt: skip


def _start(command: str, out: Path | None, resume: Path | None) -> tuple[Path, bool]:
    if (out is None) == (resume is None):
        raise ZeroNASError("give exactly one of --out RUN_DIR (new run) or --resume RUN_DIR")
    run_dir = prepare_run_dir(resume or out, resume is not None)  # type: ignore[arg-type]
    _CURRENT_RUN.update(dir=str(run_dir), command=command)
    return run_dir, resume is not None


def _setup(run_dir: Path, resumed: bool, command: str, data_path, seed, config, sets, device, epochs, section, **extra):
    """Resolve (or, on resume, reload) the dataset, config and device; write the run record."""
    if resumed:
        rec = _read_record(run_dir)
        data_path = rec["data"]
        seed = rec["seed"]
        cfg = Config.from_dict(rec["config"], str(run_dir / "config.json"))
        extra = {k: rec.get(k, v) for k, v in extra.items()}
        ds = load_dataset(data_path, rec.get("split_seed", 0))
        source = rec.get("config_source", "")
    else:
        ds = load_dataset(data_path)
        cfg, source = _resolve_config(config, sets, ds, epochs, section)
    dev = pick_device(device)
    if not resumed:
        _record(run_dir, command, data=ds.source, seed=seed, split_seed=ds.split_seed, config_source=source,
                config=cfg.to_dict(), dataset=ds.summary(), device=str(dev), **extra)  # fmt: skip
    return ds, cfg, seed, dev, extra


@cli.command()
@with_common
@click.option("--arch", default="fixed", show_default=True,
              help="'fixed' (hand-crafted f-CLSWGAN), a genotype.json, or a search/run directory.")  # fmt: skip
@click.option("--out", type=click.Path(path_type=Path), default=None, help="New run directory.")
@click.option("--resume", type=click.Path(path_type=Path), default=None, help="Continue this run directory.")
@click.option("--epochs", type=int, default=None, help="Upper bound on GAN epochs (train.epochs).")
def train(data, seed, config, sets, device, arch, out, resume, epochs) -> None:
    """Train a generator/critic pair with f-CLSWGAN and evaluate it (ZSL and GZSL)."""
    from zeronas.train import train_and_evaluate

    run_dir, resumed = _start("train", out, resume)
    ds, cfg, seed, dev, extra = _setup(run_dir, resumed, "train", data, seed, config, sets, device, epochs, "train",
                                       arch=arch)  # fmt: skip
    genotype, _ = _load_arch(extra["arch"], cfg)
    genotype.save(run_dir / "genotype.json")
    metrics = train_and_evaluate(ds, genotype, cfg.train, seed, run_dir, dev, resumed, _log)
    _print_metrics(metrics, run_dir)


@cli.command()
@with_common
@click.option("--out", type=click.Path(path_type=Path), default=None, help="New run directory.")
@click.option("--resume", type=click.Path(path_type=Path), default=None, help="Continue this run directory.")
@click.option("--epochs", type=int, default=None, help="Search epochs (search.epochs).")
@click.option("--fixed-g", is_flag=True, help="Keep G at the FIX architecture; search D only.")
@click.option("--fixed-d", is_flag=True, help="Keep D at the FIX architecture; search G only.")
def search(data, seed, config, sets, device, out, resume, epochs, fixed_g, fixed_d) -> None:
    """Search G and D jointly (Algorithm 1) and write genotype.json and its drawing."""
    run_dir, resumed = _start("search", out, resume)
    sets = sets + tuple(f"search.fixed_{s}=true" for s, on in (("g", fixed_g), ("d", fixed_d)) if on)
    ds, cfg, seed, dev, _ = _setup(run_dir, resumed, "search", data, seed, config, sets, device, epochs, "search")
    _search(ds, cfg, seed, run_dir, dev, resumed)


def _search(ds, cfg, seed, run_dir, dev, resumed) -> Genotype:
    from zeronas.nas.draw import draw_genotype
    from zeronas.nas.search import search as run_search

    if cfg.search.fixed_g and cfg.search.fixed_d:
        raise ZeroNASError("--fixed-g and --fixed-d together leave nothing to search")
    genotype = run_search(ds, cfg, seed, run_dir, dev, resumed, _log)
    draw_genotype(genotype, run_dir / "genotype.png", f"{ds.name}, seed {seed}")
    click.echo(f"G: {genotype.generator}\nD: {genotype.critic}\nwrote {run_dir / 'genotype.json'}")
    return genotype


@cli.command()
@with_common
@click.option("--out", type=click.Path(path_type=Path), default=None, help="New run directory.")
@click.option("--resume", type=click.Path(path_type=Path), default=None, help="Continue this run directory.")
@click.option("--search-epochs", type=int, default=None, help="Search epochs (search.epochs).")
@click.option("--epochs", type=int, default=None, help="Upper bound on GAN epochs (train.epochs).")
def run(data, seed, config, sets, device, out, resume, search_epochs, epochs) -> None:
    """Search, then retrain the found pair from scratch, then evaluate: one command."""
    from zeronas.train import train_and_evaluate

    run_dir, resumed = _start("run", out, resume)
    if search_epochs is not None:
        sets = sets + (f"search.epochs={search_epochs}",)
    ds, cfg, seed, dev, _ = _setup(run_dir, resumed, "run", data, seed, config, sets, device, epochs, "train")
    search_dir = run_dir / "search"
    train_dir = run_dir / "train"
    search_dir.mkdir(exist_ok=True)
    train_dir.mkdir(exist_ok=True)
    if (search_dir / "genotype.json").is_file():
        genotype = Genotype.load(search_dir / "genotype.json")
    else:
        genotype = _search(ds, cfg, seed, search_dir, dev, resumed)
    genotype.save(train_dir / "genotype.json")
    metrics = train_and_evaluate(ds, genotype, cfg.train, seed, train_dir, dev, resumed, _log)
    write_json(run_dir / "metrics.json", {**metrics, "genotype": genotype.to_dict()})
    _print_metrics(metrics, run_dir)


@cli.command()
@click.argument("genotype", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path), default=None, help="PNG or SVG (default: beside it).")
def draw(genotype: Path, output: Path | None) -> None:
    """Draw a genotype.json (or the one in a run directory)."""
    from zeronas.nas.draw import draw_genotype

    geno, src = _load_arch(str(genotype), Config())
    out = output or Path(src).with_suffix(".png")
    click.echo(f"wrote {draw_genotype(geno, out)}")


def _print_metrics(m: dict, run_dir: Path) -> None:
    cal = m["calibrated"]
    click.echo(
        f"ZSL top-1 {m['zsl_top1']:.4f} | GZSL S {m['gzsl_seen']:.4f} U {m['gzsl_unseen']:.4f} H {m['gzsl_h']:.4f}"
        f" | calibrated (gamma {cal['gamma']:.2f}) S {cal['gzsl_seen']:.4f} U {cal['gzsl_unseen']:.4f}"
        f" H {cal['gzsl_h']:.4f}\nepochs selected on validation classes: {m['selected_epoch']}\n"
        f"wrote {run_dir / 'metrics.json'}"
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
