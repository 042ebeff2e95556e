"""A discrete network built from a :class:`NetGenotype` (found, or the FIX baseline)."""

from __future__ import annotations

import torch
from torch import nn

from zeronas.nas.genotype import N_INPUTS, NetGenotype
from zeronas.nas.ops import init_weights, make_op


class DiscreteNet(nn.Module):
    """Each node is the sum of its kept in-edges, each edge one operation.

    Called as ``net(a, b)``: ``(z, c)`` for a generator, ``(x, c)`` for a critic. An
    optional ``feedback`` of width :attr:`hidden_width` is added to the intermediate nodes
    (their outputs side by side), as TF-VAEGAN adds its feedback to G's hidden layer.
    """

    def __init__(
        self,
        genotype: NetGenotype,
        in_dims: tuple[int, int],
        out_dim: int,
        slope: float = 0.2,
        dropout: float = 0.5,
    ):
        super().__init__()
        self.genotype = genotype
        dims = {0: in_dims[0], 1: in_dims[1], 2: in_dims[0] + in_dims[1]}
        dims.update({n.id: n.width for n in genotype.nodes})
        self.edges = nn.ModuleDict()
        plan = [(n.id, n.inputs, n.width) for n in genotype.nodes] + [("out", genotype.output, out_dim)]
        for nid, inputs, width in plan:
            for e in inputs:
                self.edges[f"{e.src}_{nid}"] = make_op(e.op, dims[e.src], width, slope, dropout)
        self._plan = [(nid, [e.src for e in inputs]) for nid, inputs, _ in plan]
        self._uses_concat = any(s == 2 for _, srcs in self._plan for s in srcs)
        self.hidden_widths = [n.width for n in genotype.nodes]
        self.hidden_width = sum(self.hidden_widths)
        init_weights(self)

    def arch_parameters(self) -> list[nn.Parameter]:
        """A discrete network has no architecture parameters."""
        return []

    def weight_parameters(self) -> list[nn.Parameter]:
        return list(self.parameters())

    def forward(self, a: torch.Tensor, b: torch.Tensor, feedback: torch.Tensor | None = None) -> torch.Tensor:
        vals: dict[object, torch.Tensor] = {0: a, 1: b}
        if self._uses_concat:
            vals[2] = torch.cat([a, b], dim=1)
        extra = iter(feedback.split(self.hidden_widths, dim=1)) if feedback is not None else None
        for nid, srcs in self._plan:
            out = None
            for s in srcs:
                h = self.edges[f"{s}_{nid}"](vals[s])
                out = h if out is None else out + h
            assert out is not None  # every node has an in-edge (validated genotype)
            if extra is not None and nid != "out":
                out = out + next(extra)
            vals[nid] = out
        return vals["out"]


__all__ = ["DiscreteNet", "N_INPUTS"]
