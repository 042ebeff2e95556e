"""Which config a run uses (one line at start) and ``zeronas config show``."""

from __future__ import annotations

import dataclasses
import tomllib

import pytest

from tests.cli import run_main as _cli
from tests.synth import write_xlsa17
from zeronas.config import Config, load_config, sections
from zeronas.config_text import describe_source, render_config


def test_every_setting_has_one_line_of_help():
    for section in sections():
        for f in dataclasses.fields(Config().section(section)):
            text = f.metadata.get("help", "")
            assert text and "\n" not in text, f"{section}.{f.name}"


def test_config_show_is_the_resolved_config_as_toml_with_help(tmp_path, monkeypatch, capsys):
    code, out, err = _cli(
        monkeypatch,
        capsys,
        "config",
        "show",
        "--data",
        str(tmp_path / "CUB"),
        "--set",
        "train.epochs=7",
        "--set",
        "search.g_widths=8,16",
    )
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "# config: cub.toml (matched by dataset name), with --set train.epochs=7 search.g_widths=8,16"
    assert "lr = 0.0001" in out and "# Adam learning rate of the generator and critic" in out
    expected, _ = load_config("cub")
    expected.apply_overrides(["train.epochs=7", "search.g_widths=8,16"])
    want = {s: {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()} for s, d in expected.to_dict().items()}
    assert tomllib.loads(out) == want
    keys = [ln for ln in lines if " = " in ln]
    assert len(keys) == sum(len(dataclasses.fields(Config().section(s))) for s in sections())
    assert all("  # " in ln for ln in keys)
    # what it prints is a config file: read back, it is the same config
    path = tmp_path / "shown.toml"
    path.write_text(out)
    assert load_config(str(path))[0] == expected


def test_config_show_applies_a_named_search_then_the_sets(tmp_path, monkeypatch, capsys):
    """``--search-method NAME`` is its settings applied before ``--set``: a ``--set`` of one of them wins."""
    args = ("config", "show", "--search-method", "nas_settled", "--set", "search.arch_entropy=3")
    code, out, err = _cli(monkeypatch, capsys, *args)
    assert code == 0, err
    assert out.splitlines()[0] == (
        "# config: fmnist.toml (matched by dataset name), search method nas_settled (search.mode=gdas, "
        "search.g_ops=plain, search.d_ops=plain, search.d_out=hidden, search.arch_entropy=10.0, "
        "search.edge_topk=1.0), with --set search.arch_entropy=3"
    )
    search = tomllib.loads(out)["search"]
    assert (search["mode"], search["g_ops"], search["d_out"], search["edge_topk"]) == ("gdas", "plain", "hidden", 1.0)
    assert search["arch_entropy"] == 3.0
    code, _, err = _cli(monkeypatch, capsys, "config", "show", "--search-method", "nas_best")
    assert code == 2 and "nas_best" in err


def test_config_show_unmatched_name_says_defaults(tmp_path, monkeypatch, capsys):
    code, out, _ = _cli(monkeypatch, capsys, "config", "show", "--data", str(tmp_path / "birds_features"))
    assert code == 0
    assert out.splitlines()[0] == "# config: defaults (no config matches 'birds_features'; use --config)"
    assert tomllib.loads(out)["train"]["epochs"] == Config().train.epochs


def test_config_show_bad_config_is_one_line(monkeypatch, capsys):
    code, out, err = _cli(monkeypatch, capsys, "config", "show", "--config", "nope")
    assert code == 2 and out == ""
    assert err.strip().splitlines() == [err.strip()] and "nope: no such config file or known config" in err


@pytest.mark.parametrize(
    ("source", "arg", "name", "line"),
    [
        ("/pkg/configs/cub.toml", None, "CUB", "config: cub.toml (matched by dataset name)"),
        ("/pkg/configs/cub.toml", None, "CUB_features", "config: cub.toml (matched by dataset name prefix 'cub')"),
        ("defaults", None, "birds", "config: defaults (no config matches 'birds'; use --config)"),
        ("/pkg/configs/flo.toml", "flo", "mine", "config: flo.toml (--config flo)"),
        ("/home/me/x.toml", "/home/me/x.toml", "mine", "config: /home/me/x.toml (--config /home/me/x.toml)"),
    ],
)
def test_describe_source(source, arg, name, line):
    assert describe_source(source, arg, name) == line


@pytest.mark.parametrize(
    ("folder", "line"),
    [
        ("cub", "config: cub.toml (matched by dataset name)"),
        ("CUB_features", "config: cub.toml (matched by dataset name prefix 'cub')"),
        ("birds", "config: defaults (no config matches 'birds'; use --config)"),
    ],
)
def test_train_says_which_config_at_start(tmp_path, monkeypatch, capsys, folder, line):
    data = write_xlsa17(tmp_path / folder)
    # a missing genotype stops the run right after the config is resolved: the line is printed first
    code, out, err = _cli(
        monkeypatch,
        capsys,
        "train",
        "--data",
        str(data),
        "--out",
        str(tmp_path / "run"),
        "--arch",
        str(tmp_path / "missing.json"),
    )
    assert code == 2
    assert out.splitlines() == [line]
    assert err.strip().count("\n") == 0 and "missing.json: file not found" in err


def test_render_config_marks_every_section():
    text = render_config(Config(), "hello")
    assert text.startswith("# hello\n")
    assert [ln for ln in text.splitlines() if ln.startswith("[")] == [f"[{s}]" for s in sections()]
