"""CUDA smoke test: a whole ``zeronas run`` (search, derive, retrain, evaluate) on the GPU, in
fp32 and in bf16. Skipped where no CUDA device is present (the development machines and CI);
run it on a GPU machine with ``pytest tests/test_cuda.py``."""

from __future__ import annotations

import json

import pytest
import torch

from tests.test_runs import TINY, zeronas

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_a_whole_run_on_cuda(tmp_path, precision):
    run = tmp_path / precision
    zeronas(
        "run",
        "--out",
        str(run),
        "--device",
        "cuda",
        *TINY,
        *("--set", "search.epochs=2", "--set", "train.epochs=2"),
        *("--set", f"search.precision={precision}", "--set", f"train.precision={precision}"),
    )
    metrics = json.loads((run / "metrics.json").read_text())
    assert 0.0 <= metrics["zsl_top1"] <= 1.0
    record = json.loads((run / "config.json").read_text())
    assert record["device"].startswith("cuda")
    assert record["config"]["search"]["precision"] == precision
