"""Figures, by subject: run curves, search history, genotype drawing, t-SNE, grid figures.

``load`` reads run directories; the other modules draw what it returns. Figures are files
only (the Agg backend, chosen here before any pyplot import).
"""

import matplotlib

matplotlib.use("Agg")

from zeronas.plots.genotype import draw_genotype  # noqa: E402
from zeronas.plots.grids import plot_transfer, side_by_side  # noqa: E402
from zeronas.plots.rundir import plot_run  # noqa: E402

__all__ = ["draw_genotype", "plot_run", "plot_transfer", "side_by_side"]
