"""Saying which config a run uses, and printing a resolved config with one line of help per key.

The help text lives next to each field in :mod:`zeronas.config` (``field(metadata={"help": ...})``),
so ``zeronas config show`` and the code cannot drift apart.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

from zeronas.config import Config, search_method_text, sections


def dataset_name(path: str | Path | None) -> str:
    """The name a dataset gets from its path (as :func:`zeronas.data.load_dataset` names it),
    without reading it: configs are matched by this name."""
    from zeronas.data import bundled_dataset_path

    p = Path(path) if path is not None else bundled_dataset_path()
    return p.stem if p.is_file() else p.name


def describe_source(
    source: str, config_arg: str | None, name: str, sets: tuple[str, ...] = (), search_method: str | None = None
) -> str:
    """One line saying where a run's config came from, e.g. ``config: cub.toml (matched by dataset name)``.

    Args:
        source: what :func:`zeronas.config.load_config` returned as the source (a path or ``defaults``).
        config_arg: the ``--config`` value, if any.
        name: the dataset's name (configs are matched by it when ``--config`` is not given).
        sets: ``--set`` overrides applied on top.
        search_method: the named search applied before them (``--search-method``), if any.
    """
    if config_arg is not None:
        line = f"config: {Path(source).name if Path(config_arg).name == config_arg else source} (--config {config_arg})"
    elif source == "defaults":
        line = f"config: defaults (no config matches '{name}'; use --config)"
    else:
        matched = Path(source).stem
        how = "dataset name" if matched == name.lower() else f"dataset name prefix '{matched}'"
        line = f"config: {Path(source).name} (matched by {how})"
    if search_method:
        settings = search_method_text(search_method)
        line += f", search method {search_method}" + (f" ({settings})" if settings else "")
    return line + (f", with --set {' '.join(sets)}" if sets else "")


def field_help(section: str, key: str) -> str:
    """The one-line help of ``section.key``."""
    cls = type(Config().section(section))
    return next(f.metadata.get("help", "") for f in dataclasses.fields(cls) if f.name == key)


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return repr(value)


def render_config(cfg: Config, header: str = "") -> str:
    """``cfg`` as TOML (readable back with ``--config``), every key followed by its help comment."""
    lines = [f"# {header}"] if header else []
    for section in sections():
        obj = cfg.section(section)
        doc = (type(obj).__doc__ or section).strip().splitlines()[0]
        lines += ["", f"# {doc}", f"[{section}]"]
        rows = [
            (f"{f.name} = {_toml_value(getattr(obj, f.name))}", f.metadata.get("help", ""))
            for f in dataclasses.fields(obj)
        ]
        width = max(len(r[0]) for r in rows)
        lines += [f"{text:<{width}}  # {help}" if help else text for text, help in rows]
    return "\n".join(lines) + "\n"
