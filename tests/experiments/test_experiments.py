"""`zeronas experiment ...` on tiny settings: tables, resumable grids, transfer, figures."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from zeronas.cli import cli
from zeronas.data.dataset import bundled_dataset_path
from zeronas.runs import CHECKPOINT

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


def test_the_tables_note_names_every_choice_at_an_edge(compare_grid):
    """A cell's ``warnings`` (a hyperparameter at its grid's edge, an epoch at the last one
    trained) reach the note under the table, with the cell that made them."""
    md = (compare_grid / "compare.md").read_text()
    warned = {
        f"{p.parent.relative_to(compare_grid / 'cells').as_posix()}: {line}"
        for p in (compare_grid / "cells").rglob("metrics.json")
        for line in json.loads(p.read_text()).get("warnings", [])
    }
    assert warned, "no cell of this grid warned; the test checks nothing"
    assert all(w in md for w in warned)


def test_finished_cells_are_never_recomputed(compare_grid):
    cells = sorted((compare_grid / "cells").rglob("metrics.json"))
    before = {p: p.stat().st_mtime_ns for p in cells}
    res = invoke("experiment", "compare", "--seeds", "2", "--out", str(compare_grid), *TINY)
    assert res.exit_code == 0
    assert "[run]" not in res.output
    assert {p: p.stat().st_mtime_ns for p in cells} == before


def _cells(grid: Path) -> dict[str, int]:
    """Finished cells (relative path -> metrics.json's mtime)."""
    return {
        str(p.parent.relative_to(grid / "cells")): p.stat().st_mtime_ns
        for p in (grid / "cells").rglob("metrics.json")
        if p.parent.name.startswith(("seed", "draw"))
    }


def _ran(output: str) -> set[str]:
    return {ln.split()[1] for ln in output.splitlines() if ln.startswith("[run] ")}


def test_a_grid_killed_mid_cell_resumes_that_cell_and_keeps_the_finished_ones(tmp_path, compare_grid):
    """`kill -9` while the second FIX cell trains, then the same command again: the finished
    cell is not touched (bytes and mtime), the killed one continues from its checkpoint and
    ends with the numbers of an uninterrupted grid's cell (``compare_grid``'s: same settings)."""
    out = tmp_path / "killed"
    args = ["experiment", "compare", "--seeds", "2", "--methods", "fix", "--out", str(out), *TINY]
    proc = subprocess.Popen(
        [sys.executable, "-m", "zeronas.cli", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    cells = out / "cells/fmnist/clswgan/fix"
    t0 = time.time()
    while not (cells / "seed1" / CHECKPOINT).is_file():  # written after the cell's first epoch
        assert proc.poll() is None, f"the grid ended early: {proc.communicate()}"
        assert time.time() - t0 < 600, "timed out waiting for the second cell"
        time.sleep(0.05)
    proc.kill()
    proc.communicate()
    assert not (cells / "seed1/metrics.json").exists(), "the cell finished before it was killed"
    done = cells / "seed0/metrics.json"
    before = (done.read_bytes(), done.stat().st_mtime_ns)
    res = invoke(*args)
    assert res.exit_code == 0, res.output + repr(res.exception)
    assert "[done] fmnist/clswgan/fix/seed0" in res.output and "[run] fmnist/clswgan/fix/seed1" in res.output
    assert (done.read_bytes(), done.stat().st_mtime_ns) == before
    for seed in (0, 1):
        reference = compare_grid / f"cells/fmnist/clswgan/fix/seed{seed}/metrics.json"
        assert (cells / f"seed{seed}/metrics.json").read_text() == reference.read_text()


def test_a_grid_grows_by_a_seed_and_computes_only_the_new_cells(tmp_path):
    out = tmp_path / "grow"
    res = invoke("experiment", "compare", "--seeds", "1", "--methods", "eszsl,fix", "--out", str(out), *TINY)
    assert res.exit_code == 0, res.output + repr(res.exception)
    before = _cells(out)
    assert set(before) == {"fmnist/eszsl/seed0", "fmnist/clswgan/fix/seed0"}

    res = invoke("experiment", "compare", "--seeds", "2", "--methods", "eszsl,fix", "--out", str(out), *TINY)
    assert res.exit_code == 0, res.output + repr(res.exception)
    assert _ran(res.output) == {"fmnist/clswgan/fix/seed1"}
    after = _cells(out)
    assert {k: after[k] for k in before} == before  # the finished cells were not touched
    runs = {r["method"]: int(r["runs"]) for r in csv.DictReader((out / "compare.csv").open())}
    assert runs == {"eszsl": 1, "fix": 2}
    asked = json.loads((out / "grid.json").read_text())["asked"]
    assert [a["seeds"] for a in asked] == [[0], [0, 1]] and asked[-1]["methods"] == ["eszsl", "fix"]

    # a grid made before cells had keys (no key.json, the old grid.json) is adopted as it is
    for key in (out / "cells").rglob("key.json"):
        key.unlink()
    (out / "grid.json").write_text(json.dumps({"datasets": asked[0]["datasets"], "seeds": 2, "sets": TINY[1::2]}))
    res = invoke("experiment", "compare", "--seeds", "2", "--methods", "eszsl,fix", "--out", str(out), *TINY)
    assert res.exit_code == 0, res.output + repr(res.exception)
    assert _ran(res.output) == set() and "[stale]" not in res.output
    assert _cells(out) == after
    assert len(list((out / "cells").rglob("key.json"))) == 3


def test_editing_a_setting_recomputes_exactly_the_affected_cells(tmp_path):
    out = tmp_path / "edit"
    methods = ("--methods", "eszsl,linear,fix", "--out", str(out))
    res = invoke("experiment", "compare", "--seeds", "1", *methods, *TINY)
    assert res.exit_code == 0, res.output + repr(res.exception)
    first = _cells(out)

    # the GAN's learning rate: the FIX training only (ESZSL and the linear generator do not read it)
    res = invoke("experiment", "compare", "--seeds", "1", *methods, *TINY, "--set", "train.lr=0.0002")
    assert res.exit_code == 0, res.output + repr(res.exception)
    assert _ran(res.output) == {"fmnist/clswgan/fix/seed0"}
    assert "[stale] fmnist/clswgan/fix/seed0: config.train.lr changed" in res.output
    assert json.loads((out / "cells/fmnist/clswgan/fix/seed0/config.json").read_text())["config"]["train"]["lr"] == 2e-4
    assert len(list((out / "stale").rglob("metrics.json"))) == 1  # moved aside, not deleted

    # the synthetic features of the final classifiers: every generator, not ESZSL
    res = invoke("experiment", "compare", "--seeds", "1", *methods, *TINY, "--set", "eval.syn_num_zsl=20")
    assert res.exit_code == 0, res.output + repr(res.exception)
    assert _ran(res.output) == {"fmnist/linear/seed0", "fmnist/clswgan/fix/seed0"}

    # a setting that never changes a result (checkpoints): nothing
    res = invoke("experiment", "compare", "--seeds", "1", *methods, *TINY, "--set", "train.checkpoint_every=3")
    assert res.exit_code == 0, res.output + repr(res.exception)
    assert _ran(res.output) == set()
    assert res.output.count("[restored]") == 2  # the first cells, kept in stale/, match again
    assert _cells(out) == first


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


def test_a_cell_key_holds_exactly_what_its_result_reads(tmp_path):
    """Which edits change which methods' keys (no training: keys only)."""
    import shutil

    import torch

    from zeronas.data import load_dataset
    from zeronas.experiments.grid import NO_FRAMEWORK, SEARCHES, Grid, _digest, method_spec

    data = tmp_path / "fmnist"
    shutil.copytree(bundled_dataset_path(), data)
    searches = {m for m in SEARCHES if m != "nas_d_only"}
    methods = ["eszsl", "linear", "fix", "paper", "random", *sorted(searches)]

    def keys(sets: tuple[str, ...] = (), path: Path = data) -> dict[str, str]:
        grid = Grid(tmp_path / "g", [str(path)], 1, sets, torch.device("cpu"), lambda m: None)
        ds = load_dataset(path)
        return {
            m: _digest(grid.key_inputs(method_spec(grid, ds, "" if m in NO_FRAMEWORK else "clswgan", m, 0)))
            for m in methods
        }

    base = keys()
    assert len(set(base.values())) == len(methods)

    def changed(*sets: str) -> set[str]:
        new = keys(sets)
        return {m for m in methods if new[m] != base[m]}

    trainings = {"fix", "paper", "random"} | searches
    assert changed("search.lr=0.001") == searches
    assert changed("search.split=class") == searches - {"nas_class_split", "nas_heldout"}  # they set it already
    assert changed("search.arch_schedule=cosine") == searches - {"nas_heldout"}
    assert changed("search.weight_init=kaiming") == searches - {"nas_kaiming"}
    assert changed("search.op_scale=unit") == searches - {"nas_unit_scale"}
    sampled = {"nas_gdas_plain", "nas_settled"}
    assert changed("search.mode=gdas") == searches - sampled
    assert changed("search.arch_entropy=10", "search.edge_topk=1") == searches - {"nas_settled"}
    # random draws from the candidate sets
    assert changed("search.g_ops=plain", "search.d_ops=plain") == {"random"} | searches - sampled
    assert changed("search.g_widths=8,8") == {"random"} | searches  # random draws in the search space
    assert changed("train.lr=0.001") == trainings
    assert changed("model.fix_hidden=64") == trainings  # nas_g_only keeps D at FIX
    assert changed("eval.syn_num_zsl=10") == trainings | {"linear"}
    assert changed("eval.folds=2") == set(methods)
    assert changed("clswgan.pretrain_cls_epochs=3") == trainings
    assert changed("vaegan.encoder_hidden=16") == set()  # another framework's section
    assert changed("train.checkpoint_every=5", "search.tensorboard=true") == set()
    # precision: keyed when not at its default, left out at it (cells made before it existed stay valid)
    assert changed("search.precision=bf16") == searches
    assert changed("train.precision=bf16") == trainings
    assert changed("search.precision=fp32", "train.precision=fp32") == set()
    grid = Grid(tmp_path / "g", [str(data)], 1, (), torch.device("cpu"), lambda m: None)
    inputs = grid.key_inputs(method_spec(grid, load_dataset(data), "clswgan", "nas", 0))
    assert "precision" not in inputs["config"]["search"] and "precision" not in inputs["config"]["train"]
    # the same bytes elsewhere: the same keys; other bytes under the same name: every key
    moved = tmp_path / "elsewhere" / "fmnist"
    shutil.copytree(data, moved)
    assert keys(path=moved) == base
    other = tmp_path / "other" / "fmnist"
    shutil.copytree(TEXT, other)
    assert all(keys(path=other)[m] != base[m] for m in methods)


def test_a_named_search_runs_the_paper_search_with_its_settings(tmp_path):
    """``--methods nas_X`` is ``--methods nas --set ...`` with the method's settings: the same
    resolved configuration, so a grid run either way trains the same search."""
    import torch

    from zeronas.config import SEARCH_SETTINGS
    from zeronas.data import load_dataset
    from zeronas.experiments.grid import Grid, method_spec

    data = bundled_dataset_path()
    ds = load_dataset(data)
    plain = Grid(tmp_path / "a", [str(data)], 1, (), torch.device("cpu"), lambda m: None)
    for method, settings in SEARCH_SETTINGS.items():
        sets = tuple(f"{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in settings.items())
        with_sets = Grid(tmp_path / method, [str(data)], 1, sets, torch.device("cpu"), lambda m: None)
        named = method_spec(plain, ds, "clswgan", method, 0).cfg.to_dict()
        assert named == method_spec(with_sets, ds, "clswgan", "nas", 0).cfg.to_dict(), method
        assert named != method_spec(plain, ds, "clswgan", "nas", 0).cfg.to_dict(), method


def test_editing_a_config_file_changes_the_keys_of_the_cells_that_read_it(tmp_path, monkeypatch):
    """The key holds the resolved config: an edited ``configs/fmnist.toml`` (not only ``--set``)
    changes the keys of the cells whose method reads the edited value (no training: keys only)."""
    import shutil
    import tomllib

    import torch

    import zeronas.config
    from zeronas.data import load_dataset
    from zeronas.experiments.grid import NO_FRAMEWORK, Grid, _digest, method_spec

    configs = tmp_path / "configs"
    shutil.copytree(zeronas.config.CONFIG_DIR, configs)
    monkeypatch.setattr(zeronas.config, "CONFIG_DIR", configs)
    ds = load_dataset(bundled_dataset_path())
    methods = ["eszsl", "linear", "fix", "nas"]

    def keys() -> dict[str, str]:
        grid = Grid(tmp_path / "g", [str(bundled_dataset_path())], 1, (), torch.device("cpu"), lambda m: None)
        return {
            m: _digest(grid.key_inputs(method_spec(grid, ds, "" if m in NO_FRAMEWORK else "clswgan", m, 0)))
            for m in methods
        }

    before = keys()
    toml = configs / "fmnist.toml"
    text = toml.read_text()
    assert "lr" not in tomllib.loads(text)["train"] and text.count("[train]\n") == 1
    toml.write_text(text.replace("[train]\n", "[train]\nlr = 2e-4\n"))  # the GAN's learning rate
    after = keys()
    assert {m for m in methods if after[m] != before[m]} == {"fix", "nas"}


def test_one_seed_shows_no_plus_minus():
    from zeronas.experiments.tables import _fmt, _summary

    assert _fmt(*_summary([0.5])) == "50.0"
    assert _fmt(*_summary([0.5, 0.7])) == "60.0 ± 14.1"  # sample std over seeds
