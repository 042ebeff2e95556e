"""The continuous search space: an MLP DAG whose edges mix 8 operations (Eqs. 2-3).

Layout for speed (no Python loop over operations): every operation owns an FC layer, and
all FC layers leaving one source node are stacked into one ``nn.Linear``, so a forward
pass runs one GEMM per node (3 inputs + intermediates) instead of one per (edge, op).
Its output is viewed as ``(batch, dropout, batchnorm, leaky, features)``: batch norm,
the activation and dropout each act on one slice of that view, and the mixing weights
``softmax(alpha) * softmax(beta)`` are applied by one broadcasted product and sum.
Numerically this is the per-operation network of the paper (see the equivalence test).

Architecture parameters (``alpha``, ``beta``) are kept apart from weights:
:meth:`Supernet.arch_parameters` and :meth:`Supernet.weight_parameters`.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from zeronas.nas.genotype import N_INPUTS, NetGenotype, derive
from zeronas.nas.ops import OPS, init_weights

N_OPS = len(OPS)


class Supernet(nn.Module):
    """A searchable generator or critic.

    Args:
        role: ``generator`` (inputs z, c, [z,c]) or ``critic`` (inputs x, c, [x,c]).
        in_dims: dims of the first two inputs (the third is their concatenation).
        widths: widths of the intermediate nodes.
        out_dim: output width (feature dim for G, 1 for the critic).
        slope: LeakyReLU slope. dropout: dropout probability.
        arch_init_std: std of the Gaussian init of alpha and beta.
    """

    def __init__(
        self,
        role: str,
        in_dims: tuple[int, int],
        widths: tuple[int, ...],
        out_dim: int,
        slope: float = 0.2,
        dropout: float = 0.5,
        arch_init_std: float = 1e-3,
    ):
        super().__init__()
        self.role, self.widths, self.out_dim = role, tuple(widths), out_dim
        self.slope, self.p_drop = slope, dropout
        self.out_id = N_INPUTS + len(widths)
        dims = [in_dims[0], in_dims[1], in_dims[0] + in_dims[1], *widths, out_dim]
        self.dims = dims
        linear_out = role == "critic"  # the WGAN score stays linear: one plain FC per edge

        # Mixed edges (src, dst) in a fixed order; alpha has one row per mixed edge.
        self.mixed_edges = [
            (i, j)
            for j in range(N_INPUTS, self.out_id + 1)
            if not (linear_out and j == self.out_id)
            for i in range(j)
        ]
        edge_index = {e: k for k, e in enumerate(self.mixed_edges)}
        self.alpha = nn.Parameter(arch_init_std * torch.randn(len(self.mixed_edges), N_OPS))
        n_targets = self.out_id + 1 - N_INPUTS
        self.beta = nn.Parameter(arch_init_std * torch.randn(n_targets, self.out_id))
        mask = torch.ones(n_targets, self.out_id, dtype=torch.bool)
        for t in range(n_targets):
            mask[t, : N_INPUTS + t] = False  # node N_INPUTS+t has in-edges from 0..N_INPUTS+t-1
        self.register_buffer("beta_mask", mask, persistent=False)

        self.fc = nn.ModuleList()
        self._plan = []  # per source: (mixed targets, their offsets, linear targets)
        for i in range(self.out_id):
            targets = [j for j in range(max(i + 1, N_INPUTS), self.out_id + 1)]
            mixed = [j for j in targets if (i, j) in edge_index]
            lin = [j for j in targets if (i, j) not in edge_index]
            wsum = sum(dims[j] for j in mixed)
            self.fc.append(nn.Linear(dims[i], N_OPS * wsum + sum(dims[j] for j in lin)))
            seg = torch.cat([torch.full((dims[j],), t, dtype=torch.long) for t, j in enumerate(mixed)] or [torch.zeros(0, dtype=torch.long)])
            self.register_buffer(f"seg{i}", seg, persistent=False)
            self.register_buffer(f"eidx{i}", torch.tensor([edge_index[(i, j)] for j in mixed], dtype=torch.long), persistent=False)
            self.register_buffer(f"tidx{i}", torch.tensor([j - N_INPUTS for j in mixed], dtype=torch.long), persistent=False)
            # Batch norm over the 4 BN operations of every mixed edge leaving node i.
            self.register_parameter(f"bn_w{i}", nn.Parameter(torch.ones(4 * wsum)))
            self.register_parameter(f"bn_b{i}", nn.Parameter(torch.zeros(4 * wsum)))
            self.register_buffer(f"bn_mean{i}", torch.zeros(4 * wsum))
            self.register_buffer(f"bn_var{i}", torch.ones(4 * wsum))
            self._plan.append((mixed, wsum, lin))
        self.register_buffer("slopes", torch.tensor([0.0, slope]).view(1, 1, 1, 2, 1), persistent=False)
        init_weights(self)

    # ------------------------------------------------------------------ parameters
    def arch_parameters(self) -> list[nn.Parameter]:
        """alpha and beta: the architecture parameters."""
        return [self.alpha, self.beta]

    def weight_parameters(self) -> list[nn.Parameter]:
        """Every parameter that is not an architecture parameter."""
        arch = {id(p) for p in self.arch_parameters()}
        return [p for p in self.parameters() if id(p) not in arch]

    def op_weights(self) -> torch.Tensor:
        """softmax(alpha) per mixed edge, shape (edges, 8)."""
        return F.softmax(self.alpha, dim=-1)

    def edge_weights(self) -> torch.Tensor:
        """softmax(beta) per target node over its in-edges, shape (targets, max in-degree)."""
        return F.softmax(self.beta.masked_fill(self.beta_mask, float("-inf")), dim=-1)

    # ------------------------------------------------------------------ forward
    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        batch = a.shape[0]
        nodes = [a, b, torch.cat([a, b], dim=1)]
        acc: dict[int, torch.Tensor] = {}
        op_w, edge_w = self.op_weights(), self.edge_weights()
        for i, (mixed, wsum, lin) in enumerate(self._plan):
            if i >= N_INPUTS:
                nodes.append(acc.pop(i))
            y = self.fc[i](nodes[i])
            if mixed:
                h = self._mixed_activations(y[:, : N_OPS * wsum], i, batch, wsum)
                # weight of (op k, target t) = softmax(alpha_edge)_k * softmax(beta_t)_i
                eidx, tidx = getattr(self, f"eidx{i}"), getattr(self, f"tidx{i}")
                w = (op_w[eidx] * edge_w[tidx, i].unsqueeze(1)).t()  # (8, targets)
                mix = (h * w[:, getattr(self, f"seg{i}")]).sum(dim=1)  # (batch, wsum)
                for j, part in zip(mixed, mix.split([self.dims[j] for j in mixed], dim=1)):
                    acc[j] = part if j not in acc else acc[j] + part
            if lin:
                tail = y[:, N_OPS * wsum :]
                for j, part in zip(lin, tail.split([self.dims[j] for j in lin], dim=1)):
                    part = edge_w[j - N_INPUTS, i] * part
                    acc[j] = part if j not in acc else acc[j] + part
        return acc[self.out_id]

    def _mixed_activations(self, y: torch.Tensor, i: int, batch: int, wsum: int) -> torch.Tensor:
        """All 8 operations' post-FC stages for one source; returns (batch, 8, wsum)."""
        y = y.view(batch, 2, 2, 2, wsum)  # (dropout, batchnorm, leaky)
        normed = F.batch_norm(
            y[:, :, 1].reshape(batch, 4 * wsum),
            getattr(self, f"bn_mean{i}"),
            getattr(self, f"bn_var{i}"),
            getattr(self, f"bn_w{i}"),
            getattr(self, f"bn_b{i}"),
            training=self.training,
        ).view(batch, 2, 2, wsum)
        z = torch.stack([y[:, :, 0], normed], dim=2)
        z = torch.where(z > 0, z, z * self.slopes)
        z = torch.cat([z[:, :1], F.dropout(z[:, 1:], self.p_drop, self.training)], dim=1)
        return z.view(batch, N_OPS, wsum)

    # ------------------------------------------------------------------ per-edge access
    def edge_op_linear(self, i: int, j: int, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Views of the FC weight and bias of operation ``k`` on edge ``i -> j``.

        ``k`` is ignored on linear (critic output) edges. Used by the per-operation
        reference implementation in the benchmark and the equivalence test.
        """
        mixed, wsum, lin = self._plan[i]
        fc = self.fc[i]
        if j in mixed:
            off = k * wsum + sum(self.dims[m] for m in mixed[: mixed.index(j)])
        else:
            off = N_OPS * wsum + sum(self.dims[m] for m in lin[: lin.index(j)])
        rows = slice(off, off + self.dims[j])
        return fc.weight[rows], fc.bias[rows]

    def edge_op_bn(self, i: int, j: int, k: int) -> tuple[torch.Tensor, ...]:
        """Views of (weight, bias, running mean, running var) of BN operation ``k`` on ``i -> j``."""
        mixed, wsum, _ = self._plan[i]
        drop, leaky = (k >> 2) & 1, k & 1
        off = (drop * 2 + leaky) * wsum + sum(self.dims[m] for m in mixed[: mixed.index(j)])
        rows = slice(off, off + self.dims[j])
        return tuple(getattr(self, f"{n}{i}")[rows] for n in ("bn_w", "bn_b", "bn_mean", "bn_var"))

    # ------------------------------------------------------------------ export
    def export(self, keep: int = 2) -> NetGenotype:
        """The discrete network this supernet's alpha/beta point to (SPEC §6)."""
        op_w = self.op_weights().detach().cpu().numpy()
        edge_w = self.edge_weights().detach().cpu().numpy()
        ops = {e: op_w[k] for k, e in enumerate(self.mixed_edges)}
        edges = {j: edge_w[j - N_INPUTS, :j] for j in range(N_INPUTS, self.out_id + 1)}
        return derive(self.role, self.widths, ops, edges, keep)

    def arch_state(self) -> dict[str, object]:
        """softmax(alpha) and softmax(beta) as plain lists, for the search history."""
        op_w = self.op_weights().detach().cpu().numpy()
        edge_w = self.edge_weights().detach().cpu().numpy()
        return {
            "alpha": {f"{i}->{j}": np.round(op_w[k], 6).tolist() for k, (i, j) in enumerate(self.mixed_edges)},
            "beta": {
                str(j): np.round(edge_w[j - N_INPUTS, :j], 6).tolist() for j in range(N_INPUTS, self.out_id + 1)
            },
        }
