"""User-facing errors: one line, naming the file and what is wrong."""

from __future__ import annotations

from pathlib import Path


class ZeroNASError(Exception):
    """An error caused by user input; the CLI prints it as one line and exits with 2."""


class DataError(ZeroNASError):
    """A dataset file is missing, unreadable or inconsistent."""

    def __init__(self, path: str | Path, message: str):
        self.path = str(path)
        super().__init__(f"{path}: {message}")


class DivergenceError(ZeroNASError):
    """A loss became NaN or Inf during training or search."""


class WriteError(ZeroNASError):
    """A result or checkpoint could not be written (no space left, a read-only disk); the
    previous file is kept. The CLI exits with :data:`WRITE_ERROR_STATUS`."""


#: Exit status of a failed write (``EX_IOERR`` of sysexits.h): the run can continue with
#: ``--resume`` once the disk has room.
WRITE_ERROR_STATUS = 74
