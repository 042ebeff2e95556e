"""Progress within an epoch: a bar on a terminal (epoch lines written around it), plain timed
lines elsewhere."""

from __future__ import annotations

import io

import torch

from zeronas.engine.runner import EpochRunner, Progress, Stage


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_plain_lines_every_n_seconds_with_stage_epoch_iteration_and_eta():
    clock, lines = Clock(), []
    p = Progress("search", 2, 4, 4, lines.append, tty=False, every=30, clock=clock)
    for epoch in (2, 3, 4):
        p.begin_epoch(epoch)
        for _ in range(4):
            clock.now += 10
            p.tick()
        p.end_epoch()
    # 12 iterations of 10 s: a line at 30, 60, 90 and 120 s
    assert lines == [
        "progress: search epoch 2/4, iteration 3/4, 30s elapsed, ETA 1m30s",
        "progress: search epoch 3/4, iteration 2/4, 1m00s elapsed, ETA 1m00s",
        "progress: search epoch 4/4, iteration 1/4, 1m30s elapsed, ETA 30s",
        "progress: search epoch 4/4, iteration 4/4, 2m00s elapsed, ETA 0s",
    ]


def test_a_stage_that_reports_no_iterations_moves_by_epochs():
    clock, lines = Clock(), []
    p = Progress("train", 1, 2, None, lines.append, tty=False, every=1, clock=clock)
    p.begin_epoch(1)
    clock.now += 5
    p.end_epoch()
    assert lines == ["progress: train epoch 1/2, iteration 1/1, 5s elapsed, ETA 5s"]


def test_every_zero_turns_the_plain_lines_off():
    clock, lines = Clock(), []
    p = Progress("train", 1, 1, 3, lines.append, tty=False, every=0, clock=clock)
    for _ in range(3):
        clock.now += 100
        p.tick()
    assert lines == []


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_a_bar_and_lines_that_never_glue_to_it():
    term = FakeTerminal()
    p = Progress("search", 1, 2, 5, lambda m: None, stream=term)
    assert p.bar is not None
    p.begin_epoch(1)
    for _ in range(5):
        p.tick()
    p.write("search epoch 1: done", lambda m: term.write(m + "\n"))
    p.close()
    text = term.getvalue()
    assert "search epoch 1/2" in text and "5/10" in text
    before = text[: text.index("search epoch 1: done")]
    assert before.endswith("\r") or before.endswith("\n")  # the bar was cleared first


class _Session:
    device = torch.device("cpu")

    def state_dict(self) -> dict:
        return {}


class _Stage(Stage):
    def iterations(self) -> int:
        return 3

    def train_epoch(self, epoch: int) -> dict[str, float]:
        for _ in range(3):
            self.tick()
        return {"loss": 1.0}


def test_the_runner_reports_each_iteration(tmp_path, monkeypatch):
    monkeypatch.setenv("ZERONAS_PROGRESS_EVERY", "1e-9")
    lines: list[str] = []

    class Settings:
        checkpoint_every = 1
        tensorboard = False

    runner = EpochRunner(tmp_path, "train", "history.csv", Settings(), log=lines.append, resume=False)
    runner.run(_Stage("toy", _Session(), 2), 1)  # type: ignore[arg-type]
    progress = [ln for ln in lines if ln.startswith("progress:")]
    assert [ln.split(", ")[1] for ln in progress] == [f"iteration {i}/3" for i in (1, 2, 3, 1, 2, 3)]
    epochs = [ln for ln in lines if not ln.startswith("progress:")]
    assert [ln.split(" seconds=")[0] for ln in epochs] == ["toy epoch 1 loss=1.0000", "toy epoch 2 loss=1.0000"]
