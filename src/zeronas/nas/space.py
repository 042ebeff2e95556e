"""The configured search space of each side, and uniform draws from it (the random baseline)."""

from __future__ import annotations

import numpy as np

from zeronas.config import Config, SearchConfig
from zeronas.nas.genotype import Genotype, NetGenotype, random_genotype
from zeronas.nas.ops import OP_SETS


def role_space(search: SearchConfig, role: str) -> tuple[tuple[int, ...], tuple[str, ...], bool]:
    """The searched space of ``role`` in ``[search]``: its node widths, its candidate operations,
    and whether its output node reads the input nodes."""
    if role == "generator":
        return search.g_widths, OP_SETS[search.g_ops], search.g_out == "any"
    return search.d_widths, OP_SETS[search.d_ops], search.d_out == "any"


def supernet_widths(search: SearchConfig, widths: tuple[int, ...]) -> tuple[int, ...]:
    """The widths the supernet of a side with node ``widths`` computes at: its own, or with
    ``supernet_widths = "max"`` its widest for every node, so that no edge gains from reading a
    wider node during the search (the derived genotype keeps ``widths``)."""
    return (max(widths),) * len(widths) if search.supernet_widths == "max" and widths else widths


def random_pair(cfg: Config, draw: int) -> Genotype:
    """Random genotype pair ``draw`` of the configured search space (widths, op sets): the
    random-search baseline's candidates, the same for every seed and framework."""
    rng = np.random.default_rng(draw)

    def one(net: str) -> NetGenotype:
        widths, ops, out_from_inputs = role_space(cfg.search, net)
        return random_genotype(net, widths, rng, ops=ops, keep=cfg.search.keep_edges, out_from_inputs=out_from_inputs)

    return Genotype(one("generator"), one("critic"))  # in this order: one stream of draws
