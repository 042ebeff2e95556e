"""The comparison's floors, ceiling and baselines on a tiny planted-architecture benchmark:
oracle, ESZSL, linear generator, FIX, the paper's genotype, the planted architecture retrained,
random search and NAS, with the recovery table of the planted generator."""

from __future__ import annotations

import csv
import json
import re
import runpy
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from zeronas.cli import cli
from zeronas.config import load_config
from zeronas.nas.genotype import Genotype
from zeronas.nas.space import random_pair
from zeronas.synthetic import SynthConfig, build_benchmark, chance_recovery, planted_genotype

TINY = [
    *("--set", "train.epochs=1"),
    *("--set", "search.epochs=1"),
    *("--set", "model.fix_hidden=16"),
    *("--set", "eval.syn_num_zsl=10"),
    *("--set", "eval.syn_num_gzsl=10"),
    *("--set", "eval.final_cls_epochs=2"),
    *("--set", "clswgan.pretrain_cls_epochs=2"),
    *("--set", "search.g_widths=8,8,8,8"),
    *("--set", "search.d_widths=8,8,8,8"),
]
METHODS = "oracle,eszsl,linear,fix,paper,planted,random,nas,nas_heldout"


@pytest.fixture(scope="module")
def planted_grid(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("planted")
    data = root / "awa2_planted"
    cfg = SynthConfig(base="awa2", variant="genotype", widths=(8, 8, 8, 8), feature_dim=16)
    cfg.trainval_per_class, cfg.test_seen_per_class, cfg.test_unseen_per_class = 6, 2, 4
    build_benchmark(cfg, data)
    out = root / "grid"
    args = ["experiment", "compare", "--data", str(data), "--seeds", "1", "--random-draws", "3", "--out", str(out)]
    res = CliRunner().invoke(cli, [*args, "--methods", METHODS, *TINY], catch_exceptions=True)
    assert res.exit_code == 0, res.output + repr(res.exception)
    return data, out


def test_every_method_has_its_row_and_cells(planted_grid):
    _, out = planted_grid
    md = (out / "compare.md").read_text()
    for label in (
        "Planted generator (oracle ceiling)",
        "ESZSL",
        "Linear generator",
        "f-CLSWGAN FIX",
        "the paper's AWA genotype",  # the name awa2_planted starts with the paper's "awa"
        "f-CLSWGAN + the planted generator's architecture (retrained), FIX's critic",
        "random genotypes, median of 3",
        "best of 3 on validation (random search)",
        "f-CLSWGAN + ZeroNAS",
        "f-CLSWGAN + ZeroNAS, architecture steps on held-out classes, cosine architecture lr",
    ):
        assert label in md, label
    cells = out / "cells" / "awa2_planted"
    for rel in (
        "oracle/seed0",
        "eszsl/seed0",
        "linear/seed0",
        "clswgan/fix/seed0",
        "clswgan/paper/seed0",
        "clswgan/planted/seed0",
        "clswgan/random/draw2",
        "clswgan/nas/seed0",
        "clswgan/nas_heldout/seed0",
    ):
        assert (cells / rel / "metrics.json").is_file(), rel


def test_random_rows_are_the_median_and_the_best_on_validation(planted_grid):
    _, out = planted_grid
    cells = [
        json.loads((out / "cells/awa2_planted/clswgan/random" / f"draw{k}/metrics.json").read_text()) for k in range(3)
    ]
    zsl = [100 * m["zsl_top1"] for m in cells]
    val = [m["validation"]["zsl"]["val_zsl_top1"] for m in cells]
    md = (out / "compare.md").read_text()
    median_row = next(line for line in md.splitlines() if "median of 3" in line).split(" | ")
    best_row = next(line for line in md.splitlines() if "random search" in line).split(" | ")
    # columns: method, val ZSL, ZSL T1, ...
    assert median_row[2].startswith(f"{np.median(zsl):.1f} [")
    assert best_row[2] == f"{zsl[int(np.argmax(val))]:.1f}"
    # compare.csv carries both rows, the median with its quartiles
    rows = {
        r["method"]: r
        for r in csv.DictReader((out / "compare.csv").open())
        if r["metric"] == "zsl_top1" and r["method"].startswith("random")
    }
    q1, q2, q3 = np.percentile(zsl, [25, 50, 75])
    median = rows["random_median"]
    assert (float(median["mean_pct"]), float(median["q1_pct"]), float(median["q3_pct"])) == pytest.approx(
        (q2, q1, q3), abs=0.006
    )
    assert median["runs"] == "3" and median["std_pct"] == ""
    assert float(rows["random_search"]["mean_pct"]) == pytest.approx(zsl[int(np.argmax(val))], abs=0.006)


def _tiny_config(data):
    """The config of the planted grid's cells."""
    cfg, _ = load_config(None, data.name)
    cfg.apply_overrides([TINY[i + 1] for i in range(0, len(TINY), 2)])
    return cfg


def test_random_draws_are_the_spaces_and_repeatable(planted_grid):
    data, out = planted_grid
    cfg = _tiny_config(data)
    stored = Genotype.load(out / "cells/awa2_planted/clswgan/random/draw1/genotype.json")
    assert stored == random_pair(cfg, 1)
    assert random_pair(cfg, 1) != random_pair(cfg, 2)
    paper_space = [random_pair(cfg, draw) for draw in range(8)]
    cfg.set("search.g_out", "hidden", "test")
    for draw, drawn in enumerate(paper_space):  # G's output reads hidden nodes only; the critic is the same draw
        pair = random_pair(cfg, draw)
        assert all(e.src >= 3 for e in pair.generator.output) and pair.critic == drawn.critic
    assert any(e.src < 3 for p in paper_space for e in p.generator.output)
    cfg.set("search.d_out", "hidden", "test")
    for draw in range(len(paper_space)):  # the critic's output too
        pair = random_pair(cfg, draw)
        assert all(e.src >= 3 for e in pair.critic.output) and all(e.src >= 3 for e in pair.generator.output)
    assert any(e.src < 3 for p in paper_space for e in p.critic.output)


def test_recovery_table_of_the_planted_generator(planted_grid):
    data, out = planted_grid
    text = (out / "recovery.md").read_text()
    assert text.startswith("Recovery of the planted generator (awa2_planted, clswgan):\n\nPlanted generator: `")
    assert "Across the planted benchmarks" not in text  # one benchmark: nothing to match against
    per_cell = json.loads((out / "recovery.json").read_text())["awa2_planted/clswgan"]
    assert set(per_cell) == {"planted", "nas", "nas_heldout", "random"} and len(per_cell["random"]) == 3
    planted = per_cell["planted"][0]  # the planted architecture recovers itself; its fit is the one to match
    assert (planted["edges"], planted["ops"], planted["activations"]) == (1.0, 1.0, 1.0)
    metrics = json.loads((out / "cells/awa2_planted/clswgan/planted/seed0/metrics.json").read_text())
    val, zsl = 100 * metrics["validation"]["zsl"]["val_zsl_top1"], 100 * metrics["zsl_top1"]
    assert f"| planted | 1 | 100.0 ± 0.0 | 100.0 ± 0.0 | 100.0 ± 0.0 | {val:.1f} ± 0.0 | {zsl:.1f} ± 0.0 |" in text
    heldout = json.loads((out / "cells/awa2_planted/clswgan/nas_heldout/seed0/config.json").read_text())
    assert heldout["config"]["search"]["split"] == "class" and heldout["config"]["search"]["arch_schedule"] == "cosine"
    for cells in per_cell.values():
        for c in cells:
            assert 0.0 <= c["ops"] <= c["edges"] <= 1.0 and c["ops"] <= c["activations"] <= c["edges"]
    mean_edges = 100 * np.mean([c["edges"] for c in per_cell["random"]])
    assert re.search(rf"\| random \| 3 \| {mean_edges:.1f} ±", text)
    chance = chance_recovery(_tiny_config(data), planted_genotype(data))  # the searches' space
    for c in per_cell["nas"] + per_cell["nas_heldout"]:  # each search reports it in genotype.json
        method = "nas" if c in per_cell["nas"] else "nas_heldout"
        search = json.loads((out / f"cells/awa2_planted/clswgan/{method}/{c['cell']}/search/genotype.json").read_text())
        reported = search["search"]["recovery"]
        assert {k: reported[k] for k in ("edges", "ops", "activations")} == {
            k: c[k] for k in ("edges", "ops", "activations")
        }
        assert reported["planted"] == text.split("`")[1] and set(reported["chance"]) == {"edges", "ops", "activations"}
        assert reported["chance_at_least"] == {k: float((v >= reported[k] - 1e-9).mean()) for k, v in chance.items()}


def test_recovery_reads_only_the_grids_seeds_and_draws(planted_grid, tmp_path):
    import shutil

    from zeronas.data import load_dataset
    from zeronas.experiments.recovery import planted_cells, recovery_table

    data, out = planted_grid
    copy = tmp_path / "grid"
    shutil.copytree(out, copy)
    ds = load_dataset(data)
    per_cell = planted_cells(copy, ds, "clswgan", [0], [0, 1])
    assert "| random | 2 |" in recovery_table(ds, per_cell, _tiny_config(data))
    assert [c["cell"] for c in per_cell["random"]] == ["draw0", "draw1"]
    assert planted_cells(copy, ds, "clswgan", [5], []) == {}  # no such cell
    assert planted_cells(copy, load_dataset(None), "clswgan", [0], [0]) == {}  # nothing planted


def test_the_chance_row_scores_the_random_methods_genotypes_untrained(planted_grid):
    from zeronas.synthetic import CHANCE_DRAWS

    data, out = planted_grid
    planted = planted_genotype(data)
    assert planted is not None
    chance = chance_recovery(_tiny_config(data), planted, n=3)
    cells = json.loads((out / "recovery.json").read_text())["awa2_planted/clswgan"]["random"]  # draws 0-2, trained
    for key in ("edges", "ops", "activations"):
        assert list(chance[key]) == [c[key] for c in cells]
    full = chance_recovery(_tiny_config(data), planted)
    row = f"| chance: random genotypes of the space, untrained | {CHANCE_DRAWS} | {100 * full['edges'].mean():.1f} ±"
    assert row in (out / "recovery.md").read_text()


def test_planted_trains_the_planted_generator_with_fixs_critic(planted_grid):
    from zeronas.nas.genotype import fixed_genotype

    data, out = planted_grid
    cell = out / "cells/awa2_planted/clswgan/planted/seed0"
    pair = Genotype.load(cell / "genotype.json")
    assert pair.generator == planted_genotype(data)
    assert pair.critic == fixed_genotype(16).critic  # TINY's model.fix_hidden
    metrics = json.loads((cell / "metrics.json").read_text())
    row = next(line for line in (out / "compare.md").read_text().splitlines() if "planted generator's arch" in line)
    assert row.split(" | ")[2] == f"{100 * metrics['zsl_top1']:.1f}"


def test_planted_needs_a_planted_architecture(tmp_path):
    from zeronas.data import load_dataset
    from zeronas.errors import ZeroNASError
    from zeronas.experiments.grid import planted_pair

    with pytest.raises(ZeroNASError, match="not a planted-architecture benchmark"):
        planted_pair(load_dataset(None), load_config(None, "fmnist")[0])


def test_oracle_needs_a_planted_benchmark(tmp_path):
    from zeronas.baselines.generators import oracle_evaluate
    from zeronas.data import load_dataset
    from zeronas.errors import ZeroNASError

    with pytest.raises(ZeroNASError, match="not a semi-synthetic benchmark"):
        oracle_evaluate(load_dataset(None), load_config(None, "fmnist")[0])


def test_random_draws_as_a_range_reuse_and_add_cells(planted_grid, tmp_path):
    import shutil

    data, out = planted_grid
    copy = tmp_path / "grid"
    shutil.copytree(out, copy)
    args = ["experiment", "compare", "--data", str(data), "--seeds", "1", "--out", str(copy), "--methods", "random"]
    res = CliRunner().invoke(cli, [*args, "--random-draws", "1-2", *TINY], catch_exceptions=True)
    assert res.exit_code == 0, res.output + repr(res.exception)
    assert "[run]" not in res.output  # both draws were finished
    md = (copy / "compare.md").read_text()
    assert "random genotypes, median of 2 (draws 1-2) [quartiles]" in md
    assert json.loads((copy / "grid.json").read_text())["asked"][-1]["random_draws"] == [1, 2]
    res = CliRunner().invoke(cli, [*args, "--random-draws", "3,4", *TINY], catch_exceptions=True)
    assert res.exit_code == 0, res.output + repr(res.exception)
    drawn = sorted(p.name for p in (copy / "cells/awa2_planted/clswgan/random").iterdir())
    assert drawn == ["draw0", "draw1", "draw2", "draw3", "draw4"]


def test_bad_random_draws_end_the_command_with_one_line(tmp_path, monkeypatch, capsys):
    import sys

    import zeronas.cli

    out = tmp_path / "grid"
    argv = ["zeronas", "experiment", "compare", "--random-draws", "2,2", "--out", str(out)]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as exc:
        zeronas.cli.main()
    assert exc.value.code == 2
    assert capsys.readouterr().err.splitlines() == ["zeronas: error: --random-draws '2,2': draw 2 is given twice"]
    assert not out.exists()


def test_the_run_summary_prints_the_planted_recovery(planted_grid, capsys):
    from zeronas.cli import _print_metrics

    _, out = planted_grid
    cell = out / "cells/awa2_planted/clswgan/nas/seed0"
    metrics = json.loads((cell / "metrics.json").read_text())
    found = metrics["search"]["recovery"]
    _print_metrics(metrics, cell)
    line = next(s for s in capsys.readouterr().out.splitlines() if s.startswith("planted generator recovered"))
    edges = f"edges {100 * found['edges']:.0f}% (chance {100 * found['chance']['edges']:.0f}%"
    assert f"{edges}, reached by {100 * found['chance_at_least']['edges']:.0f}% of random genotypes)" in line


EDGE_REMOVAL = Path(__file__).resolve().parents[2] / "scripts" / "edge_removal.py"


def test_edge_removal_probe_scores_every_in_edge_and_restores_the_supernet(planted_grid, monkeypatch, capsys):
    """scripts/edge_removal.py on a finished search of the grid: a drop per in-edge of every
    node, the two derived generators with their recovery, alpha/beta left as trained, and no
    test sample read."""
    import torch

    from zeronas.data import ZSLDataset

    data, out = planted_grid
    run = next((out / "cells/awa2_planted/clswgan/nas").glob("*/search"))

    def no_test(self):
        raise AssertionError("the probe read the test task")

    monkeypatch.setattr(ZSLDataset, "test_task", no_test)
    monkeypatch.setattr(sys, "argv", [str(EDGE_REMOVAL), str(run), "--data", str(data), "--per-class", "5"])
    probe = runpy.run_path(str(EDGE_REMOVAL), run_name="__main__")
    text = capsys.readouterr().out
    nodes = re.findall(r"^  node (\d+): (.+)$", text, flags=re.M)
    assert [int(j) for j, _ in nodes] == list(range(3, 8))
    for j, cells in nodes:  # G's output reads every earlier node in the paper's space
        assert [int(i) for i in re.findall(r"(\d+): [+-]\d\.\d{4} \[", cells)] == list(range(int(j)))
    signal = re.search(r"^  (0: .+)$", text, flags=re.M).group(1)
    assert [int(j) for j in re.findall(r"(\d+): \d\.\d{4} / \d\.\d{4}", signal)] == list(range(8))
    found = dict(re.findall(r"^(alpha/beta|removal)\s+G (.+)$", text, flags=re.M))
    assert set(found) == {"alpha/beta", "removal"} and text.count("planted generator recovered:") == 2
    assert found["alpha/beta"] == str(Genotype.load(run / "genotype.json").generator)

    # the drops leave the supernet as trained
    from zeronas.api import load_dataset
    from zeronas.engine.search import search_session
    from zeronas.runs import load_checkpoint

    cfg = _tiny_config(data)
    session = search_session(cfg, load_dataset(data), torch.device("cpu"))
    session.load_state_dict(load_checkpoint(run / "checkpoint.pt")["state"])
    before = [p.detach().clone() for p in session.G.arch_parameters()]
    edges, ops = probe["removal_drops"](session.G, probe["fit_scorer"](session, 5))
    assert all(torch.equal(a, b) for a, b in zip(before, session.G.arch_parameters(), strict=True))
    assert all(np.isfinite(d).sum() == j for j, d in edges.items())
    assert all(np.isfinite(d).sum() == len(session.G.ops) for d in ops.values())


JUDGE = Path(__file__).resolve().parents[2] / "scripts" / "judge_search.py"


def test_judge_search_recomputes_the_verdict_from_the_search_files(planted_grid, tmp_path, monkeypatch, capsys):
    """scripts/judge_search.py: the verdict of a finished search recomputed from its files
    (not echoed from genotype.json), one line per search and a count."""
    import shutil

    _, out = planted_grid
    run = next((out / "cells/awa2_planted/clswgan/nas").glob("*/search"))
    copy = shutil.copytree(run.parent, tmp_path / "cell") / "search"
    stored = json.loads((copy / "genotype.json").read_text())
    decisive = stored["search"]["decisive"]
    stored["search"]["decisive"] = not decisive  # what an older verdict might have said
    (copy / "genotype.json").write_text(json.dumps(stored))
    monkeypatch.setattr(sys, "argv", [str(JUDGE), str(run), str(copy)])
    runpy.run_path(str(JUDGE), run_name="__main__")
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].endswith(f"decisive: stored {decisive}, now {decisive}")
    assert lines[1].endswith(f"decisive: stored {not decisive}, now {decisive}")
    assert lines[2] == f"decisive: 1 of 2 as stored, {2 * decisive} of 2 now"
    monkeypatch.setattr(sys, "argv", [str(JUDGE), str(tmp_path)])  # no search there: one line, non-zero exit
    with pytest.raises(SystemExit, match=r"^judge_search.py: .*: not a finished search directory \(") as exc:
        runpy.run_path(str(JUDGE), run_name="__main__")
    assert "\n" not in str(exc.value)


OP_SCALES = Path(__file__).resolve().parents[2] / "scripts" / "op_scales.py"
_SCALE_ROW = re.compile(r"^ +(\d+|out) \| +([\d.]+) \| +([\d.]+) \| +([\d.]+) \| +([\d.]+)$", flags=re.M)


def test_op_scales_probe_measures_the_batch_norm_candidates_lead_under_each_init(planted_grid, monkeypatch, capsys):
    """scripts/op_scales.py: under f-CLSWGAN's N(0, 0.02) the batch-norm candidates' outputs
    are several times the others' at every node of G; He initialisation brings them level; a
    finished search is read from its checkpoint; no test sample is read."""
    from zeronas.data import ZSLDataset

    data, out = planted_grid

    def no_test(self):
        raise AssertionError("the probe read the test task")

    monkeypatch.setattr(ZSLDataset, "test_task", no_test)

    def probe(*args: str) -> list[list[tuple[str, float]]]:
        monkeypatch.setattr(sys, "argv", [str(OP_SCALES), *args])
        runpy.run_path(str(OP_SCALES), run_name="__main__")
        blocks = capsys.readouterr().out.split("node | RMS")[1:]
        return [[(m[0], float(m[4])) for m in _SCALE_ROW.findall(b)] for b in blocks]

    normal, kaiming = probe("--data", str(data), "--init", "normal,kaiming")
    nodes = [j for j, _ in normal]
    assert nodes == [j for j, _ in kaiming] and nodes[0] == "3" and nodes[-1] == "out" and len(nodes) >= 3
    assert all(r > 3 for _, r in normal)
    assert all(rk < rn / 2 for (_, rk), (_, rn) in zip(kaiming, normal, strict=True))
    search = next((out / "cells/awa2_planted/clswgan/nas").glob("*/search"))
    (trained,) = probe("--run", str(search), "--data", str(data))
    assert [j for j, _ in trained][-1] == "out" and all(r > 0 for _, r in trained)


def test_matched_recovery_tells_a_data_driven_search_from_a_constant_one():
    from zeronas.experiments.recovery import matched_recovery
    from zeronas.nas.genotype import random_genotype

    rng = np.random.default_rng(0)
    planted = [random_genotype("generator", (8, 8, 8, 8), rng, ops=("fc_relu", "fc_lrelu")) for _ in range(4)]
    assert len({str(p) for p in planted}) == 4
    own = matched_recovery(planted, planted)  # each search finds its own benchmark's generator
    for r in own.values():
        assert r["matched"] == 1.0 and r["mismatched"] < 1.0 and np.diag(r["matrix"]).tolist() == [1.0] * 4
        assert 1 / 24 <= r["p"] < 0.25  # only pairings that also recover everything tie with it
    same = matched_recovery([planted[0]] * 4, planted)  # one generator whatever the data
    for r in same.values():
        assert r["matched"] == pytest.approx(r["mismatched"]) and r["p"] == 1.0
    shifted = matched_recovery(planted[1:] + planted[:1], planted)  # each finds another's generator
    assert shifted["edges"]["matched"] < shifted["edges"]["mismatched"] and shifted["edges"]["p"] > 0.5
    nine = [random_genotype("generator", (8, 8, 8, 8), rng, ops=("fc_relu", "fc_lrelu")) for _ in range(9)]
    assert matched_recovery(nine, nine)["ops"]["p"] < 1e-3  # sampled pairings beyond eight searches
    for bad in (([planted[0]], [planted[0]]), (planted, planted[:3])):
        with pytest.raises(ValueError, match="one planted generator per search"):
            matched_recovery(*bad)


def test_a_grid_on_several_planted_benchmarks_matches_each_search_to_its_own(planted_grid, tmp_path):
    """``experiment compare`` on two planted benchmarks: a recovery section per benchmark in
    recovery.md, and each search seed's generators scored against their own benchmark's planted
    generator and the other's (matched_recovery of the cells' genotypes)."""
    from zeronas.experiments.recovery import matched_recovery

    data, _ = planted_grid
    other = tmp_path / "awa2_planted_b"
    cfg = SynthConfig(base="awa2", variant="genotype", widths=(8, 8, 8, 8), feature_dim=16, seed=1)
    cfg.trainval_per_class, cfg.test_seen_per_class, cfg.test_unseen_per_class = 6, 2, 4
    build_benchmark(cfg, other)
    out = tmp_path / "grid"
    args = ["experiment", "compare", "--data", str(data), "--data", str(other), "--seeds", "1", "--out", str(out)]
    res = CliRunner().invoke(cli, [*args, "--methods", "nas", *TINY], catch_exceptions=True)
    assert res.exit_code == 0, res.output + repr(res.exception)
    text = (out / "recovery.md").read_text()
    assert "Recovery of the planted generator (awa2_planted, clswgan)" in text
    assert "Recovery of the planted generator (awa2_planted_b, clswgan)" in text
    assert set(json.loads((out / "recovery.json").read_text())) == {"awa2_planted/clswgan", "awa2_planted_b/clswgan"}
    found = [
        Genotype.load(out / f"cells/{d.name}/clswgan/nas/seed0/search/genotype.json").generator for d in (data, other)
    ]
    r = matched_recovery(found, [planted_genotype(data), planted_genotype(other)])
    row = re.search(r"^\| nas \| seed0 \| 2 \| (.+) \|$", text, flags=re.M)
    assert row is not None, text
    expected = [f"{100 * r[k]['matched']:.1f} / {100 * r[k]['mismatched']:.1f} (p {r[k]['p']:.3f})" for k in r]
    assert row.group(1).split(" | ") == expected
    assert "Across the planted benchmarks (clswgan)" in res.output


PLANTED_MATCHING = Path(__file__).resolve().parents[2] / "scripts" / "planted_matching.py"


def test_planted_matching_scores_each_search_against_every_benchmark(planted_grid, tmp_path, monkeypatch, capsys):
    """scripts/planted_matching.py on two searches, each on its own planted benchmark: the
    recovery matrix, each search against its own chance level, matched against mismatched;
    and a clear error for two searches on one benchmark or a benchmark without a planted
    generator."""
    import shutil

    data, out = planted_grid
    search = next((out / "cells/awa2_planted/clswgan/nas").glob("*/search"))
    other = tmp_path / "awa2_planted_s1"
    cfg = SynthConfig(base="awa2", variant="genotype", widths=(8, 8, 8, 8), feature_dim=16, seed=1)
    cfg.trainval_per_class, cfg.test_seen_per_class, cfg.test_unseen_per_class = 6, 2, 4
    build_benchmark(cfg, other)
    second = tmp_path / "second"  # the same genotype, recorded as searched on the other benchmark
    shutil.copytree(search.parent, second)
    record = json.loads((second / "config.json").read_text())
    record["data"] = str(other)
    (second / "config.json").write_text(json.dumps(record))

    def run(*runs: Path) -> str:
        monkeypatch.setattr(sys, "argv", [str(PLANTED_MATCHING), *map(str, runs)])
        runpy.run_path(str(PLANTED_MATCHING), run_name="__main__")
        return capsys.readouterr().out

    text = run(search.parent, second)
    found = Genotype.load(search / "genotype.json").generator
    planted = [planted_genotype(data), planted_genotype(other)]
    from zeronas.synthetic import recovery

    rows = re.findall(r"^  (\d) .{26}((?:\s+\d+)+)$", text, flags=re.M)
    assert [int(i) for i, _ in rows] == [0, 1]
    for _, cells in rows:  # one genotype: both rows score it against the two planted generators
        assert [int(v) for v in cells.split()] == [round(100 * recovery(found, p)["edges"]) for p in planted]
    own = [recovery(found, p)["edges"] for p in planted]
    assert f"edges       matched {100 * np.mean(own):5.1f}%  mismatched {100 * np.mean(own):5.1f}%  p 1.000" in text
    assert text.count("planted generator recovered: ") == 2 and "distinct generators found: 1 of 2" in text

    with pytest.raises(SystemExit, match="same benchmark"):
        run(search.parent, search.parent)
    record["data"] = str(Path(__file__).resolve().parents[2] / "src/zeronas/datasets/fmnist")
    (second / "config.json").write_text(json.dumps(record))
    with pytest.raises(SystemExit, match="not a planted-architecture benchmark"):
        run(search.parent, second)
    (second / "config.json").write_text(json.dumps({**record, "data": str(other)}))
    (second / "search" / "genotype.json").unlink()  # a search stopped before it derived its pair
    unfinished = rf"^error: {re.escape(str(second))}: not a finished search \(.*file not found\)$"
    with pytest.raises(SystemExit, match=unfinished):
        run(search.parent, second)
