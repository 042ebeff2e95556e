"""Calling the ``zeronas`` entry point in-process, as a shell would, for tests of its output."""

from __future__ import annotations

import sys

import zeronas.cli


def run_main(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    """``zeronas ARGS`` through :func:`zeronas.cli.main`: exit status, stdout, stderr."""
    monkeypatch.setattr(sys, "argv", ["zeronas", *args])
    code = 0
    try:
        zeronas.cli.main()
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err
