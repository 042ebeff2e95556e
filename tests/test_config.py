"""Configuration: sections (the core ones and the frameworks'), validated settings, TOML files."""

from __future__ import annotations

import pytest

from zeronas.config import Config, known_configs, load_config
from zeronas.errors import ZeroNASError


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


@pytest.mark.parametrize("name", known_configs())
def test_every_bundled_config_loads(name):
    cfg, source = load_config(name)
    assert source.endswith(f"{name}.toml") and Config.from_dict(cfg.to_dict()) == cfg
