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
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Protocol

from tqdm import tqdm

from zeronas.engine.session import Session
from zeronas.errors import DivergenceError
from zeronas.evaluation.selection import ACCURACY_KEYS
from zeronas.runs import CHECKPOINT, EpochLog, Log, load_checkpoint, save_checkpoint, seed_everything, set_rng_state


class RunnerSettings(Protocol):
    """What the runner reads of a loop's config section (``cfg.train``, ``cfg.search``)."""

    checkpoint_every: int
    tensorboard: bool


def check_finite(losses: dict[str, float], where: str) -> None:
    for name, value in losses.items():
        if not math.isfinite(value):
            raise DivergenceError(f"{where}: loss '{name}' is {value}; the last good checkpoint is kept")


def progress(start: int, stop: int, desc: str) -> Iterable[int]:
    """Epochs ``start..stop`` with a progress bar on a terminal (resumed runs start part-way)."""
    return tqdm(range(start, stop + 1), desc=desc, initial=start - 1, total=stop, disable=None, leave=False)


class Stage:
    """One training of a session over epochs ``..stop``, as the runner drives it.

    Subclasses implement :meth:`train_epoch` and may override the other methods. The
    stage's ``name`` is the ``stage`` of the checkpoint (a resumed run continues the stage
    of its checkpoint) and of the rows.
    """

    def __init__(self, name: str, session: Session, stop: int, label: str = ""):
        self.name, self.session, self.stop, self.label = name, session, stop, label or name

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
            if k in ACCURACY_KEYS:
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
        """Epochs ``start..stage.stop`` of ``stage``."""
        for epoch in progress(start, stage.stop, stage.label):
            t0 = time.perf_counter()
            stage.begin_epoch(epoch)
            losses = stage.train_epoch(epoch)
            check_finite(losses, stage.where(epoch))
            row = stage.row(epoch, losses)
            for hook in self.on_row:
                hook(stage, epoch, row)
            row["seconds"] = round(time.perf_counter() - t0, 3)
            self.history.append(row)
            self.log(stage.describe(row))
            self.epoch_log.write(self.history)
            stage.end_epoch(epoch, row)
            if epoch % self.checkpoint_every == 0 or epoch == stage.stop:
                self.checkpoint(stage, epoch)
            for on_epoch in self.on_epoch:
                on_epoch(stage.name, epoch, stage.session)

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
