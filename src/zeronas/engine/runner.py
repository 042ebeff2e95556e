"""The epoch loop of every search and training, and what it owns around the steps.

:class:`EpochRunner` drives the epochs of one run directory: it resumes from the
directory's checkpoint, seeds (and restores the random state), shows progress, stops on a
non-finite loss (:class:`~zeronas.errors.DivergenceError`, the last good checkpoint kept),
writes each epoch's row (the history CSV, TensorBoard), and checkpoints every
``checkpoint_every`` epochs. What an epoch does is a :class:`Stage`'s business: the search
(``zeronas.engine.search``) and the trainer (``zeronas.engine.train``) subclass it.

Extension points:

- :attr:`EpochRunner.on_row`: ``hook(stage, epoch, row)`` after an epoch's scores, before
  its row is written; it may add columns (e.g. architecture margins).
- :attr:`EpochRunner.on_epoch`: ``hook(stage_name, epoch, session)`` after the epoch's
  checkpoint.
- :meth:`Stage.begin_epoch`: per-epoch schedules (the Gumbel temperature; learning rates,
  warm-up epochs without architecture steps).
- Several stages can share one runner and one history (stage names are free): a training
  per validation fold, say, each resumable.

Scoring an epoch (:meth:`Stage.row` and the ``on_row`` hooks) draws from a fork of torch's
random state, so that the training continues with the same draws whichever epochs are
scored: a final training's ZSL figure does not depend on which epoch GZSL selected, nor a
fold's training on ``eval_every``.

Progress: a stage that says how many iterations an epoch has (:meth:`Stage.iterations`) and
calls :attr:`Stage.tick` after each shows progress within the epoch. On a terminal it is a
tqdm bar (stage, epoch, iterations, ETA of the stage), and the epoch lines are written around
it; elsewhere (a pipe, a batch log) a plain line every ``ZERONAS_PROGRESS_EVERY`` seconds (30 by
default; 0 turns it off) names the stage, epoch, iteration and ETA (:class:`Progress`).
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import IO, Any, Protocol

import torch
from tqdm import tqdm

from zeronas.engine.session import Session
from zeronas.errors import DivergenceError, ZeroNASError
from zeronas.evaluation.selection import is_accuracy
from zeronas.runs import CHECKPOINT, EpochLog, Log, load_checkpoint, save_checkpoint, seed_everything, set_rng_state


def scoring_rng(device: torch.device) -> AbstractContextManager:
    """A fork of torch's random state (CPU, and ``device`` when it is a GPU): what is drawn
    inside leaves the training's stream where it was."""
    return torch.random.fork_rng(devices=[device] if device.type == "cuda" else [])


class RunnerSettings(Protocol):
    """What the runner reads of a loop's config section (``cfg.train``, ``cfg.search``)."""

    checkpoint_every: int
    tensorboard: bool


def check_finite(losses: dict[str, float], where: str) -> None:
    for name, value in losses.items():
        if not math.isfinite(value):
            raise DivergenceError(f"{where}: loss '{name}' is {value}; the last good checkpoint is kept")


#: Environment variable: seconds between the plain progress lines off a terminal (0: none).
PROGRESS_EVERY_ENV = "ZERONAS_PROGRESS_EVERY"
PROGRESS_EVERY = 30.0


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else (f"{m}m{s:02d}s" if m else f"{s}s")


class Progress:
    """Progress through the iterations of epochs ``start..stop`` of one stage.

    On a terminal: a tqdm bar over the stage's iterations (resumed runs start part-way), its
    description the stage and epoch, with the ETA of the stage. Elsewhere: a plain line through
    ``log`` every ``every`` seconds, e.g. ``progress: search epoch 3/20, iteration 40/120,
    2m10s elapsed, ETA 14m05s``. The ETA divides the remaining iterations by the mean rate so far
    (which counts the epochs' scoring too).

    Args:
        label: the stage as the lines name it.
        start, stop: the first epoch to run and the last.
        iterations: iterations per epoch (1 when the stage does not tell: then it moves by epochs).
        log: where the plain lines go.
        tty: bar or lines; default: whether ``stream`` is a terminal.
        every: seconds between plain lines; default: ``$ZERONAS_PROGRESS_EVERY`` or 30.
        stream: the bar's stream (stderr).
        clock: seconds, monotonic (tests pass their own).
    """

    def __init__(
        self,
        label: str,
        start: int,
        stop: int,
        iterations: int | None,
        log: Callable[[str], None],
        *,
        tty: bool | None = None,
        every: float | None = None,
        stream: IO[str] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.label, self.stop, self.log, self.clock = label, stop, log, clock
        self.per_epoch = max(1, iterations or 1)
        self.epoch, self.done = start, 0  # iterations done in the current epoch
        self.total = max(0, stop - start + 1) * self.per_epoch  # still to run when the stage opens
        self.count = 0
        stream = stream or sys.stderr
        self.tty = bool(getattr(stream, "isatty", lambda: False)()) if tty is None else tty
        if every is None:
            try:
                every = float(os.environ.get(PROGRESS_EVERY_ENV, PROGRESS_EVERY))
            except ValueError:
                every = PROGRESS_EVERY
        self.every = every
        self.t0 = self.last = clock()
        self.bar: Any = None
        if self.tty and self.total:
            self.bar = tqdm(
                total=stop * self.per_epoch,
                initial=(start - 1) * self.per_epoch,
                desc=self._desc(),
                unit="it",
                file=stream,
                leave=False,
                smoothing=0,
                dynamic_ncols=True,
            )

    def _desc(self) -> str:
        return f"{self.label} epoch {self.epoch}/{self.stop}"

    def begin_epoch(self, epoch: int) -> None:
        self.epoch, self.done = epoch, 0
        if self.bar is not None:
            self.bar.set_description_str(self._desc(), refresh=False)

    def tick(self, n: int = 1) -> None:
        """``n`` iterations of the current epoch are done."""
        n = min(n, self.per_epoch - self.done)
        if n <= 0:
            return
        self.done += n
        self.count += n
        if self.bar is not None:
            self.bar.update(n)
            return
        now = self.clock()
        if self.every > 0 and now - self.last >= self.every:
            self.last = now
            self.log(self.line(now))

    def end_epoch(self) -> None:
        """The epoch is over: count the iterations the stage did not report."""
        self.tick(self.per_epoch - self.done)

    def line(self, now: float | None = None) -> str:
        """The plain progress line."""
        elapsed = (now if now is not None else self.clock()) - self.t0
        eta = elapsed / self.count * (self.total - self.count) if self.count else math.nan
        return (
            f"progress: {self._desc()}, iteration {self.done}/{self.per_epoch}, "
            f"{_duration(elapsed)} elapsed, ETA {_duration(eta) if math.isfinite(eta) else '?'}"
        )

    def write(self, msg: str, log: Callable[[str], None]) -> None:
        """``log(msg)`` without gluing it to the bar (cleared, then redrawn)."""
        if self.bar is None:
            log(msg)
            return
        with tqdm.external_write_mode(file=self.bar.fp):
            log(msg)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class Stage:
    """One training of a session over epochs ``..stop``, as the runner drives it.

    Subclasses implement :meth:`train_epoch` and may override the other methods. The
    stage's ``name`` is the ``stage`` of the checkpoint (a resumed run continues the stage
    of its checkpoint) and of the rows.
    """

    def __init__(self, name: str, session: Session, stop: int, label: str = ""):
        self.name, self.session, self.stop, self.label = name, session, stop, label or name
        #: Called after each iteration of :meth:`train_epoch` (the runner sets it: progress).
        self.tick: Callable[[], None] = lambda: None

    def iterations(self) -> int | None:
        """Iterations of one epoch, if the stage reports them through :attr:`tick`."""
        return None

    def begin_epoch(self, epoch: int) -> None:
        """Before the epoch's training (schedules)."""

    def train_epoch(self, epoch: int) -> dict[str, float]:
        """The epoch's training; returns its mean losses (checked to be finite)."""
        raise NotImplementedError

    def row(self, epoch: int, losses: dict[str, float]) -> dict:
        """The epoch's row of the history: ids, losses and whatever is scored after training."""
        return {"stage": self.name, "epoch": epoch, **losses}

    def where(self, epoch: int) -> str:
        """The epoch, as an error message names it."""
        return f"stage '{self.name}', epoch {epoch}"

    def describe(self, row: dict) -> str:
        """The log line of an epoch's row (accuracies in %)."""
        parts = [f"{row['stage']} epoch {row['epoch']}"]
        for k, v in row.items():
            if is_accuracy(k):
                parts.append(f"{k}={100 * v:.1f}%")
            elif k not in ("stage", "epoch") and isinstance(v, float):
                parts.append(f"{k}={v:.4f}")
        return " ".join(parts)

    def end_epoch(self, epoch: int, row: dict) -> None:
        """After the row is written, before the checkpoint (files of the stage's own)."""


class EpochRunner:
    """The epochs of one run directory (see the module docstring).

    Args:
        run_dir: the run directory (``checkpoint.pt``, the history CSV, ``tensorboard/``).
        kind: what runs there (``train``, ``search``), recorded in the checkpoint.
        history_file: the CSV of the epochs' rows, rewritten whole after every epoch.
        settings: the loop's config section: ``checkpoint_every`` (in epochs; the last epoch
            of a stage always) and ``tensorboard`` (also log each row to ``run_dir/tensorboard``).
        log: where each epoch's line goes.
        resume: continue from ``run_dir/checkpoint.pt`` if it exists.
        tb_prefix: prefix of the TensorBoard tags.
    """

    def __init__(
        self,
        run_dir: Path,
        kind: str,
        history_file: str,
        settings: RunnerSettings,
        *,
        log: Log,
        resume: bool,
        tb_prefix: str = "",
    ):
        self.run_dir, self.kind, self.log = run_dir, kind, log
        self.checkpoint_every = settings.checkpoint_every
        path = run_dir / CHECKPOINT
        self.saved: dict | None = load_checkpoint(path) if resume and path.is_file() else None
        self.history: list[dict] = self.saved["history"] if self.saved else []
        self.epoch_log = EpochLog(run_dir / history_file, settings.tensorboard, tb_prefix)
        #: The program's own state, saved with every checkpoint (by key).
        self.state: dict[str, object] = {}
        self.on_row: list[Callable[[Stage, int, dict], None]] = []
        self.on_epoch: list[Callable[[str, int, Session], None]] = []

    @property
    def saved_stage(self) -> str | None:
        """The stage of the checkpoint resumed from, if any."""
        return self.saved["stage"] if self.saved else None

    def restored(self, key: str, default: Any) -> Any:
        """A program state saved with the checkpoint resumed from (``default`` if none)."""
        return self.saved.get(key, default) if self.saved else default

    def open(self, stage: str, seed: int, build: Callable[[], Session]) -> tuple[Session, int]:
        """Seed, build a stage's session, and restore it when the checkpoint is of this stage.

        Returns the session and the first epoch to run.
        """
        seed_everything(seed)
        session = build()
        if self.saved is not None and self.saved["stage"] == stage:
            session.load_state_dict(self.saved["state"])
            set_rng_state(self.saved["rng"])
            return session, self.saved["epoch"] + 1
        return session, 1

    def run(self, stage: Stage, start: int) -> None:
        """Epochs ``start..stage.stop`` of ``stage``.

        Raises :class:`ZeroNASError` when the checkpoint resumed from is past ``stage.stop``
        (a configuration asking for fewer epochs than were run), before anything is written."""
        if start - 1 > stage.stop:
            per = stage.iterations()
            of = f" of {per} iterations" if per is not None else ""
            raise ZeroNASError(
                f"{self.run_dir}: stage '{stage.name}' has already run {start - 1} epochs{of}; "
                f"this configuration asks for {stage.stop}"
            )
        if start > stage.stop:
            return
        bar = Progress(stage.label, start, stage.stop, stage.iterations(), self.log)
        stage.tick = bar.tick
        try:
            for epoch in range(start, stage.stop + 1):
                t0 = time.perf_counter()
                bar.begin_epoch(epoch)
                stage.begin_epoch(epoch)
                losses = stage.train_epoch(epoch)
                bar.end_epoch()
                check_finite(losses, stage.where(epoch))
                with scoring_rng(stage.session.device):
                    row = stage.row(epoch, losses)
                    for hook in self.on_row:
                        hook(stage, epoch, row)
                row["seconds"] = round(time.perf_counter() - t0, 3)
                self.history.append(row)
                bar.write(stage.describe(row), self.log)
                self.epoch_log.write(self.history)
                stage.end_epoch(epoch, row)
                if epoch % self.checkpoint_every == 0 or epoch == stage.stop:
                    self.checkpoint(stage, epoch)
                for on_epoch in self.on_epoch:
                    on_epoch(stage.name, epoch, stage.session)
        finally:
            bar.close()
            stage.tick = lambda: None

    def checkpoint(self, stage: Stage, epoch: int) -> None:
        save_checkpoint(
            self.run_dir,
            {
                "kind": self.kind,
                "stage": stage.name,
                "epoch": epoch,
                "state": stage.session.state_dict(),
                "history": self.history,
                **self.state,
            },
        )
