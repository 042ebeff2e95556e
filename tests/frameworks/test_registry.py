"""Extension points: a framework is one file (the worked example of docs/frameworks.md runs
here), config sections are validated, and the operation registry meets the fused supernet."""

from __future__ import annotations

import copy
import math
import re
from pathlib import Path

import pytest
import torch

import zeronas.config as config_module
import zeronas.frameworks as frameworks
from zeronas.config import Config
from zeronas.engine import SearchSpace, Session, search_iteration, split_halves, train_epoch
from zeronas.errors import ZeroNASError
from zeronas.frameworks import CLSWGAN, REGISTRY, register_framework, term_labels
from zeronas.nas.genotype import Edge, Genotype, NetGenotype, fixed_genotype
from zeronas.nas.network import DiscreteNet
from zeronas.nas.ops import OPS, known_ops, register_op
from zeronas.nas.supernet import Supernet

DOCS = Path(__file__).resolve().parents[2] / "docs" / "frameworks.md"
CPU = torch.device("cpu")


@pytest.fixture
def registries():
    """Whatever a test registers is forgotten afterwards."""
    saved = dict(REGISTRY), dict(config_module._SECTIONS), copy.deepcopy(config_module._CHOICES)
    yield
    REGISTRY.clear()
    REGISTRY.update(saved[0])
    config_module._SECTIONS.clear()
    config_module._SECTIONS.update(saved[1])
    config_module._CHOICES.clear()
    config_module._CHOICES.update(saved[2])


@pytest.fixture
def task(synthetic_task):
    return synthetic_task


def tiny(cfg: Config) -> Config:
    cfg.model.fix_hidden = 8
    cfg.train.batch_size = cfg.search.batch_size = 16
    cfg.clswgan.pretrain_cls_epochs = 2
    cfg.search.g_widths = cfg.search.d_widths = (8, 8)
    return cfg


def test_the_worked_example_of_the_docs_is_one_file(tmp_path, monkeypatch, registries, task):
    code = re.search(r"```python\n(.*?)```", DOCS.read_text().split("## Adding a framework")[1], re.S)
    assert code is not None
    package = tmp_path / "more_frameworks"
    package.mkdir()
    (package / "meanmatch.py").write_text(code.group(1))
    monkeypatch.setattr(frameworks, "__path__", [*frameworks.__path__, str(package)])
    frameworks.discover()  # what importing zeronas does with the files of the package
    try:
        assert "meanmatch" in REGISTRY
        # its config section: TOML/records, --set, typed and validated
        cfg = Config.from_dict({"model": {"framework": "meanmatch"}, "meanmatch": {"mean_weight": 0.5}})
        assert cfg.meanmatch.mean_weight == 0.5 and cfg.to_dict()["meanmatch"] == {"mean_weight": 0.5}
        cfg.apply_overrides(["meanmatch.mean_weight=0.25"])
        assert cfg.meanmatch.mean_weight == 0.25
        with pytest.raises(ZeroNASError, match="unknown setting 'meanmatch.nope'"):
            cfg.set("meanmatch.nope", 1)
        assert term_labels()["mean_loss"] == "distance of the fakes to their class mean"
        # it trains and searches through the one engine
        tiny(cfg)
        torch.manual_seed(0)
        row = train_epoch(Session(cfg, task, CPU, fixed_genotype(8), cfg.train))
        assert set(row) == {"critic_loss", "wasserstein", "generator_loss", "cls_loss", "mean_loss"}
        assert all(math.isfinite(v) for v in row.values())
        search = Session(cfg, task, CPU, SearchSpace(), cfg.search, pools=split_halves)
        assert torch.isfinite(search_iteration(search)).all()
    finally:
        import sys

        sys.modules.pop("zeronas.frameworks.meanmatch", None)


def test_a_framework_must_label_its_figures(registries):
    with pytest.raises(TypeError, match="no label in 'terms' for the figures extra"):

        @register_framework
        class Unlabelled(CLSWGAN):
            name, title, description = "unlabelled", "U", "a framework without labels"
            generator_stats = ("cls_loss", "extra")

    with pytest.raises(ValueError, match="already registered"):

        @register_framework
        class Again(CLSWGAN):
            name, title, description = "clswgan", "C", "a second clswgan"


def test_a_registered_operation_builds_in_genotypes_but_is_not_searched(monkeypatch):
    from zeronas.nas import ops

    monkeypatch.setattr(ops, "_BUILDERS", dict(ops._BUILDERS))
    register_op("fc_tanh", lambda i, o, slope, p: torch.nn.Sequential(torch.nn.Linear(i, o), torch.nn.Tanh()))
    assert "fc_tanh" in known_ops()
    geno = NetGenotype("generator", (), (Edge(2, "fc_tanh"),))
    net = DiscreteNet(Genotype.from_dict(Genotype(geno, fixed_genotype(4).critic).to_dict()).generator, (3, 2), 5)
    assert net(torch.randn(4, 3), torch.randn(4, 2)).abs().max() <= 1
    with pytest.raises(ValueError, match="Supernet searches a subset of the operations .* fc_tanh cannot be searched"):
        Supernet("generator", (3, 2), (4,), 5, ops=(*OPS, "fc_tanh"))
