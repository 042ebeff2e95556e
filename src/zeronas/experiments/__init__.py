"""The paper's experiments: resumable grids of runs, their tables and their figures."""

from zeronas.experiments.figures import figures
from zeronas.experiments.grid import METHODS, Grid, method_cell, parse_seeds
from zeronas.experiments.tables import method_table, transfer_matrix

__all__ = ["METHODS", "Grid", "figures", "method_cell", "method_table", "parse_seeds", "transfer_matrix"]
