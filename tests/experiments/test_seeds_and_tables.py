"""``--seeds`` lists and ranges, the tables' LaTeX and CSV beside the Markdown, and the
figures of a grid whose seeds do not start at 0."""

from __future__ import annotations

import csv
import json
import sys

import pytest

import zeronas.cli
from tests.experiments.test_experiments import TINY, invoke
from zeronas.errors import ZeroNASError
from zeronas.experiments import Grid, parse_seeds
from zeronas.experiments.figures import _first_seed_cells
from zeronas.experiments.grid import seeds_label
from zeronas.experiments.tables import latex_table, markdown_table


@pytest.mark.parametrize(
    "text, seeds",
    [
        ("3", [0, 1, 2]),
        (" 2 ", [0, 1]),
        ("0,1,2", [0, 1, 2]),
        ("0-4", [0, 1, 2, 3, 4]),
        ("3,5-7", [3, 5, 6, 7]),
        ("5-5", [5]),
        ("7, 2", [7, 2]),
    ],
)
def test_seeds_as_a_count_a_list_or_a_range(text, seeds):
    assert parse_seeds(text) == seeds


@pytest.mark.parametrize(
    "text, message",
    [
        ("0", "at least 1"),
        ("", "expected N"),
        ("a", "expected N"),
        ("1.5", "expected N"),
        ("1-", "expected N"),
        ("-1", "expected N"),
        ("1,,2", "expected N"),
        ("3-1", "the range 3-1 is empty"),
        ("1,1", "seed 1 is given twice"),
        ("0-2,2", "seed 2 is given twice"),
    ],
)
def test_bad_seeds_are_refused(text, message):
    with pytest.raises(ZeroNASError, match=message) as err:
        parse_seeds(text)
    assert str(err.value).startswith(f"--seeds {text!r}: ")


def test_bad_seeds_end_the_command_with_one_line(tmp_path, monkeypatch, capsys):
    out = tmp_path / "grid"
    monkeypatch.setattr(sys, "argv", ["zeronas", "experiment", "compare", "--seeds", "4-2", "--out", str(out)])
    with pytest.raises(SystemExit) as exc:
        zeronas.cli.main()
    assert exc.value.code == 2
    assert capsys.readouterr().err.splitlines() == ["zeronas: error: --seeds '4-2': the range 4-2 is empty"]
    assert not out.exists()


def test_seeds_label():
    assert seeds_label([0, 1, 2]) == "0-2"
    assert seeds_label([3]) == "3"
    assert seeds_label([0, 2, 5]) == "0, 2, 5"


def test_a_grid_of_seed_counts_is_adopted_and_records_each_request(tmp_path):
    old = {"datasets": ["d"], "seeds": 3, "sets": [], "random_draws": 8}  # a grid before seed lists
    (tmp_path / "grid.json").write_text(json.dumps(old))
    Grid(tmp_path, ["d"], [0, 1, 2]).open("compare")
    Grid(tmp_path, ["d"], [0, 1]).open("compare")  # grids grow or shrink by cell keys: no refusal
    asked = json.loads((tmp_path / "grid.json").read_text())["asked"]
    assert asked[0] == {"command": "?", **old}
    assert [a["seeds"] for a in asked[1:]] == [[0, 1, 2], [0, 1]]


def test_a_compare_grid_over_a_seed_list(tmp_path):
    out = tmp_path / "grid"
    res = invoke("experiment", "compare", "--seeds", "1,3", "--methods", "eszsl,fix", "--out", str(out), *TINY)
    assert res.exit_code == 0, res.output + repr(res.exception)
    fix = sorted(p.name for p in (out / "cells/fmnist/clswgan/fix").iterdir())
    assert fix == ["seed1", "seed3"]
    assert sorted(p.name for p in (out / "cells/fmnist/eszsl").iterdir()) == ["seed1"]
    assert json.loads((out / "grid.json").read_text())["asked"][-1]["seeds"] == [1, 3]
    md = (out / "compare.md").read_text()
    assert "over seeds 1, 3, in %" in md
    rows = list(csv.DictReader((out / "compare.csv").open()))
    assert {(r["method"], r["runs"]) for r in rows} == {("eszsl", "1"), ("fix", "2")}
    tex = (out / "compare.tex").read_text()
    assert "\\begin{tabular}{l" + "r" * 7 + "}" in tex
    assert "f-CLSWGAN FIX & " in tex and "$\\pm$" in tex and "H (cal.) \\\\" in tex
    # the LaTeX table has the Markdown table's rows, cell for cell
    md_rows = [line for line in md.splitlines() if line.startswith("| ") and "---" not in line]
    tex_rows = [line for line in tex.splitlines() if line.endswith("\\\\")]
    assert len(md_rows) == len(tex_rows) == 3


def test_latex_escapes_what_tex_reads_otherwise():
    table = [["searched on \\ trained on", "a_b ZSL (%)"], ["FIX #1", "12.5 ± 0.3"], ["x & y", "–"]]
    tex = latex_table(table, "Mean ± std, in %.")
    assert tex.splitlines() == [
        "% Mean ± std, in %.",
        "\\begin{tabular}{lr}",
        "\\toprule",
        "searched on \\textbackslash{} trained on & a\\_b ZSL (\\%) \\\\",
        "\\midrule",
        "FIX \\#1 & 12.5 $\\pm$ 0.3 \\\\",
        "x \\& y & -- \\\\",
        "\\bottomrule",
        "\\end{tabular}",
    ]
    assert markdown_table(table).splitlines()[:2] == ["| searched on \\ trained on | a_b ZSL (%) |", "|---|---|"]


def test_figures_take_the_lowest_finished_seed_of_each_framework(tmp_path):
    cells = tmp_path / "cells"
    for rel in ("fmnist/clswgan/nas/seed10", "fmnist/clswgan/nas/seed2", "fmnist/lisgan/nas/seed0"):
        (cells / rel).mkdir(parents=True)
        (cells / rel / "metrics.json").write_text("{}")
    (cells / "fmnist/lisgan/nas/seed1").mkdir()  # unfinished: no metrics.json
    found = [c.relative_to(cells).as_posix() for c in _first_seed_cells(cells)]
    assert found == ["fmnist/clswgan/nas/seed2", "fmnist/lisgan/nas/seed0"]
    assert _first_seed_cells(tmp_path / "none") == []


def test_the_help_names_the_seed_forms():
    res = invoke("experiment", "compare", "--help")
    assert "0,1,2" in res.output and "0-4" in res.output


def test_the_methods_help_names_every_method_and_each_searchs_settings():
    """``--methods``' help names the methods by hand (``--help`` loads no experiment code, where
    ``METHODS`` lives) and each search's settings from ``SEARCH_SETTINGS``: it must not fall behind."""
    from zeronas.cli import experiment
    from zeronas.config import ONE_SIDED, SEARCH_SETTINGS
    from zeronas.experiments.grid import METHODS

    option = next(p for p in experiment.commands["compare"].params if p.name == "methods")
    text = " ".join(str(option.help).split())
    named = {w.strip("(),.") for w in text.replace(",", " ").split()}
    assert set(METHODS) <= named, set(METHODS) - named
    for method, settings in SEARCH_SETTINGS.items():
        if method in ONE_SIDED:  # self-describing names
            continue
        said = text.split(f"{method} (", 1)[1].split(")", 1)[0]
        assert said.split(", ") == [f"{key}={value}" for key, value in settings.items()], method
