"""Run directories: atomic files, safe checkpoints, RNG state, and the run record."""

from __future__ import annotations

import csv
import errno
import io
import json
import os
import pickle
import platform
import re
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch

from zeronas._version import __version__
from zeronas.errors import WriteError, ZeroNASError

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


#: Interruptions (Ctrl-C, SIGTERM) that arrived inside :func:`uninterrupted`, raised on leaving it.
_DEFERRED: dict[str, Any] = {"depth": 0, "pending": None}


@contextmanager
def uninterrupted() -> Iterator[None]:
    """A block that an interruption (see :func:`interrupt`) does not cut in half: a file being
    written is finished, then the interruption is raised."""
    _DEFERRED["depth"] += 1
    try:
        yield
    finally:
        _DEFERRED["depth"] -= 1
        pending = _DEFERRED["pending"]
        if _DEFERRED["depth"] == 0 and pending is not None:
            _DEFERRED["pending"] = None
            raise pending


def interrupt(exc: BaseException) -> None:
    """Raise ``exc`` (from a signal handler) now, or on leaving :func:`uninterrupted`."""
    if _DEFERRED["depth"] > 0:
        _DEFERRED["pending"] = exc
        return
    raise exc


#: Opens the temp file's descriptor for writing (a seam: tests make it fail as a full disk does).
_fdopen = os.fdopen


def _os_error(exc: BaseException) -> OSError | None:
    """The OSError behind ``exc`` (itself, or its cause or context: torch wraps a failed write in
    a RuntimeError), if any."""
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        if isinstance(e, OSError):
            return e
        seen.add(id(e))
        e = e.__cause__ or e.__context__
    return None


def _write_error(path: Path, err: OSError, existed: bool) -> WriteError:
    reason = err.strerror or errno.errorcode.get(err.errno or 0, "") or str(err)
    kept = "the previous file is kept" if existed else "nothing was written"
    return WriteError(f"{path}: cannot write ({reason}); {kept}")


def atomic_write(path: Path, write) -> None:
    """Call ``write(binary_file)`` on a temp file beside ``path``, then rename it over ``path``.

    If writing fails (no space left, a read-only disk), the temp file is removed, ``path`` keeps
    its previous content, and a one-line :class:`~zeronas.errors.WriteError` is raised.
    """
    with uninterrupted():
        _atomic_write(path, write)


def _atomic_write(path: Path, write) -> None:
    existed = path.is_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise _write_error(path, exc, existed) from None
    try:
        with _fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600 files; give the usual mode
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        err = _os_error(exc) if isinstance(exc, Exception) else None
        if err is not None:
            raise _write_error(path, err, existed) from None
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


def check_run_dir(out: Path, resume: bool) -> None:
    """Check, creating nothing, that ``out`` can hold a new run (new or empty) or, with
    ``resume``, is a run directory to continue."""
    if resume:
        if not (out / CHECKPOINT).is_file() and not (out / "config.json").is_file():
            raise ZeroNASError(f"{out}: not a run directory to resume (no {CHECKPOINT})")
        return
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ZeroNASError(f"{out}: already exists and is not empty; choose another --out or use --resume {out}")
    for parent in out.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ZeroNASError(f"{out}: cannot create it ({parent} is not a directory)")
            break


def first_missing(path: Path) -> Path | None:
    """The top-most directory that creating ``path`` would create (None if it exists)."""
    missing = None
    for p in (path, *path.parents):
        if p.exists():
            break
        missing = p
    return missing


def prepare_run_dir(out: Path, resume: bool) -> Path:
    """Create a fresh run directory, or check that one exists to resume.

    A non-empty directory is never reused without ``resume``.
    """
    check_run_dir(out, resume)
    if not resume:
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ZeroNASError(f"{out}: cannot create it ({exc.strerror or exc})") from None
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


def _peek_checkpoint(run_dir: Path) -> dict | None:
    """``run_dir``'s checkpoint in the current layout (None without one), memory-mapped: its
    tensors are not read until used."""
    path = run_dir / CHECKPOINT
    if not path.is_file():
        return None
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # an old or odd file: read it the usual way (and refuse it the usual way)
        payload = load_checkpoint(path)
    return _upgrade_layout_2(payload) if payload.get("version") == 2 else payload


def checkpoint_position(run_dir: Path) -> tuple[str, int] | None:
    """The stage and epoch of ``run_dir``'s checkpoint (None without one), read without loading
    its tensors."""
    payload = _peek_checkpoint(run_dir)
    if payload is None:
        return None
    return str(payload.get("stage", payload.get("kind", "?"))), int(payload.get("epoch", 0))


def checkpoint_pool_rows(run_dir: Path, pool: str) -> int | None:
    """Rows of the batch pool ``pool`` in ``run_dir``'s checkpoint (None without one or without
    that pool), read without loading the networks' tensors."""
    payload = _peek_checkpoint(run_dir)
    pools = (payload or {}).get("state", {}).get("pools") or {}
    return int(pools[pool].numel()) if pool in pools else None


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


def search_record(run: Path) -> tuple[Path, dict]:
    """The directory of a finished search (``zeronas search --out RUN``, or a run or grid cell
    holding one in ``search/``) and the run record of the command that made it: a search
    writes ``config.json`` beside its checkpoint, a run or a grid cell one level up."""
    search = run / "search" if (run / "search" / CHECKPOINT).is_file() else run
    record_dir = search if (search / "config.json").is_file() else search.parent
    try:
        return search, json.loads((record_dir / "config.json").read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ZeroNASError(f"{run}: not a finished search ({exc})") from None


#: The forms ``--device`` takes.
DEVICE_FORMS = "auto, cpu, cuda, cuda:N, mps"


def pick_device(name: str) -> torch.device:
    """The device ``name`` names (``auto`` picks CUDA when present; never hard-coded), checked to
    exist on this machine; a one-line error otherwise."""
    text = name.strip().lower()
    if text == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    m = re.fullmatch(r"(cpu|cuda|mps)(?::(\d+))?", text)
    if m is None:
        raise ZeroNASError(f"--device {name!r}: not a device (allowed: {DEVICE_FORMS})")
    kind, index = m.group(1), int(m.group(2)) if m.group(2) is not None else None
    if kind == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ZeroNASError(f"--device {name}: CUDA is not available on this machine (use auto or cpu)")
        if index is not None and index >= count:
            raise ZeroNASError(f"--device {name}: this machine has {count} CUDA device(s), cuda:0..cuda:{count - 1}")
    if kind == "mps" and not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
        raise ZeroNASError(f"--device {name}: MPS is not available on this machine (use auto or cpu)")
    if kind in ("cpu", "mps") and index not in (None, 0):
        raise ZeroNASError(f"--device {name}: {kind} has no device {index} (use {kind})")
    return torch.device(text)
