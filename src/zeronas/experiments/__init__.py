"""The paper's experiments: resumable grids of runs, their tables and their figures."""

from zeronas.experiments.executors import EXECUTORS, make_executor
from zeronas.experiments.figures import figures
from zeronas.experiments.grid import METHODS, Grid, parse_seeds
from zeronas.experiments.tables import method_table, transfer_matrix

__all__ = [
    "EXECUTORS",
    "METHODS",
    "Grid",
    "figures",
    "make_executor",
    "method_table",
    "parse_seeds",
    "transfer_matrix",
]
