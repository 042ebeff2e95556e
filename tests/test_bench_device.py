"""Every benchmark job creates its tensors on the job's device, never on the default one.

On CUDA the jobs run without ``torch.set_default_device`` (its torch-function mode taxes every
call), so a tensor drawn without ``device=`` would land on the CPU. With no GPU here, the
check makes ``meta`` the default device for one iteration: any tensor created on the default
device then meets the CPU task's tensors and the iteration fails.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

BENCH = Path(__file__).resolve().parents[1] / "bench"


@pytest.fixture(scope="module")
def search_step():
    sys.path.insert(0, str(BENCH))  # the benchmark's scripts import each other by name
    try:
        import search_step

        yield search_step
    finally:
        sys.path.remove(str(BENCH))


@pytest.mark.parametrize("job", ["authors", "reference", "search", "fix"])
def test_a_job_draws_nothing_on_the_default_device(search_step, job):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny shapes
    torch.manual_seed(0)
    step, _ = search_step.build(job, search_step.QUICK, search_step.class_vectors(None, True), torch.device("cpu"))
    step()  # the first iteration allocates the optimizers' state
    try:
        with torch.device("meta"):
            step()
    finally:
        torch.set_num_threads(threads)
