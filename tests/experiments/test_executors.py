"""Grids on executors (``--executor local|ray``, ``--jobs``): the same tables whatever computes the
cells, failed cells retried then reported, finished cells never computed again."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import zeronas.cli
from tests.experiments.test_experiments import TINY, _cells, _ran, invoke
from zeronas.errors import ZeroNASError
from zeronas.experiments.executors import EXECUTORS, LocalExecutor, Task, run_tasks

# One torch thread per cell for every executor: CPU float results can depend on the thread
# count, and equal --threads is what makes the tables equal across executors.
GRID = ["experiment", "compare", "--seeds", "2", "--methods", "eszsl,fix", "--threads", "1", *TINY]
CELLS = {"fmnist/eszsl/seed0", "fmnist/clswgan/fix/seed0", "fmnist/clswgan/fix/seed1"}


def _tables(grid: Path) -> tuple[str, str]:
    return (grid / "compare.md").read_text(), (grid / "compare.csv").read_text()


@pytest.fixture(scope="module")
def sequential(tmp_path_factory) -> Path:
    """The 2 seeds x 2 methods grid computed one cell after the other in this process (the default)."""
    out = tmp_path_factory.mktemp("sequential") / "grid"
    res = invoke(*GRID, "--out", str(out))
    assert res.exit_code == 0, res.output + repr(res.exception)
    assert _ran(res.output) == CELLS
    return out


def test_local_processes_give_the_same_tables_and_a_rerun_computes_nothing(sequential, tmp_path):
    out = tmp_path / "jobs2"
    res = invoke(*GRID, "--out", str(out), "--jobs", "2")
    assert res.exit_code == 0, res.output + repr(res.exception)
    assert _ran(res.output) == CELLS
    assert _tables(out) == _tables(sequential)

    before = _cells(out)
    res = invoke(*GRID, "--out", str(out), "--jobs", "2")
    assert res.exit_code == 0, res.output + repr(res.exception)
    assert _ran(res.output) == set() and "[done] fmnist/clswgan/fix/seed1" in res.output
    assert _cells(out) == before
    assert _tables(out) == _tables(sequential)


def test_ray_gives_the_same_tables(sequential, tmp_path):
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False)  # the grid joins the Ray this process started
    try:
        res = invoke(*GRID, "--out", str(tmp_path / "ray"), "--executor", "ray")
    finally:
        ray.shutdown()
    assert res.exit_code == 0, res.output + repr(res.exception)
    assert _ran(res.output) == CELLS
    assert _tables(tmp_path / "ray") == _tables(sequential)


def test_a_failing_cell_is_retried_then_reported_and_the_others_finish(tmp_path):
    out = tmp_path / "failing"
    blocked = out / "cells/fmnist/clswgan/fix/seed0"
    blocked.parent.mkdir(parents=True)
    blocked.write_text("a file where the cell's directory goes: every attempt fails")
    res = invoke(*GRID, "--out", str(out), "--jobs", "2", "--retries", "1")
    assert isinstance(res.exception, ZeroNASError) and res.exit_code != 0
    message = str(res.exception)
    assert message.startswith("1 of 3 cells failed after 2 attempt(s), the others finished: ")
    assert "fmnist/clswgan/fix/seed0 (FileExistsError" in message and "\n" not in message
    assert "[retry] attempt 2 of 2: fmnist/clswgan/fix/seed0" in res.output
    assert set(_cells(out)) == CELLS - {"fmnist/clswgan/fix/seed0"}
    assert not (out / "compare.md").exists()


def test_run_tasks_retries_each_failed_task_and_runs_all_others():
    calls: list[str] = []

    def call(label: str, fails: bool):
        def run(log) -> None:
            calls.append(label)
            if fails:
                raise RuntimeError(f"{label} broke")

        return run

    tasks = [Task("a", call("a", False)), Task("b", call("b", True)), Task("c", call("c", False))]
    lines: list[str] = []
    with pytest.raises(ZeroNASError, match=r"^1 of 3 cells failed after 3 attempt\(s\).*: b \(RuntimeError: b broke\)"):
        run_tasks(LocalExecutor(retries=2), tasks, lines.append)
    assert calls == ["a", "b", "c", "b", "b"]
    assert sum(line.startswith("[retry]") for line in lines) == 2


def test_ray_missing_is_one_line_naming_the_extra(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    out = tmp_path / "grid"
    monkeypatch.setattr(sys, "argv", ["zeronas", *GRID, "--out", str(out), "--executor", "ray"])
    with pytest.raises(SystemExit) as exc:
        zeronas.cli.main()
    assert exc.value.code == 2
    assert capsys.readouterr().err.splitlines() == [
        "zeronas: error: --executor ray needs Ray: pip install 'zeronas[ray]'"
    ]
    assert not out.exists()


def test_ray_address_needs_the_ray_executor(tmp_path):
    res = invoke(*GRID, "--out", str(tmp_path / "grid"), "--ray-address", "auto")
    assert isinstance(res.exception, ZeroNASError) and "--ray-address needs --executor ray" in str(res.exception)


def test_the_executor_option_offers_every_executor():
    option = next(p for p in zeronas.cli.compare.params if p.name == "executor")
    assert list(option.type.choices) == list(EXECUTORS)  # type: ignore[attr-defined]
