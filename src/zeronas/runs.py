"""Run directories: atomic files, safe checkpoints, RNG state, and the run record."""

from __future__ import annotations

import csv
import io
import json
import os
import pickle
import platform
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from zeronas._version import __version__
from zeronas.errors import ZeroNASError

#: Where a run's progress messages go (``print``, the CLI's stderr writer, a test's list).
Log = Callable[[str], None]

CHECKPOINT = "checkpoint.pt"
CHECKPOINT_FORMAT = "zeronas-checkpoint"
#: The layout of the payload: what a run saved (``kind``, ``stage``, ``epoch``, ``history``), the
#: engine session's ``state`` and the program's own keys. Layout 2 (before the engine: the
#: state under ``trainer`` or ``searcher``) is read and upgraded; others are refused.
CHECKPOINT_VERSION = 3
_UMASK = os.umask(0)
os.umask(_UMASK)


def atomic_write(path: Path, write) -> None:
    """Call ``write(binary_file)`` on a temp file beside ``path``, then rename it over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600 files; give the usual mode
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that readers see the old file or the new one, never half."""
    atomic_write(path, lambda f: f.write(text.encode()))


def write_json(path: Path, obj: object) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def write_csv(path: Path, rows: list[dict]) -> None:
    """Rewrite a CSV from the full history (so a resumed run never holds stale rows)."""
    fields: list[str] = []
    for r in rows:
        fields += [k for k in r if k not in fields]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=fields)
    w.writeheader()
    w.writerows(rows)
    atomic_write_text(path, buf.getvalue())


class EpochLog:
    """Per-epoch rows: the CSV (rewritten whole, so resumed runs hold no stale rows) and,
    if asked, TensorBoard scalars under ``run_dir/tensorboard``."""

    def __init__(self, csv_path: Path, tensorboard: bool = False, prefix: str = ""):
        self.csv_path, self.prefix, self.writer = csv_path, prefix, None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                raise ZeroNASError(
                    "--tensorboard needs the tensorboard package: pip install 'zeronas[tensorboard]'"
                ) from None
            self.writer = SummaryWriter(log_dir=str(csv_path.parent / "tensorboard"))

    def write(self, rows: list[dict]) -> None:
        write_csv(self.csv_path, rows)
        if self.writer is not None and rows:
            row = rows[-1]
            prefix = f"{self.prefix}{row['stage']}/" if "stage" in row else self.prefix
            for key, value in row.items():
                if isinstance(value, (int, float)) and key not in ("epoch", "stage"):
                    self.writer.add_scalar(prefix + key, value, row["epoch"])
            self.writer.flush()


def prepare_run_dir(out: Path, resume: bool) -> Path:
    """Create a fresh run directory, or check that one exists to resume.

    A non-empty directory is never reused without ``resume``.
    """
    if resume:
        if not (out / CHECKPOINT).is_file() and not (out / "config.json").is_file():
            raise ZeroNASError(f"{out}: not a run directory to resume (no {CHECKPOINT})")
        return out
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ZeroNASError(f"{out}: already exists and is not empty; choose another --out or use --resume {out}")
    out.mkdir(parents=True, exist_ok=True)
    return out


# --------------------------------------------------------------------------- checkpoints


def rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def seed_everything(seed: int) -> None:
    """Every random draw of zeronas goes through torch's generators, seeded here."""
    torch.manual_seed(seed)


def save_checkpoint(run_dir: Path, state: dict) -> None:
    """Atomically write a checkpoint (tensors, numbers, strings and containers only)."""
    payload = {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, **state, "rng": rng_state()}
    atomic_write(run_dir / CHECKPOINT, lambda f: torch.save(payload, f))


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict:
    """Load a checkpoint without unpickling arbitrary objects (``weights_only=True``), in the
    current layout (a layout-2 checkpoint is upgraded)."""
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise ZeroNASError(f"{path}: file not found") from None
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ZeroNASError(f"{path}: rejected as unsafe or corrupt checkpoint ({first[:200]})") from None
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise ZeroNASError(f"{path}: not a zeronas checkpoint")
    if payload.get("version") == 2:
        return _upgrade_layout_2(payload)
    if payload.get("version") != CHECKPOINT_VERSION:
        raise ZeroNASError(
            f"{path}: checkpoint layout version {payload.get('version')} was written by another "
            f"zeronas version (this one reads 2 and {CHECKPOINT_VERSION}); start a new run"
        )
    return payload


def _upgrade_layout_2(payload: dict) -> dict:
    """Layout 2 -> 3: the trainer's ``opt_g``/``opt_d`` and the searcher's ``opt`` and
    ``halves`` become one session ``state`` (``opt``, ``pools``); a search is stage ``search``."""
    if "searcher" in payload:
        state = payload.pop("searcher")
        state["pools"] = state.pop("halves")
        payload["stage"] = "search"
    else:
        state = payload.pop("trainer")
        state["opt"] = {"w_g": state.pop("opt_g"), **({"w_d": state.pop("opt_d")} if "opt_d" in state else {})}
        state.setdefault("D", None)
    return {**payload, "version": CHECKPOINT_VERSION, "state": state}


# --------------------------------------------------------------------------- run record


def versions() -> dict[str, str]:
    import scipy
    import sklearn

    return {
        "zeronas": __version__,
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "scikit-learn": sklearn.__version__,
        "platform": platform.platform(),
        "torch_threads": str(torch.get_num_threads()),
        "cuda": torch.version.cuda or "none",
    }


def write_record(run_dir: Path, command: str, **fields: object) -> None:
    """The run record beside every result: what ran, on what data, with which settings and versions."""
    write_json(run_dir / "config.json", {"command": command, **fields, "versions": versions(), "argv": sys.argv})


def pick_device(name: str) -> torch.device:
    """``auto`` picks CUDA when present; never hard-coded."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ZeroNASError(f"--device {name}: CUDA is not available on this machine")
    return torch.device(name)
