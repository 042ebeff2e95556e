"""`zeronas experiment ...` on tiny settings: tables, resumable grids, transfer, figures."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from zeronas.cli import cli
from zeronas.data.dataset import bundled_dataset_path

TINY = [
    "--set",
    "train.epochs=1",
    "--set",
    "search.epochs=1",
    "--set",
    "model.fix_hidden=32",
    "--set",
    "eval.syn_num_zsl=30",
    "--set",
    "eval.syn_num_gzsl=30",
    "--set",
    "eval.final_cls_epochs=2",
    "--set",
    "clswgan.pretrain_cls_epochs=2",
    "--set",
    "search.g_widths=8,8,8,8",
    "--set",
    "search.d_widths=8,8,8,8",
]
TEXT = str(bundled_dataset_path().parent / "fmnist_text")


def invoke(*args: str):
    result = CliRunner().invoke(cli, list(args), catch_exceptions=True)
    return result


@pytest.fixture(scope="module")
def compare_grid(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("grid") / "compare"
    res = invoke("experiment", "compare", "--seeds", "2", "--out", str(out), *TINY)
    assert res.exit_code == 0, res.output + repr(res.exception)
    return out


def test_compare_writes_markdown_and_csv_tables(compare_grid):
    md = (compare_grid / "compare.md").read_text()
    for label in ("ESZSL", "f-CLSWGAN FIX", "f-CLSWGAN + ZeroNAS", "fmnist ZSL T1", "fmnist H (cal.)"):
        assert label in md
    rows = list(csv.DictReader((compare_grid / "compare.csv").open()))
    assert {r["method"] for r in rows} == {"eszsl", "linear", "fix", "nas"}
    assert {r["framework"] for r in rows if r["method"] in ("fix", "nas")} == {"clswgan"}
    runs = {r["method"]: int(r["runs"]) for r in rows}
    assert runs == {"eszsl": 1, "linear": 2, "fix": 2, "nas": 2}
    for r in rows:
        assert 0.0 <= float(r["mean_pct"]) <= 100.0
    for method in ("fix", "nas"):
        for seed in (0, 1):
            m = json.loads(
                (compare_grid / "cells/fmnist/clswgan" / method / f"seed{seed}" / "metrics.json").read_text()
            )
            assert m["seed"] == seed


def test_finished_cells_are_never_recomputed(compare_grid):
    cells = sorted((compare_grid / "cells").rglob("metrics.json"))
    before = {p: p.stat().st_mtime_ns for p in cells}
    res = invoke("experiment", "compare", "--seeds", "2", "--out", str(compare_grid), *TINY)
    assert res.exit_code == 0
    assert "[run]" not in res.output
    assert {p: p.stat().st_mtime_ns for p in cells} == before


def test_a_grid_with_other_settings_is_refused(compare_grid):
    res = invoke("experiment", "compare", "--seeds", "3", "--out", str(compare_grid), *TINY)
    assert res.exit_code != 0
    assert "other settings" in str(res.exception)


def test_figures_from_a_compare_grid(compare_grid):
    res = invoke("experiment", "figures", str(compare_grid))
    assert res.exit_code == 0, res.output + repr(res.exception)
    names = {p.name for p in (compare_grid / "figures").iterdir()}
    assert {"fig3_genotype_fmnist.png", "fig4_tsne_fmnist.png", "fig6_accuracy_fmnist.png"} <= names


def test_ablation_reuses_the_compare_cells(compare_grid):
    found = (compare_grid / "cells").rglob("seed*/metrics.json")
    cells = {p: p.stat().st_mtime_ns for p in found}
    res = invoke("experiment", "ablation", "--seeds", "2", "--out", str(compare_grid), *TINY)
    assert res.exit_code == 0, res.output + repr(res.exception)
    gan_cells = [p for p in cells if "clswgan" in p.parts]  # ablation runs no floor
    assert res.output.count("[done]") == len(gan_cells)
    assert {p: p.stat().st_mtime_ns for p in cells} == cells


def test_ablation_has_the_four_rows(tmp_path):
    res = invoke("experiment", "ablation", "--seeds", "1", "--out", str(tmp_path / "abl"), *TINY)
    assert res.exit_code == 0, res.output + repr(res.exception)
    md = (tmp_path / "abl" / "ablation.md").read_text()
    for label in ("FIX", "searched G only", "searched D only", "f-CLSWGAN + ZeroNAS"):
        assert label in md
    g_only = json.loads((tmp_path / "abl/cells/fmnist/clswgan/nas_g_only/seed0/metrics.json").read_text())
    d_only = json.loads((tmp_path / "abl/cells/fmnist/clswgan/nas_d_only/seed0/metrics.json").read_text())
    # the side kept fixed is exactly the FIX network
    assert g_only["genotype"]["critic"]["nodes"][0]["width"] == 32
    assert d_only["genotype"]["generator"]["nodes"][0]["width"] == 32


def test_transfer_matrix_over_two_datasets(tmp_path):
    res = invoke(
        "experiment",
        "transfer",
        "--data",
        str(bundled_dataset_path()),
        "--data",
        TEXT,
        "--seeds",
        "1",
        "--out",
        str(tmp_path / "tr"),
        *TINY,
    )
    assert res.exit_code == 0, res.output + repr(res.exception)
    rows = list(csv.DictReader((tmp_path / "tr" / "transfer.csv").open()))
    pairs = {(r["searched_on"], r["trained_on"]) for r in rows}
    assert pairs == {(a, b) for a in ("fmnist", "fmnist_text", "FIX") for b in ("fmnist", "fmnist_text")}
    assert (tmp_path / "tr/cells/transfer/clswgan/fmnist__on__fmnist_text/seed0/metrics.json").is_file()
    # A on A is A's NAS cell, whose search the transfer searches share
    assert (tmp_path / "tr/cells/fmnist/clswgan/nas/seed0/metrics.json").is_file()
    assert not (tmp_path / "tr/cells/transfer/clswgan/fmnist__on__fmnist").exists()
    res = invoke("experiment", "figures", str(tmp_path / "tr"))
    assert res.exit_code == 0, res.output + repr(res.exception)
    assert (tmp_path / "tr/figures/fig5_transfer.png").stat().st_size > 10_000


def test_compare_has_a_fix_and_a_nas_row_per_framework(tmp_path):
    out = tmp_path / "fw"
    frameworks = [a for f in ("fvaegan", "tfvaegan", "lisgan") for a in ("--framework", f)]
    res = invoke(
        "experiment",
        "compare",
        "--seeds",
        "1",
        "--out",
        str(out),
        "--methods",
        "fix,nas",
        *frameworks,
        *TINY,
        "--set",
        "vaegan.encoder_hidden=16",
        "--set",
        "tfvaegan.decoder_hidden=16",
    )
    assert res.exit_code == 0, res.output + repr(res.exception)
    md = (out / "compare.md").read_text()
    for title in ("f-VAEGAN-D2", "TF-VAEGAN", "LisGAN"):
        assert f"| {title} FIX |" in md and f"| {title} + ZeroNAS |" in md
    for fw in ("fvaegan", "tfvaegan", "lisgan"):
        for method in ("fix", "nas"):
            cfg = json.loads((out / "cells/fmnist" / fw / method / "seed0/config.json").read_text())
            assert cfg["config"]["model"]["framework"] == fw
