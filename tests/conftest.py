"""Test-session settings: the shapes here are tiny, where one thread is fastest and the
timings do not depend on what else the machine runs."""

import os
import sys
from pathlib import Path

import torch

os.environ.setdefault("OMP_NUM_THREADS", "1")
torch.set_num_threads(1)
sys.path.insert(0, str(Path(__file__).parent))
