"""Figures of run directories (zeronas.plots), on small hand-built runs."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from zeronas.errors import ZeroNASError
from zeronas.plots import plot_run

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
N_OPS = 8


def _is_png(p: Path) -> bool:
    return p.is_file() and p.read_bytes()[:8] == PNG_MAGIC and p.stat().st_size > 1000


def _write_csv(path: Path, rows: list[dict]) -> None:
    fields: list[str] = []
    for r in rows:
        fields += [k for k in r if k not in fields]
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)


def _train_history(select_epochs: int = 6, final_epochs: int = 4) -> list[dict]:
    rng = np.random.default_rng(0)
    rows = []
    for stage, n in (("select", select_epochs), ("final", final_epochs)):
        for e in range(1, n + 1):
            row = {
                "stage": stage,
                "epoch": e,
                "critic_loss": -1.0 / e,
                "wasserstein": 2.0 / e,
                "generator_loss": 0.5 + 0.1 * e,
                "cls_loss": 1.0 / e,
            }
            if stage == "select":
                s, u = 0.9 - 0.01 * e, 0.1 + 0.05 * e
                row.update(
                    val_zsl=0.3 + 0.05 * e + 0.01 * rng.random(),
                    val_seen=s,
                    val_unseen=u,
                    val_h=2 * s * u / (s + u),
                    val_cs_constant=0.3,
                    val_cs_seen=s - 0.1,
                    val_cs_unseen=u + 0.1,
                    val_cs_h=2 * (s - 0.1) * (u + 0.1) / (s + u),
                )
            row["seconds"] = 0.5
            rows.append(row)
    # a select row without evaluation leaves the validation columns empty
    rows.insert(
        select_epochs,
        {
            "stage": "select",
            "epoch": select_epochs + 1,
            "critic_loss": -0.1,
            "wasserstein": 0.3,
            "generator_loss": 1.0,
            "cls_loss": 0.1,
            "seconds": 0.4,
        },
    )
    return rows


def _make_train_run(d: Path, data: Path | None = None, checkpoint: bool = True, record_here: bool = True) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    _write_csv(d / "history.csv", _train_history())
    (d / "metrics.json").write_text(json.dumps({"selected_epoch": {"zsl": 6, "gzsl": 5, "gzsl_calibrated": 4}}))
    from zeronas.nas.genotype import fixed_genotype

    geno = fixed_genotype(16)
    geno.save(d / "genotype.json")
    if data is not None:
        rec = {"command": "train", "data": str(data), "seed": 0, "split_seed": 0, "config": {"train": {}, "search": {}}}
        ((d if record_here else d.parent) / "config.json").write_text(json.dumps(rec))
    if checkpoint and data is not None:
        from zeronas.config import Config
        from zeronas.data import load_dataset
        from zeronas.frameworks import CLSWGAN
        from zeronas.nas.network import DiscreteNet
        from zeronas.runs import save_checkpoint

        task = load_dataset(data).test_task()
        G = DiscreteNet(geno.generator, (task.attr_dim, task.attr_dim), task.feature_dim)
        extras = CLSWGAN(G, None, task, Config(), 0.01, 10.0).state_dict()  # the frozen classifier
        save_checkpoint(
            d,
            {
                "kind": "train",
                "stage": "final",
                "epoch": 4,
                "state": {"G": G.state_dict(), "framework": extras},
                "history": [],
                "selection": None,
                "results": {},
            },
        )
    return d


def _net_state(role: str, rng: np.random.Generator, sharp: float) -> dict:
    out_id = 7
    alpha, beta = {}, {}
    for j in range(3, out_id + 1):
        b = np.exp(sharp * rng.normal(size=j))
        beta[str(j)] = (b / b.sum()).round(6).tolist()
        if role == "critic" and j == out_id:
            continue  # edges into the critic's output have no alpha
        for i in range(j):
            a = np.exp(sharp * rng.normal(size=N_OPS))
            alpha[f"{i}->{j}"] = (a / a.sum()).round(6).tolist()
    return {"alpha": alpha, "beta": beta}


def _make_search_run(d: Path, epochs: int = 5, val_zsl: bool = True, roles=("generator", "critic")) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    rows = []
    for e in range(1, epochs + 1):
        row = {
            "epoch": e,
            "critic_arch": -1.0 / e,
            "critic_weights": -1.2 / e,
            "wasserstein": 1.5 / e,
            "generator_arch": 0.3 * e,
            "generator_weights": 0.25 * e,
            "cls_loss": 2.0 / e,
            "seconds": 1.0,
        }
        if val_zsl:
            row["val_zsl"] = 0.2 + 0.04 * e
        rows.append(row)
    _write_csv(d / "search_history.csv", rows)
    rng = np.random.default_rng(1)
    arch = []
    for e in range(1, epochs + 1):
        entry: dict = {"epoch": e}
        for r in roles:
            entry[r] = _net_state(r, rng, sharp=0.3 * e)
        entry["genotype"] = {"generator": "3:128<fc_relu~2> out<fc_relu~3>", "critic": "x"}
        arch.append(entry)
    (d / "arch_history.json").write_text(json.dumps(arch))
    from zeronas.nas.genotype import fixed_genotype

    fixed_genotype(16).save(d / "genotype.json")
    return d


@pytest.fixture(scope="module")
def data_dir(synthetic_dir) -> Path:
    return synthetic_dir


def test_train_run_all_figures(tmp_path, data_dir):
    run = _make_train_run(tmp_path / "train", data_dir)
    paths = plot_run(run)
    names = sorted(p.name for p in paths)
    assert names == ["losses.png", "tsne.png", "validation.png"]
    for p in paths:
        assert p.parent == run / "plots"
        assert _is_png(p)
    # no temporary files are left behind
    assert sorted(f.name for f in (run / "plots").iterdir()) == names
    # re-plotting replaces the files (t-SNE off: the switch the CLI can expose)
    (run / "plots" / "losses.png").write_bytes(b"stale")
    assert sorted(p.name for p in plot_run(run, tsne=False)) == ["losses.png", "validation.png"]
    assert _is_png(run / "plots" / "losses.png")
    assert sorted(f.name for f in (run / "plots").iterdir()) == names


def test_train_run_without_checkpoint_skips_tsne(tmp_path, data_dir):
    run = _make_train_run(tmp_path / "train", data_dir, checkpoint=False)
    notes: list[str] = []
    paths = plot_run(run, log=notes.append)
    assert sorted(p.name for p in paths) == ["losses.png", "validation.png"]
    assert any("t-SNE skipped" in n for n in notes)


def test_train_run_not_final_skips_tsne(tmp_path, data_dir):
    from zeronas.runs import save_checkpoint

    run = _make_train_run(tmp_path / "train", data_dir, checkpoint=False)
    save_checkpoint(run, {"kind": "train", "stage": "select", "epoch": 2, "state": {}, "history": []})
    notes: list[str] = []
    paths = plot_run(run, log=notes.append)
    assert "tsne.png" not in [p.name for p in paths]
    assert any("final stage" in n for n in notes)


def test_unfinished_train_run_without_metrics(tmp_path):
    run = tmp_path / "train"
    run.mkdir()
    _write_csv(run / "history.csv", [r for r in _train_history() if r["stage"] == "select"])
    paths = plot_run(run, log=lambda s: None)
    assert sorted(p.name for p in paths) == ["losses.png", "validation.png"]
    assert all(_is_png(p) for p in paths)


def test_search_run_figures(tmp_path):
    run = _make_search_run(tmp_path / "search")
    paths = plot_run(run)
    assert sorted(p.name for p in paths) == ["arch_weights.png", "search_losses.png", "search_validation.png"]
    assert all(_is_png(p) and p.parent == run / "plots" for p in paths)


def test_search_run_fixed_side_and_no_val(tmp_path):
    run = _make_search_run(tmp_path / "search", val_zsl=False, roles=("generator",))
    paths = plot_run(run)
    assert sorted(p.name for p in paths) == ["arch_weights.png", "search_losses.png"]
    assert all(_is_png(p) for p in paths)


def test_combined_run(tmp_path, data_dir):
    run = tmp_path / "run"
    _make_search_run(run / "search")
    _make_train_run(run / "train", data_dir, record_here=False)  # `zeronas run` keeps config.json at the root
    paths = plot_run(run)
    assert sorted(p.name for p in paths) == [
        "arch_weights.png",
        "losses.png",
        "search_losses.png",
        "search_validation.png",
        "tsne.png",
        "validation.png",
        "zsl_search_train.png",
    ]
    assert all(_is_png(p) and p.parent == run / "plots" for p in paths)


def test_combined_run_search_only(tmp_path):
    run = tmp_path / "run"
    _make_search_run(run / "search", epochs=3, roles=("critic",))  # `--fixed-g`
    (run / "train").mkdir()
    notes: list[str] = []
    paths = plot_run(run, log=notes.append)
    assert sorted(p.name for p in paths) == ["arch_weights.png", "search_losses.png", "search_validation.png"]
    assert all(_is_png(p) for p in paths)
    assert any("training figures skipped" in n for n in notes)


def test_not_a_run_directory(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("hello")
    with pytest.raises(ZeroNASError, match="not a run directory"):
        plot_run(tmp_path / "empty")
    with pytest.raises(ZeroNASError, match="not a directory"):
        plot_run(tmp_path / "missing")
    assert not (tmp_path / "empty" / "plots").exists()
