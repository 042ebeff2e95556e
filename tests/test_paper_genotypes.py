"""The paper's found architectures (Fig. 3), bundled as ``paper:cub|flo|awa|sun``."""

from __future__ import annotations

import json
import sys

import pytest
import torch

import zeronas.cli
from tests.synth import make_arrays, write_xlsa17
from zeronas.config import Config
from zeronas.data import load_dataset
from zeronas.engine import Session, train_epoch
from zeronas.errors import ZeroNASError
from zeronas.nas.genotype import Genotype
from zeronas.nas.paper import PAPER_ARCHS, from_authors, paper_genotype, paper_genotype_path, paper_source

# Issue 11's independent translation of clswgan_retrain.py lines 107-108.
CUB_G = (
    "3:128<fc_relu~1|fc_lrelu~2> 4:256<fc_relu~1|fc_relu~3> 5:512<fc_relu~1|fc_relu~4> "
    "6:1024<fc_relu~1|fc_relu~5> out<fc_relu~5|fc_relu~6>"
)
CUB_D = "3:1024<fc_relu~1|fc_lrelu~2> 4:512<fc_lrelu~2|fc_lrelu~0> out<linear~3|linear~4>"


@pytest.fixture(scope="module")
def cub_shaped(tmp_path_factory):
    """CUB's class-vector and feature dims (312, 2048) on 8 classes of 12 samples."""
    folder = tmp_path_factory.mktemp("data") / "CUB_tiny"
    return write_xlsa17(folder, make_arrays(per_class=12, feat_dim=2048, att_dim=312))


def test_cub_matches_the_independent_transcription():
    g = paper_genotype("cub")
    assert str(g.generator) == CUB_G
    assert str(g.critic) == CUB_D


@pytest.mark.parametrize("name", PAPER_ARCHS)
def test_each_file_names_its_source_and_rederives_from_it(name):
    src = paper_source(name)
    assert src["repository"] == "https://github.com/caixiay/ZeroNAS"
    assert src["commit"].startswith("9dc9a86") and src["file"] == "clswgan_retrain.py"
    stored = paper_genotype(name)
    assert stored == from_authors(src["authors_genotype_G"], src["authors_genotype_D"])
    raw = json.loads(paper_genotype_path(name).read_text())
    assert raw["name"] == f"paper:{name}" and any("linear" in n for n in raw["notes"])


@pytest.mark.parametrize("name", PAPER_ARCHS)
def test_paper_facts_hold(name):
    """Sec. 4.1: no BN or dropout, every network uses the concatenated input; D output linear."""
    g = paper_genotype(name)
    for net in (g.generator, g.critic):
        edges = [e for n in net.nodes for e in n.inputs] + list(net.output)
        assert {e.op for e in edges} <= {"fc_relu", "fc_lrelu", "linear"}
        assert any(e.src == 2 for e in edges)
    assert {e.op for e in g.critic.output} == {"linear"}
    # CUB's generator uses all four intermediate nodes, FLO's none; CUB/AWA/SUN end in ReLU.
    assert len(paper_genotype("cub").generator.nodes) == 4 and paper_genotype("flo").generator.nodes == ()
    if name != "flo":
        assert {e.op for e in g.generator.output} == {"fc_relu"}


def test_translation_swaps_the_two_plain_inputs():
    pairs = [("fc_relu", 0), ("fc_lrelu", 1)] * 4 + [("fc_relu", 3), ("fc_relu", 2)]
    g = from_authors(pairs, pairs)
    assert [(e.src, e.op) for e in g.generator.nodes[0].inputs] == [(1, "fc_relu"), (0, "fc_lrelu")]
    assert [n.id for n in g.generator.nodes] == [3]  # 4-6 dead
    assert [(e.src, e.op) for e in g.critic.output] == [(3, "linear"), (2, "linear")]


def test_unknown_paper_architecture_is_one_clear_error():
    with pytest.raises(ZeroNASError, match=r"paper:imagenet: unknown paper architecture \(known: cub, flo, awa, sun\)"):
        paper_genotype("imagenet")


@pytest.mark.parametrize("name", PAPER_ARCHS)
def test_each_builds_and_trains_a_step_on_cub_shaped_data(cub_shaped, name):
    torch.manual_seed(0)
    cfg = Config()
    cfg.train.batch_size = 16
    cfg.train.critic_iters = 1
    cfg.clswgan.pretrain_cls_epochs = 1
    task = load_dataset(cub_shaped).test_task()
    trainer = Session(cfg, task, torch.device("cpu"), paper_genotype(name), cfg.train)
    assert trainer.G(torch.randn(3, 312), task.class_vectors[:3]).shape == (3, 2048)
    assert trainer.D(task.train_x[:3], task.class_vectors[:3]).shape == (3, 1)
    before = [p.detach().clone() for p in trainer.G.parameters()]
    stats = train_epoch(trainer)
    assert all(torch.isfinite(torch.tensor(v)) for v in stats.values())
    assert any(not torch.equal(a, b) for a, b in zip(before, trainer.G.parameters(), strict=True))


def test_train_paper_cub_through_the_cli(cub_shaped, tmp_path, monkeypatch, capsys):
    run = tmp_path / "run"
    args = [
        "train",
        "--data",
        str(cub_shaped),
        "--arch",
        "paper:cub",
        "--out",
        str(run),
        "--epochs",
        "1",
        "--set",
        "eval.syn_num_zsl=20",
        "--set",
        "eval.syn_num_gzsl=20",
        "--set",
        "eval.final_cls_epochs=2",
        "--set",
        "clswgan.pretrain_cls_epochs=2",
        "--set",
        "train.batch_size=32",
    ]
    monkeypatch.setattr(sys, "argv", ["zeronas", *args])
    try:
        zeronas.cli.main()
    except SystemExit as exc:
        assert exc.code in (0, None), capsys.readouterr().err
    assert "ZSL top-1" in capsys.readouterr().out
    assert Genotype.load(run / "genotype.json") == paper_genotype("cub")
    assert json.loads((run / "config.json").read_text())["arch"] == "paper:cub"
    assert 0.0 <= json.loads((run / "metrics.json").read_text())["zsl_top1"] <= 1.0
