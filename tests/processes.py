"""Waiting on a CLI run started in a subprocess, to interrupt it at a chosen point."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable


def wait_for(ready: Callable[[], bool], proc: subprocess.Popen, timeout: float = 600) -> None:
    """Poll ``ready()`` until it holds; fail if ``proc`` ends first, kill it after ``timeout``
    seconds (a liveness bound for a loaded machine, never a timing assertion)."""
    t0 = time.time()
    while not ready():
        if proc.poll() is not None:
            raise AssertionError(f"the run ended early: {proc.communicate()}")
        if time.time() - t0 > timeout:
            proc.kill()
            proc.communicate()
            raise AssertionError("timed out waiting for the run")
        time.sleep(0.05)
