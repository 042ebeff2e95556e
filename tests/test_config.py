"""Configuration: sections (the core ones and the frameworks'), validated settings, TOML files."""

from __future__ import annotations

import sys

import pytest
import torch

import zeronas.cli
from tests.cli import run_main
from zeronas.config import Config, config_for_dataset, known_configs, load_config
from zeronas.errors import ZeroNASError
from zeronas.runs import pick_device


def test_config_sections_are_validated():
    cfg = Config()
    with pytest.raises(ZeroNASError, match=r"unknown setting 'train.syn_num_zsl' \(did you mean eval.syn_num_zsl\?\)"):
        cfg.set("train.syn_num_zsl", 3)
    with pytest.raises(ZeroNASError, match="unknown section 'nosuch'"):
        Config.from_dict({"nosuch": {}})
    with pytest.raises(ZeroNASError, match="unknown framework 'nope'"):
        cfg.set("model.framework", "nope")
    with pytest.raises(ZeroNASError, match="bad value 'x' for vaegan.gan_weight_d"):
        cfg.set("vaegan.gan_weight_d", "x")
    cfg.set("vaegan.gan_weight_d", "2.5")
    assert cfg.vaegan.gan_weight_d == 2.5
    assert Config.from_dict(cfg.to_dict()) == cfg


def test_unknown_search_mode_is_a_clear_error():
    with pytest.raises(ZeroNASError, match="unknown search mode 'darts2'"):
        Config().set("search.mode", "darts2")


def test_search_epochs_given_beside_arch_steps_is_refused_and_a_config_files_epochs_give_way():
    """``search.arch_steps`` decides the epochs: epochs asked for on the command line would be
    silently replaced, so they are refused; a config file's epochs are a default and give way."""
    cfg, _ = load_config("cubsim")
    cfg.apply_overrides(["search.arch_steps=280"])
    assert cfg.check().search.epochs == 10
    cfg.set("search.epochs", 12, "--epochs")
    with pytest.raises(ZeroNASError, match=r"search.epochs = 12 has no effect: search.arch_steps = 280 .*\(--epochs\)"):
        cfg.check()


def test_the_run_commands_options_are_named_in_their_errors(tmp_path, monkeypatch, capsys):
    """``zeronas run --search-epochs N`` is refused beside ``search.arch_steps`` naming the option
    the user typed; nothing is created."""
    out = tmp_path / "r"
    code, _, err = run_main(
        monkeypatch, capsys, "run", "--search-epochs", "3", "--set", "search.arch_steps=40", "--out", str(out)
    )
    assert code == 2 and err.count("\n") == 1
    assert "search.epochs = 3 has no effect" in err and err.rstrip().endswith("(--search-epochs)")
    assert not out.exists()


@pytest.mark.parametrize("name", known_configs())
def test_every_bundled_config_loads(name):
    cfg, source = load_config(name)
    assert source.endswith(f"{name}.toml") and Config.from_dict(cfg.to_dict()) == cfg


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("search.fixed_g", "true", True),
        ("search.fixed_g", "0", False),
        ("search.fixed_g", False, False),
        ("search.g_widths", "8, 16", (8, 16)),
        ("search.g_widths", [4, 4, 4], (4, 4, 4)),
        ("train.epochs", "7", 7),
        ("train.epochs", 7.0, 7),
        ("vaegan.gan_weight_d", 2, 2.0),
    ],
)
def test_a_setting_takes_the_type_of_its_default(key, value, expected):
    """Protects ``coerce``: strings of ``--set`` and TOML values end as the setting's type."""
    cfg = Config()
    cfg.set(key, value)
    section, _, name = key.partition(".")
    got = getattr(cfg.section(section), name)
    assert got == expected and type(got) is type(expected)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("search.fixed_g", "yes"),
        ("search.fixed_g", 1),
        ("search.g_widths", ""),
        ("search.g_widths", []),
        ("search.g_widths", "8,x"),
        ("train.epochs", 7.5),
        ("train.epochs", "seven"),
        ("train.epochs", [7]),
    ],
)
def test_a_value_of_the_wrong_type_is_refused(key, value):
    with pytest.raises(ZeroNASError, match=f"bad value .* for {key}"):
        Config().set(key, value)


def test_overrides_are_key_equals_value():
    cfg = Config()
    cfg.apply_overrides([" train.epochs = 9 ", "model.framework=clswgan"])
    assert cfg.train.epochs == 9 and cfg.model.framework == "clswgan"
    with pytest.raises(ZeroNASError, match="expected section.key=value"):
        cfg.apply_overrides(["train.epochs"])


def test_a_dataset_name_picks_its_config_by_the_longest_known_prefix(monkeypatch):
    assert {"cub", "cubsim", "fmnist"} <= set(known_configs())
    assert config_for_dataset("CUB") == "cub"
    assert config_for_dataset("CUB_features") == "cub"
    assert config_for_dataset("cubsim_planted") == "cubsim"
    assert config_for_dataset("fmnist_text") == "fmnist"  # the second bundled variant: fmnist's settings, untuned
    assert config_for_dataset("fmnist.v2") == "fmnist"
    assert config_for_dataset("cubby") is None  # a prefix counts before a separator only
    assert config_for_dataset("mydata") is None
    monkeypatch.setattr("zeronas.config.known_configs", lambda: ["fmnist", "fmnist_text"])
    assert config_for_dataset("fmnist_text-2") == "fmnist_text"  # fmnist_ matches too: the longest wins


def test_pick_device(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert pick_device("auto") == torch.device("cpu") and pick_device("cpu") == torch.device("cpu")
    with pytest.raises(ZeroNASError, match="--device cuda:1: CUDA is not available"):
        pick_device("cuda:1")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert pick_device("auto") == torch.device("cuda")


@pytest.mark.parametrize("command", ["train", "search", "run"])
@pytest.mark.parametrize("where", [(), ("--out", "a", "--resume", "b")])
def test_a_run_needs_exactly_one_of_out_and_resume(command, where, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["zeronas", command, *where])
    with pytest.raises(SystemExit) as info:
        zeronas.cli.main()
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.splitlines() == ["zeronas: error: give exactly one of --out RUN_DIR (new run) or --resume RUN_DIR"]
    assert list(tmp_path.iterdir()) == []  # no run directory made
