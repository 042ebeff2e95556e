"""The Python API (``zeronas.search``, ``train``, ``evaluate``, ...): the example of
``docs/api.md`` as it stands, and what the results hold, on tiny settings."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

import zeronas
from zeronas.errors import ZeroNASError

DOC = Path(__file__).resolve().parents[1] / "docs" / "api.md"
TINY = {
    "search.epochs": 1,
    "search.g_widths": [8, 8, 8, 8],
    "search.d_widths": [8, 8, 8, 8],
    "train.epochs": 1,
    "model.fix_hidden": 32,
    "eval.folds": 1,
    "eval.syn_num_zsl": 30,
    "eval.syn_num_gzsl": 30,
    "eval.final_cls_epochs": 2,
    "clswgan.pretrain_cls_epochs": 2,
}


def _example() -> str:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
    assert len(blocks) == 1, "docs/api.md should hold exactly one python example"
    return blocks[0]


@pytest.fixture(scope="module")
def example() -> dict:
    """The docs example, run once; ``made``: the temporary directories it created."""
    made: list[str] = []
    mkdtemp = tempfile.mkdtemp

    def recorded(*args, **kwargs) -> str:
        made.append(mkdtemp(*args, **kwargs))
        return made[-1]

    tempfile.mkdtemp = recorded  # TemporaryDirectory calls it
    try:
        namespace: dict = {}
        exec(compile(_example(), str(DOC), "exec"), namespace)
    finally:
        tempfile.mkdtemp = mkdtemp
    namespace["made"] = [d for d in made if Path(d).name.startswith("zeronas-")]
    return namespace


def test_import_zeronas_does_not_import_the_engine():
    code = (
        "import sys, zeronas; loaded = {m for m in sys.modules if m.startswith('zeronas.')}; "
        "print(sorted(loaded & {'zeronas.api', 'zeronas.engine', 'zeronas.pipeline'})); "
        "zeronas.search; print('zeronas.api' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    assert out.stdout.split("\n")[:2] == ["[]", "True"]


def test_the_api_names_are_exported():
    import zeronas.api

    for name in ("load_dataset", "load_config", "Config", "Genotype", "search", "train", "evaluate"):
        assert getattr(zeronas, name) is getattr(zeronas.api, name)
        assert name in dir(zeronas)
    with pytest.raises(AttributeError):
        zeronas.no_such_name  # noqa: B018


def test_the_docs_example_runs_and_leaves_no_temporary_directory(example):
    assert example["features"].shape == (30, 128)
    assert len(example["made"]) == 3  # a search and two trainings, each in a temporary directory
    assert not any(Path(d).exists() for d in example["made"])  # removed when the call returned


def test_load_config_selects_by_dataset_name_and_applies_overrides():
    ds = zeronas.load_dataset()
    by_name = zeronas.load_config(dataset=ds)
    assert by_name.to_dict() == zeronas.load_config("fmnist").to_dict() != zeronas.load_config("cub").to_dict()
    cfg = zeronas.load_config(dataset=ds, overrides={"train.epochs": 3, "search.g_widths": [4, 4, 4, 4]})
    assert cfg.train.epochs == 3 and cfg.search.g_widths == (4, 4, 4, 4)
    assert cfg.eval == by_name.eval and cfg.model == by_name.model  # the rest as the file has it
    with pytest.raises(ZeroNASError, match="unknown setting 'train.epoch'"):
        zeronas.load_config(overrides={"train.epoch": 3})


def test_load_config_applies_a_named_search_before_the_overrides():
    from zeronas.config import SEARCH_SETTINGS

    cfg = zeronas.load_config("fmnist", search_method="nas_settled", overrides={"search.arch_entropy": 2.0})
    assert cfg.search.mode == "gdas" and cfg.search.d_out == "hidden" and cfg.search.edge_topk == 1.0
    assert cfg.search.arch_entropy == 2.0 != SEARCH_SETTINGS["nas_settled"]["search.arch_entropy"]
    assert zeronas.load_config("fmnist", search_method="nas") == zeronas.load_config("fmnist")
    with pytest.raises(ZeroNASError, match="unknown search method 'nas_best'"):
        zeronas.load_config(search_method="nas_best")


def test_search_result_holds_the_supernet_its_genotype_came_from(example):
    found, cfg = example["found"], example["cfg"]
    keep = cfg.search.keep_edges
    assert found.supernet["generator"].export(keep) == found.genotype.generator
    assert found.supernet["critic"].export(keep) == found.genotype.critic
    assert [r["epoch"] for r in found.history] == [1]
    assert [a["epoch"] for a in found.arch_history] == [1]
    assert found.verdict["epoch"] == 1 and "decisive" in found.verdict


def test_train_result_synthesizes_the_classes_asked_for(example):
    trained, ds = example["trained"], example["ds"]
    x, y = trained.synthesize([int(ds.unseen_classes[0]), 0], 4)
    assert x.shape == (8, ds.feature_dim) and torch.isfinite(x).all()
    assert y.tolist() == [int(ds.unseen_classes[0])] * 4 + [0] * 4
    assert trained.generator is trained.framework.G and trained.critic is trained.framework.D
    with pytest.raises(ZeroNASError, match="no class 10"):
        trained.synthesize([10], 4)
    with pytest.raises(ZeroNASError, match="at least 1"):
        trained.synthesize([0], 0)


def test_evaluate_is_seeded_and_applies_the_stacking_constant(example):
    trained = example["trained"]
    first, again = zeronas.evaluate(trained, seed=3), zeronas.evaluate(trained, seed=3)
    assert first == again
    assert first["calibrated"]["stacking_constant"] == trained.metrics["calibrated"]["stacking_constant"]
    for key in ("zsl_top1", "gzsl_seen", "gzsl_unseen", "gzsl_h"):
        assert 0.0 <= first[key] <= 1.0
    # a constant of 1 takes every seen class's probability to 0 or below: no image is called seen
    shifted = zeronas.evaluate(trained, seed=3, stacking_constant=1.0)["calibrated"]
    assert shifted["gzsl_seen"] == 0.0 and shifted["gzsl_unseen"] > 0.0


def test_train_in_a_run_directory_is_the_cli_run(tmp_path):
    ds = zeronas.load_dataset()
    cfg = zeronas.load_config(dataset=ds, overrides=TINY)
    result = zeronas.train(ds, "fixed", cfg, seed=2, run_dir=tmp_path / "api", device="cpu")
    sets = [a for k, v in TINY.items() for a in ("--set", f"{k}={','.join(map(str, v)) if isinstance(v, list) else v}")]
    args = ["train", "--seed", "2", "--device", "cpu", "--out", str(tmp_path / "cli"), *sets]
    from zeronas.cli import cli

    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output + repr(res.exception)
    cli_metrics = json.loads((tmp_path / "cli" / "metrics.json").read_text())
    api_metrics = json.loads((tmp_path / "api" / "metrics.json").read_text())
    assert api_metrics == cli_metrics == json.loads(json.dumps(result.metrics))
    # the networks returned are those of the final checkpoint (the final stage's last epoch)
    saved = torch.load(tmp_path / "api" / "checkpoint.pt", weights_only=True)
    assert saved["stage"] == "final"
    for key, value in result.generator.state_dict().items():
        assert torch.equal(value, saved["state"]["G"][key]), key
    assert [r["stage"] for r in result.history] == ["select", "final"]
    with pytest.raises(ZeroNASError, match="not empty"):
        zeronas.train(ds, "fixed", cfg, run_dir=tmp_path / "api")
