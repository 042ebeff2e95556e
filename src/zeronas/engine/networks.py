"""The one place that builds the generator and the critic, for a search or a training.

``build_networks(cfg, task, arch)`` takes either a :class:`~zeronas.nas.genotype.Genotype`
(the hand-crafted FIX pair or a found one: discrete networks) or a :class:`SearchSpace`
(supernets to search, with the FIX network on a side kept fixed: the "Fixed G" and
"Fixed D" rows of the paper's Table 3).
"""

from __future__ import annotations

from dataclasses import dataclass

from zeronas.config import Config, SearchConfig
from zeronas.data import ZSLTask
from zeronas.errors import ZeroNASError
from zeronas.nas.genotype import Genotype, NetGenotype, fixed_genotype
from zeronas.nas.network import DiscreteNet
from zeronas.nas.space import role_space, supernet_widths
from zeronas.nas.supernet import Supernet

#: A generator or critic: a supernet (searched) or a discrete network.
Net = Supernet | DiscreteNet


@dataclass(frozen=True)
class SearchSpace:
    """What a search searches: a supernet per side, or the FIX network for a side kept fixed."""

    fixed_g: bool = False
    fixed_d: bool = False

    @classmethod
    def from_config(cls, search: SearchConfig) -> SearchSpace:
        if search.fixed_g and search.fixed_d:
            raise ZeroNASError("fixed G and fixed D together leave nothing to search")
        return cls(search.fixed_g, search.fixed_d)

    def searches(self, role: str) -> bool:
        return not (self.fixed_g if role == "generator" else self.fixed_d)


#: What to build: a pair of discrete networks, or the networks of a search.
Arch = Genotype | SearchSpace


def build_networks(cfg: Config, task: ZSLTask, arch: Arch, critic: bool = True) -> tuple[Net, Net | None]:
    """G (inputs ``z``, ``c``) and, with ``critic``, D (inputs ``x``, ``c``) for ``task``.

    Widths of searched nodes come from ``search.g_widths``/``d_widths``, the FIX networks'
    from ``fix_hidden``; output widths from the data (G: the feature dim; D: 1).
    """
    m = cfg.model
    nz, a = m.noise_dim or task.attr_dim, task.attr_dim
    g = _build(cfg, "generator", arch, (nz, a), task.feature_dim)
    d = _build(cfg, "critic", arch, (task.feature_dim, a), 1) if critic else None
    return g, d


def _build(cfg: Config, role: str, arch: Arch, in_dims: tuple[int, int], out_dim: int) -> Net:
    m = cfg.model
    if isinstance(arch, SearchSpace) and arch.searches(role):
        widths, ops, out_from_inputs = role_space(cfg.search, role)
        return Supernet(
            role,
            in_dims,
            supernet_widths(cfg.search, widths),
            out_dim,
            m.slope,
            m.dropout,
            ops=ops,
            out_from_inputs=out_from_inputs,
            genotype_widths=widths,
            weight_init=cfg.search.weight_init,
            edge_gates=cfg.search.edge_gates,
            op_scale=cfg.search.op_scale,
        )
    pair = fixed_genotype(m.fix_hidden) if isinstance(arch, SearchSpace) else arch
    net: NetGenotype = pair.generator if role == "generator" else pair.critic
    return DiscreteNet(net, in_dims, out_dim, m.slope, m.dropout)
