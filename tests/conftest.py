"""Test-session settings, and the fixtures of ``tests/synth.py``.

The shapes here are tiny, where one thread is fastest and the timings do not depend on
what else the machine runs.
"""

import os

import torch

os.environ.setdefault("OMP_NUM_THREADS", "1")
torch.set_num_threads(1)

pytest_plugins = ["tests.synth"]
