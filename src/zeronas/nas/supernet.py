"""The continuous search space: an MLP DAG whose edges mix 8 operations (Eqs. 2-3).

Layout for speed. Every operation of every edge owns an FC layer (as in the paper), but
they are not separate modules: for each source node and each of the 8 operations, the
FC layers of that operation on all mixed out-edges of the node are stacked into one
``nn.Linear`` (``blocks[i][b]``, the targets' outputs side by side). A forward pass thus
runs 8 GEMMs per source node instead of 8 per edge (the per-operation layout of
``bench/reference.py``), with no Python loop over edges; batch norm runs once per source
on its 4 BN blocks, each activation once per block, and the mixing weights
``softmax(alpha) * softmax(beta)`` (per target, spread over its columns) and the
dropout masks are applied by a short chain of fused multiply-adds. The plain FC layers
of linear edges (into the critic's output node) are one ``nn.Linear`` per source
(``fc``). Numerically this is the per-operation network of the paper:
``tests/test_supernet_equivalence.py`` compares outputs, gradients and second-order
gradients with the reference.

Why 8 GEMMs per source and not one GEMM: smaller weight buffers, which the allocator
recycles and the cache holds (measurements in ``bench/README.md``).

Architecture parameters (``alpha``, ``beta``) are kept apart from weights:
:meth:`Supernet.arch_parameters` and :meth:`Supernet.weight_parameters`.

Sampled mode (``search.mode = "gdas"``, Dong & Yang 2019): with :attr:`Supernet.tau` set,
each mixed edge runs one operation, drawn per forward pass by Gumbel-max, the argmax of
``alpha + g`` (the argmax of ``alpha`` in eval mode): operation k with probability
softmax(alpha)_k at every temperature. Its output is scaled by the straight-through gate
``1 - p.detach() + p`` of the drawn operation (``p = softmax((alpha + g) / tau)``), so
``alpha`` still gets a gradient, sharper as ``tau`` falls; nodes stay
``softmax(beta)``-weighted sums. About 1/8 of the mixed edges' FLOPs. The drawn operation's
FC layer is a slice of its block, so the other operations get zero gradients in that step
(Adam's momentum still moves them a little, unlike GDAS's separate modules, which get none).
"""

from __future__ import annotations

from functools import partial
from typing import cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from zeronas.nas.cast_cache import CastLinear
from zeronas.nas.genotype import N_INPUTS, NetGenotype, derive
from zeronas.nas.ops import OPS, init_weights, op_flags

N_OPS = len(OPS)
#: the choices of ``Supernet(op_scale=...)``
OP_SCALES = ("raw", "unit")
# Operation k = 4*dropout + 2*batchnorm + leaky (see ops.py) lives in block OP_BLOCK[k];
# blocks run (batchnorm, leaky, dropout), so the BN operations are blocks 4..7, whose
# batch-norm parameters and statistics are stored in that order (bn_w{i}, ...).
BLOCK_OP = [4 * drop + 2 * bn + leaky for bn in (0, 1) for leaky in (0, 1) for drop in (0, 1)]
OP_BLOCK = [BLOCK_OP.index(k) for k in range(N_OPS)]


def keep_mask(n_masks: int, rows: int, cols: int, keep: float, like: torch.Tensor) -> torch.Tensor:
    """``n_masks`` inverted-dropout multipliers of shape (rows, cols): 1/keep with
    probability ``keep``, else 0, independently per element -- the distribution of
    ``F.dropout``, drawn faster: ``rand < keep`` in general, and for ``keep == 0.5`` (the
    authors' dropout) one uniform random 32-bit word per 32 elements.
    """
    n = n_masks * rows * cols
    if keep == 0.5:
        words = torch.randint(0, 2**32, ((n + 31) // 32, 1), dtype=torch.int64, device=like.device)
        bits = (words >> torch.arange(32, device=like.device)) & 1
        mask = bits.view(-1)[:n].to(like.dtype).mul_(2.0)
    else:
        mask = (torch.rand(n, device=like.device, dtype=like.dtype) < keep).to(like.dtype).div_(keep)
    return mask.view(n_masks, rows, cols)


_EPS = 1e-12


def _segment_rms(h: torch.Tensor, seg: torch.Tensor, seg_len: torch.Tensor) -> torch.Tensor:
    """Per column of ``h`` (batch, cols), the root mean square of ``h`` over the batch and the
    columns of its segment (``seg[col]``: the segment of each column; ``seg_len``: each
    segment's number of columns), shape (cols,)."""
    col_ms = h.pow(2).mean(dim=0, dtype=torch.float32)
    sums = col_ms.new_zeros(seg_len.shape[0]).index_add_(0, seg, col_ms)
    return (sums / seg_len).clamp_min(_EPS).sqrt()[seg]


class Supernet(nn.Module):
    """A searchable generator or critic.

    Args:
        role: ``generator`` (inputs z, c, [z,c]) or ``critic`` (inputs x, c, [x,c]).
        in_dims: dims of the first two inputs (the third is their concatenation).
        widths: widths of the intermediate nodes.
        out_dim: output width (feature dim for G, 1 for the critic).
        slope: LeakyReLU slope. dropout: dropout probability.
        arch_init_std: std of the Gaussian init of alpha and beta.
        ops: the candidate operations; the fused layout computes exactly :data:`OPS`.
        out_from_inputs: whether the output node has in-edges from the input nodes (the
            paper's space); without them it reads intermediate nodes only, like a DARTS cell.
        genotype_widths: the node widths :meth:`export` writes into the genotype (default:
            ``widths``), for a supernet computed at other widths than the space's.
        weight_init: initialisation of the FC layers (:func:`~zeronas.nas.ops.init_weights`).
        edge_gates: how beta weighs a node's in-edges: ``softmax`` over them (Eq. 3, the
            in-edges compete) or an independent ``sigmoid`` gate per in-edge (FairDARTS,
            Chu et al. 2020: a strong in-edge does not push the others down).
        op_scale: what each candidate's output enters the mix at: ``raw`` (Eq. 2) or ``unit``:
            divided by its root mean square over the batch and the edge's columns, so that
            softmax(alpha) weighs the operations by what they compute and not by their output
            scale (batch norm's is 1, an FC layer's is set by its init and its input's scale).
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
        ops: tuple[str, ...] = OPS,
        out_from_inputs: bool = True,
        genotype_widths: tuple[int, ...] | None = None,
        weight_init: str = "normal",
        edge_gates: str = "softmax",
        op_scale: str = "raw",
    ):
        super().__init__()
        unknown = [o for o in ops if o not in OPS]
        if not ops or unknown:
            raise ValueError(
                f"Supernet searches a subset of the operations {', '.join(OPS)} (their FC layers are stacked "
                "per operation and their batch norm, activation and dropout are bit-encoded, see "
                f"zeronas.nas.ops); {', '.join(unknown) or 'an empty set'} cannot be searched"
            )
        self.role, self.widths, self.out_dim = role, tuple(widths), out_dim
        self.genotype_widths = self.widths if genotype_widths is None else tuple(genotype_widths)
        if len(self.genotype_widths) != len(self.widths):
            raise ValueError(f"genotype_widths has {len(self.genotype_widths)} nodes, widths {len(self.widths)}")
        if edge_gates not in ("softmax", "sigmoid"):
            raise ValueError(f"edge_gates is softmax or sigmoid, not {edge_gates!r}")
        self.edge_gates = edge_gates
        if op_scale not in OP_SCALES:
            raise ValueError(f"op_scale is {' or '.join(OP_SCALES)}, not {op_scale!r}")
        self.op_scale = op_scale
        self.ops = tuple(o for o in OPS if o in ops)
        # blocks (see BLOCK_OP) whose operation is a candidate; the others are never computed
        self._live_blocks = [b for b in range(N_OPS) if OPS[BLOCK_OP[b]] in self.ops]
        self._any_bn = any(b >= 4 for b in self._live_blocks)
        self.slope, self.p_drop = slope, dropout
        self.tau: float | None = None  # set: sampled (GDAS) forward, see the module docstring
        # weights of op_entropy() and edge_spill() in the architecture steps, set per epoch
        self.entropy_weight = self.spill_weight = 0.0
        self.out_id = N_INPUTS + len(widths)
        dims = [in_dims[0], in_dims[1], in_dims[0] + in_dims[1], *widths, out_dim]
        self.dims = dims
        self.hidden_width = sum(self.widths)  # width of the feedback input (see DiscreteNet)
        linear_out = role == "critic"  # the WGAN score stays linear: one plain FC per edge

        if not out_from_inputs and not widths:
            raise ValueError("an output node that reads no input node needs intermediate nodes")
        # The space's in-edges: node j reads every earlier node, the output maybe not the inputs.
        sources = {
            j: range(0 if out_from_inputs or j < self.out_id else N_INPUTS, j) for j in range(N_INPUTS, self.out_id + 1)
        }
        # Mixed edges (src, dst) in a fixed order; alpha has one row per mixed edge.
        self.mixed_edges = [
            (i, j) for j, srcs in sources.items() if not (linear_out and j == self.out_id) for i in srcs
        ]
        self.edge_index = edge_index = {e: k for k, e in enumerate(self.mixed_edges)}
        self.alpha = nn.Parameter(arch_init_std * torch.randn(len(self.mixed_edges), N_OPS))
        n_targets = self.out_id + 1 - N_INPUTS
        self.beta = nn.Parameter(arch_init_std * torch.randn(n_targets, self.out_id))
        mask = torch.ones(n_targets, self.out_id, dtype=torch.bool)  # True: no such in-edge
        for j, srcs in sources.items():
            mask[j - N_INPUTS, srcs.start : srcs.stop] = False
        self.beta_mask: torch.Tensor
        self.register_buffer("beta_mask", mask, persistent=False)
        self.op_mask: torch.Tensor
        self.register_buffer("op_mask", torch.tensor([o not in self.ops for o in OPS]), persistent=False)

        # Per source i: one nn.Linear per operation block, holding that operation's FC layer
        # for every mixed out-edge of i (targets side by side), and one nn.Linear with the
        # plain FC layers of i's linear out-edges (the critic's output edges), if any.
        self.blocks = nn.ModuleList()
        self.fc = nn.ModuleList()  # linear out-edges, for the sources that have some
        self._plan = []  # per source: (mixed targets, their total width, linear targets, index in fc)
        for i in range(self.out_id):
            targets = [j for j, srcs in sources.items() if i in srcs]
            mixed = [j for j in targets if (i, j) in edge_index]
            lin = [j for j in targets if (i, j) not in edge_index]
            wsum = sum(dims[j] for j in mixed)
            self.blocks.append(nn.ModuleList(CastLinear(dims[i], wsum) for _ in range(N_OPS) if wsum))
            lin_at = None
            if lin:
                lin_at = len(self.fc)
                self.fc.append(CastLinear(dims[i], sum(dims[j] for j in lin)))
            seg = torch.cat(
                [torch.full((dims[j],), t, dtype=torch.long) for t, j in enumerate(mixed)]
                or [torch.zeros(0, dtype=torch.long)]
            )
            self.register_buffer(f"seg{i}", seg, persistent=False)
            seg_len = torch.tensor([float(dims[j]) for j in mixed])
            self.register_buffer(f"seg_len{i}", seg_len, persistent=False)
            self.register_buffer(
                f"eidx{i}", torch.tensor([edge_index[(i, j)] for j in mixed], dtype=torch.long), persistent=False
            )
            self.register_buffer(
                f"tidx{i}", torch.tensor([j - N_INPUTS for j in mixed], dtype=torch.long), persistent=False
            )
            # Batch norm over the 4 BN operations of every mixed edge leaving node i.
            self.register_parameter(f"bn_w{i}", nn.Parameter(torch.ones(4 * wsum)))
            self.register_parameter(f"bn_b{i}", nn.Parameter(torch.zeros(4 * wsum)))
            self.register_buffer(f"bn_mean{i}", torch.zeros(4 * wsum))
            self.register_buffer(f"bn_var{i}", torch.ones(4 * wsum))
            self._plan.append((mixed, wsum, lin, lin_at))
        init_weights(self, weight_init)

    # ------------------------------------------------------------------ parameters
    def arch_parameters(self) -> list[nn.Parameter]:
        """alpha and beta: the architecture parameters."""
        return [self.alpha, self.beta]

    def weight_parameters(self) -> list[nn.Parameter]:
        """Every parameter that is not an architecture parameter."""
        arch = {id(p) for p in self.arch_parameters()}
        return [p for p in self.parameters() if id(p) not in arch]

    def op_weights(self) -> torch.Tensor:
        """softmax(alpha) per mixed edge over the candidate operations (0 for the others), shape (edges, 8)."""
        return F.softmax(self.alpha.masked_fill(self.op_mask, float("-inf")), dim=-1)

    def op_entropy(self) -> torch.Tensor:
        """Mean entropy of softmax(alpha) over the mixed edges: 0 when every edge has chosen one
        operation, log(candidates) when the choice is uniform."""
        p = self.op_weights()
        return -(p * torch.log(p.clamp_min(1e-30))).sum(-1).mean()

    def edge_spill(self, keep: int) -> torch.Tensor:
        """Mean of -log(the share of softmax(beta) on the ``keep`` strongest in-edges) over the
        nodes with more in-edges than that: 0 when each reads its strongest ``keep`` only."""
        if self.edge_gates != "softmax":
            raise ValueError("edge_spill needs softmax edge gates: sigmoid gates do not share a node's weight")
        w = self.edge_weights()
        rows = (~self.beta_mask).sum(1) > keep
        if not bool(rows.any()):
            return w.new_zeros(())
        return -torch.log(w[rows].topk(keep, dim=1).values.sum(1)).mean()

    def edge_weights(self) -> torch.Tensor:
        """softmax(beta) per target node over its in-edges, shape (targets, max in-degree); with
        ``edge_gates = "sigmoid"``, sigmoid(beta) per in-edge (0 where the space has none)."""
        if self.edge_gates == "sigmoid":
            return torch.sigmoid(self.beta).masked_fill(self.beta_mask, 0.0)
        return F.softmax(self.beta.masked_fill(self.beta_mask, float("-inf")), dim=-1)

    # ------------------------------------------------------------------ forward
    def forward(self, a: torch.Tensor, b: torch.Tensor, feedback: torch.Tensor | None = None) -> torch.Tensor:
        return self.node_values(a, b, feedback)[-1]

    def node_values(self, a: torch.Tensor, b: torch.Tensor, feedback: torch.Tensor | None = None) -> list[torch.Tensor]:
        """The value of every node in a forward pass: the three inputs, the intermediate nodes
        (with their feedback added), then the output."""
        edge_w = self.edge_weights()
        out_edges = self._sampled_edges(edge_w) if self.tau is not None else self._mixed_edges(edge_w)
        nodes = [a, b, torch.cat([a, b], dim=1)]
        acc: dict[int, torch.Tensor] = {}
        extra = feedback.split(list(self.widths), dim=1) if feedback is not None else None

        def add(j: int, h: torch.Tensor) -> None:
            acc[j] = h if j not in acc else acc[j] + h

        for i, (mixed, _, lin, lin_at) in enumerate(self._plan):
            if i >= N_INPUTS:
                node = acc.pop(i)
                nodes.append(node if extra is None else node + extra[i - N_INPUTS])
            x = nodes[i]
            if mixed:
                for j, h in out_edges(i, x):
                    add(j, h)
            if lin:
                assert lin_at is not None
                tail = self.fc[lin_at](x)
                for j, part in zip(lin, tail.split([self.dims[j] for j in lin], dim=1), strict=True):
                    add(j, edge_w[j - N_INPUTS, i] * part)
        return [*nodes, acc[self.out_id]]

    def _mixed_edges(self, edge_w: torch.Tensor):
        """Per source, its mixed out-edges' outputs with every operation weighted (Eqs. 2-3)."""
        op_w = self.op_weights()

        def out_edges(i: int, x: torch.Tensor) -> list[tuple[int, torch.Tensor]]:
            mixed, wsum = self._plan[i][:2]
            # weight of (op k, target t) = softmax(alpha_edge)_k * softmax(beta_t)_i,
            # spread over each target's columns and ordered by block
            eidx, tidx = getattr(self, f"eidx{i}"), getattr(self, f"tidx{i}")
            w = (op_w[eidx] * edge_w[tidx, i].unsqueeze(1)).t()  # (8 ops, targets)
            coef = w[BLOCK_OP][:, getattr(self, f"seg{i}")]  # (8 blocks, wsum)
            mix = self._mix(x, coef, i, wsum)
            return list(zip(mixed, mix.split([self.dims[j] for j in mixed], dim=1), strict=True))

        return out_edges

    def _mix(self, x: torch.Tensor, coef: torch.Tensor, i: int, wsum: int) -> torch.Tensor:
        """``sum_k coef_k * op_k(x)`` over the 8 operations of one source; (batch, wsum)."""
        live = self._live_blocks
        ys: list[torch.Tensor | None] = [
            blk(x) if b in live else None for b, blk in enumerate(cast(nn.ModuleList, self.blocks[i]))
        ]
        pre = ys[:4] + [None] * 4
        if self._any_bn:  # batch norm over the 4 BN blocks at once (running stats of all of them)
            normed = F.batch_norm(
                torch.cat([y if y is not None else x.new_zeros(x.shape[0], wsum) for y in ys[4:]], dim=1),
                getattr(self, f"bn_mean{i}"),
                getattr(self, f"bn_var{i}"),
                getattr(self, f"bn_w{i}"),
                getattr(self, f"bn_b{i}"),
                training=self.training,
            )
            pre[4:] = list(normed.split(wsum, dim=1))
        drop = self.training and self.p_drop > 0 and any(b & 1 for b in live)
        masks = keep_mask(4, x.shape[0], wsum, 1.0 - self.p_drop, x) if drop else None
        rms = None  # op_scale "unit": each block's per-column divisor
        if self.op_scale == "unit":
            rms = partial(_segment_rms, seg=getattr(self, f"seg{i}"), seg_len=getattr(self, f"seg_len{i}"))
        out = None
        for block in live:  # block = 4*bn + 2*leaky + dropout
            y = pre[block]
            assert y is not None  # a live block was computed
            h = F.leaky_relu(y, self.slope) if block & 2 else F.relu(y)
            c = coef[block] if rms is None else coef[block] / rms(h)
            if block & 1 and masks is not None:
                h = h * masks[block >> 1]
            out = h * c if out is None else torch.addcmul(out, h, c)
        assert out is not None
        return out

    def _sampled_edges(self, edge_w: torch.Tensor):
        """Per source, its mixed out-edges' outputs with one drawn operation each (GDAS)."""
        assert self.tau is not None
        logits: torch.Tensor = self.alpha.masked_fill(self.op_mask, float("-inf"))
        if self.training:
            u = torch.rand_like(logits).clamp_(1e-20, 1.0)
            logits = logits - torch.log(-torch.log(u))  # + Gumbel noise
        p = F.softmax(logits / self.tau, dim=-1)
        drawn = p.argmax(dim=-1)
        gate = (1.0 - p.detach() + p).gather(1, drawn.unsqueeze(1)).squeeze(1)  # 1 in value, d/dalpha of p
        drawn_ops = drawn.tolist()

        def out_edges(i: int, x: torch.Tensor) -> list[tuple[int, torch.Tensor]]:
            outs = []
            for j in self._plan[i][0]:
                e = self.edge_index[(i, j)]
                h = self.edge_op(x, i, j, drawn_ops[e], unit_scale=self.op_scale == "unit")
                outs.append((j, h * (gate[e] * edge_w[j - N_INPUTS, i])))
            return outs

        return out_edges

    # ------------------------------------------------------------------ per-edge access
    def edge_op(
        self, x: torch.Tensor, i: int, j: int, k: int, dropout: bool = True, unit_scale: bool = False
    ) -> torch.Tensor:
        """Operation ``k`` alone on mixed edge ``i -> j``, for input ``x`` (the value of node
        ``i``): FC, batch norm (batch statistics in train mode, updating the running ones),
        activation, with ``unit_scale`` a division by the result's root mean square (``op_scale
        = "unit"``), and with ``dropout`` its dropout in train mode."""
        drop, bn, leaky = op_flags(OPS[k])
        h = F.linear(x, *self.edge_op_linear(i, j, k))
        if bn:
            w, bias, mean, var = self.edge_op_bn(i, j, k)
            h = F.batch_norm(h, mean, var, w, bias, training=self.training)
        h = F.leaky_relu(h, self.slope) if leaky else F.relu(h)
        if unit_scale:
            h = h / h.pow(2).mean(dtype=torch.float32).clamp_min(_EPS).sqrt()
        if drop and dropout:
            h = F.dropout(h, self.p_drop, self.training)
        return h

    def edge_op_linear(self, i: int, j: int, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Views of the FC weight and bias of operation ``k`` on edge ``i -> j``.

        ``k`` is ignored on linear (critic output) edges. Used by the per-operation
        reference implementation in the benchmark and the equivalence test.
        """
        mixed, wsum, lin, lin_at = self._plan[i]
        if j in mixed:
            fc = cast(nn.ModuleList, self.blocks[i])[OP_BLOCK[k]]
            off = sum(self.dims[m] for m in mixed[: mixed.index(j)])
        else:
            assert lin_at is not None
            fc = self.fc[lin_at]
            off = sum(self.dims[m] for m in lin[: lin.index(j)])
        rows = slice(off, off + self.dims[j])
        linear = cast(nn.Linear, fc)
        return linear.weight[rows], linear.bias[rows]

    def edge_op_bn(self, i: int, j: int, k: int) -> tuple[torch.Tensor, ...]:
        """Views of (weight, bias, running mean, running var) of BN operation ``k`` on ``i -> j``."""
        mixed, wsum, _, _ = self._plan[i]
        off = (OP_BLOCK[k] - 4) * wsum + sum(self.dims[m] for m in mixed[: mixed.index(j)])
        rows = slice(off, off + self.dims[j])
        return tuple(getattr(self, f"{n}{i}")[rows] for n in ("bn_w", "bn_b", "bn_mean", "bn_var"))

    # ------------------------------------------------------------------ export
    def export(self, keep: int = 2) -> NetGenotype:
        """The discrete network this supernet's alpha/beta point to (SPEC §6)."""
        op_w = self.op_weights().detach().cpu().numpy()
        # -1: an in-edge the space does not have, which derive skips
        edge_w = np.where(self.beta_mask.cpu().numpy(), -1.0, self.edge_weights().detach().cpu().numpy())
        ops = {e: op_w[k] for k, e in enumerate(self.mixed_edges)}
        edges = {j: edge_w[j - N_INPUTS, :j] for j in range(N_INPUTS, self.out_id + 1)}
        return derive(self.role, self.genotype_widths, ops, edges, keep)

    def arch_state(self) -> dict[str, object]:
        """softmax(alpha) and the edge weights (softmax(beta), or sigmoid(beta) with ``"edge_gates":
        "sigmoid"`` beside them) as plain lists, for the search history."""
        op_w = self.op_weights().detach().cpu().numpy()
        edge_w = self.edge_weights().detach().cpu().numpy()
        state: dict[str, object] = {
            "alpha": {f"{i}->{j}": np.round(op_w[k], 8).tolist() for k, (i, j) in enumerate(self.mixed_edges)},
            "beta": {str(j): np.round(edge_w[j - N_INPUTS, :j], 8).tolist() for j in range(N_INPUTS, self.out_id + 1)},
        }
        if self.edge_gates != "softmax":
            state["edge_gates"] = self.edge_gates
        return state
