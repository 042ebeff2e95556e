"""The ``zeronas`` commands that prepare data and show settings: ``data download``,
``data extract`` and ``config show`` (registered on the groups in :mod:`zeronas.cli`)."""

from __future__ import annotations

from pathlib import Path

import click

from zeronas.config import SEARCH_SETTINGS, load_config, search_method_text
from zeronas.config_text import dataset_name, describe_source, render_config
from zeronas.data.download import BENCHMARKS, MIRROR_ENV
from zeronas.data.resnet import ARCHS as RESNETS
from zeronas.runs import pick_device


def _log(msg: str) -> None:
    click.echo(msg, err=True)


@click.command("download")
@click.argument("names", nargs=-1, required=True, type=click.Choice([*BENCHMARKS, "all"], case_sensitive=False))
@click.option(
    "--root",
    type=click.Path(path_type=Path),
    required=True,
    help="Folder that receives ROOT/CUB, ROOT/FLO, ... (what --data takes).",
)
@click.option(
    "--mirror",
    envvar=MIRROR_ENV,
    default=None,
    show_envvar=True,
    help="Fetch the archives (xlsa17.zip, cvpr18xian.zip) from this URL's root or local folder instead.",
)
@click.option("--no-verify", is_flag=True, help="Skip the sha256 comparison and the benchmark-structure check.")
def download_command(names: tuple[str, ...], root: Path, mirror: str | None, no_verify: bool) -> None:
    """Download, verify and unpack xlsa17 (cub, sun, awa1, awa2, apy) and FLO; 'all' for every one."""
    from zeronas.data.download import download

    chosen = list(BENCHMARKS) if "all" in {n.lower() for n in names} else list(dict.fromkeys(n.lower() for n in names))
    for folder in download(chosen, root, mirror, not no_verify, _log):
        click.echo(f"{folder}: ready (zeronas data check {folder})")


@click.command("extract")
@click.argument("images", type=click.Path(path_type=Path))
@click.option(
    "--classes",
    "classes_file",
    type=click.Path(path_type=Path),
    required=True,
    help="Class vectors, one row per class: CSV 'name,v1,v2,...' (optional header), or .npy with --class-names.",
)
@click.option(
    "--class-names",
    type=click.Path(path_type=Path),
    default=None,
    help="For a .npy: class names, one per line, in row order.",
)
@click.option("--unseen", required=True, help="Unseen classes: 'a,b,c' or @FILE (one name per line).")
@click.option(
    "--val", default=None, help="Validation classes among the seen (same format); default: zeronas draws them."
)
@click.option(
    "--test-seen-fraction",
    type=float,
    default=0.2,
    show_default=True,
    help="Share of each seen class's images held out as test-seen (drawn with --split-seed).",
)
@click.option("--split-seed", type=int, default=0, show_default=True)
@click.option("--out", type=click.Path(path_type=Path), required=True, help="New dataset folder (what --data takes).")
@click.option("--model", type=click.Choice(list(RESNETS)), default="resnet101", show_default=True)
@click.option(
    "--weights",
    type=click.Path(path_type=Path),
    default=None,
    help="torchvision-format weights file; default: torch's hub cache. Nothing is downloaded.",
)
@click.option("--random-weights", is_flag=True, help="Random weights (for tests: the features mean nothing).")
@click.option("--batch-size", type=int, default=64, show_default=True)
@click.option("--workers", type=int, default=4, show_default=True, help="Threads decoding images.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
def extract_command(
    images,
    classes_file,
    class_names,
    unseen,
    val,
    test_seen_fraction,
    split_seed,
    out,
    model,
    weights,
    random_weights,
    batch_size,
    workers,
    device,
) -> None:
    """Features of your own images (one sub-folder per class) as an xlsa17 folder: res101.mat + att_splits.mat."""
    from zeronas.data.extract import ExtractOptions, extract

    opts = ExtractOptions(
        unseen, val, test_seen_fraction, split_seed, model, weights, random_weights, batch_size, workers, class_names
    )
    folder = extract(images, classes_file, out, opts, pick_device(device), _log)
    click.echo(f"wrote {folder} (zeronas data check {folder})")


#: ``--search-method`` of ``search``, ``run`` and ``config show``.
search_method_option = click.option(
    "--search-method",
    type=click.Choice(["nas", *SEARCH_SETTINGS]),
    default=None,
    help="A named search, applied before any --set: nas (the default: the paper's search with the "
    "config's settings), "
    + ", ".join(f"{name} ({search_method_text(name)})" for name in SEARCH_SETTINGS)
    + ". docs/results.md measures each; nas_settled is the one decisive on the CUB-scale benchmark.",
)


@click.group("config")
def config_group() -> None:
    """Configuration tools."""


@config_group.command("show")
@click.option("--config", "config", default=None, help="Config name or TOML file; default: matched by dataset name.")
@click.option("--set", "sets", multiple=True, metavar="SECTION.KEY=VALUE", help="Override one setting.")
@click.option("--data", type=click.Path(path_type=Path), default=None, help="Dataset whose name picks the config.")
@search_method_option
def config_show(config: str | None, sets: tuple[str, ...], data: Path | None, search_method: str | None) -> None:
    """Print the resolved config as TOML, one line of help per key (reusable with --config)."""
    name = dataset_name(data)
    cfg, source = load_config(config, name, search_method)
    cfg.apply_overrides(sets)
    cfg.check()
    click.echo(render_config(cfg, describe_source(source, config, name, sets, search_method)), nl=False)


@click.command("synth")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="New dataset folder (what --data takes).")
@click.option(
    "--base",
    type=click.Choice(["cub", "awa2", "sun", "random"]),
    default="cub",
    show_default=True,
    help="Whose class vectors and seen/unseen classes: a real benchmark's, or drawn (random: 500 classes, 32-d).",
)
@click.option(
    "--variant",
    type=click.Choice(["mlp", "genotype", "linear", "nonlinear"]),
    default="mlp",
    show_default=True,
    help="mlp: a planted nonlinear generator with a semantic gap; genotype: a planted generator from the search "
    "space; linear: class means affine in the class vectors plus Gaussian noise (a sanity check for generators); "
    "nonlinear: class means a random-feature function of the class vectors plus Gaussian noise (a nonlinearity "
    "a regressor can learn from many classes).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of every draw.")
@click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="KEY=VALUE",
    help="Any other setting of zeronas.synthetic.SynthConfig (feature_dim, gap, noise_scale, ...).",
)
def synth_command(out: Path, base: str, variant: str, seed: int, sets: tuple[str, ...]) -> None:
    """A semi-synthetic zero-shot benchmark: real class vectors, features from a planted generator."""
    import dataclasses

    from zeronas.config import coerce
    from zeronas.errors import ZeroNASError
    from zeronas.synthetic import SynthConfig, build_benchmark

    cfg = SynthConfig(base=base, variant=variant, seed=seed)
    fields = {f.name for f in dataclasses.fields(cfg)}
    for item in sets:
        key, eq, value = item.partition("=")
        if not eq or key.strip() not in fields:
            raise ZeroNASError(f"--set {item!r}: expected KEY=VALUE with KEY one of {', '.join(sorted(fields))}")
        current = getattr(cfg, key.strip())
        try:
            setattr(cfg, key.strip(), coerce(value.strip(), current))
        except (TypeError, ValueError):
            raise ZeroNASError(f"--set {item!r}: bad value for {key.strip()} ({type(current).__name__})") from None
    summary = build_benchmark(cfg, out)
    s = summary["samples"]
    click.echo(
        f"wrote {out}: {summary['classes']['seen']} seen + {summary['classes']['unseen']} unseen classes, "
        f"{s['trainval']} trainval / {s['test_seen']} test-seen / {s['test_unseen']} test-unseen samples"
    )
    if summary["planted_genotype"]:
        click.echo(f"planted generator: {summary['planted_genotype']}")
