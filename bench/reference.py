"""A plain per-operation supernet, the layout of the authors' code, and a search iteration on it.

Every operation of every edge is its own module built by :func:`zeronas.nas.ops.make_op`
(``nn.Linear`` -> [``nn.BatchNorm1d``] -> ReLU/LeakyReLU -> [``nn.Dropout``]); a mixed
edge is ``sum_k softmax(alpha)_k * op_k(x)`` and a node is
``sum_i softmax(beta)_i * edge_i(x_i)`` (Eqs. 2-3), summed in Python. Edges into the
critic's output node are one plain ``nn.Linear`` each (the WGAN score stays linear).

``alpha`` and ``beta`` have the same shapes and order as in
:class:`zeronas.nas.supernet.Supernet`, and :meth:`ReferenceSupernet.load_from` copies
every weight of a fused supernet into this one (through ``edge_op_linear`` /
``edge_op_bn``), so the two can be compared number for number. :class:`ReferenceSearch` runs
Algorithm 1 on it (the ``reference`` job of ``search_step.py``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from zeronas.nas.genotype import N_INPUTS
from zeronas.nas.ops import LINEAR, OPS, init_weights, make_op


class ReferenceSupernet(nn.Module):
    """Same constructor and parameter API as the fused ``Supernet``; one module per op."""

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
        self.out_id = N_INPUTS + len(widths)
        dims = [in_dims[0], in_dims[1], in_dims[0] + in_dims[1], *widths, out_dim]
        self.dims = dims
        linear_out = role == "critic"
        self.mixed_edges = [
            (i, j) for j in range(N_INPUTS, self.out_id + 1) if not (linear_out and j == self.out_id) for i in range(j)
        ]
        self.edge_index = {e: k for k, e in enumerate(self.mixed_edges)}
        self.alpha = nn.Parameter(arch_init_std * torch.randn(len(self.mixed_edges), len(OPS)))
        n_targets = self.out_id + 1 - N_INPUTS
        self.beta = nn.Parameter(arch_init_std * torch.randn(n_targets, self.out_id))
        self.edges = nn.ModuleDict()
        for j in range(N_INPUTS, self.out_id + 1):
            for i in range(j):
                if (i, j) in self.edge_index:
                    ops = [make_op(name, dims[i], dims[j], slope, dropout) for name in OPS]
                else:
                    ops = [make_op(LINEAR, dims[i], dims[j], slope, dropout)]
                self.edges[f"{i}_{j}"] = nn.ModuleList(ops)
        init_weights(self)

    def arch_parameters(self) -> list[nn.Parameter]:
        return [self.alpha, self.beta]

    def weight_parameters(self) -> list[nn.Parameter]:
        arch = {id(p) for p in self.arch_parameters()}
        return [p for p in self.parameters() if id(p) not in arch]

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        nodes = [a, b, torch.cat([a, b], dim=1)]
        for j in range(N_INPUTS, self.out_id + 1):
            t = j - N_INPUTS
            beta_w = F.softmax(self.beta[t, :j], dim=-1)  # over the j in-edges of node j
            total = 0
            for i in range(j):
                ops = self.edges[f"{i}_{j}"]
                if (i, j) in self.edge_index:
                    alpha_w = F.softmax(self.alpha[self.edge_index[(i, j)]], dim=-1)
                    edge = sum(w * op(nodes[i]) for w, op in zip(alpha_w, ops, strict=True))
                else:
                    edge = ops[0](nodes[i])
                total = total + beta_w[i] * edge
            nodes.append(total)
        return nodes[-1]

    # ------------------------------------------------------------------ copying
    def op_modules(self, i: int, j: int, k: int) -> tuple[nn.Linear, nn.BatchNorm1d | None]:
        """The FC layer and (if any) the batch norm of operation ``k`` on edge ``i -> j``."""
        ops = self.edges[f"{i}_{j}"]
        if len(ops) == 1:
            return ops[0], None
        seq = ops[k]
        bn = seq[1] if isinstance(seq[1], nn.BatchNorm1d) else None
        return seq[0], bn

    @torch.no_grad()
    def load_from(self, fused: nn.Module) -> ReferenceSupernet:
        """Copy alpha, beta, every FC layer and every BN (with running stats) of ``fused``."""
        self.alpha.copy_(fused.alpha)
        self.beta.copy_(fused.beta)
        for j in range(N_INPUTS, self.out_id + 1):
            for i in range(j):
                n_ops = len(OPS) if (i, j) in self.edge_index else 1
                for k in range(n_ops):
                    fc, bn = self.op_modules(i, j, k)
                    w, b = fused.edge_op_linear(i, j, k)
                    fc.weight.copy_(w)
                    fc.bias.copy_(b)
                    if bn is not None:
                        bw, bb, bm, bv = fused.edge_op_bn(i, j, k)
                        bn.weight.copy_(bw)
                        bn.bias.copy_(bb)
                        bn.running_mean.copy_(bm)
                        bn.running_var.copy_(bv)
        return self


class ReferenceSearch:
    """Algorithm 1 on ``ReferenceSupernet`` with the authors' gradient policy.

    Same data halves, batch sampling, losses (the f-CLSWGAN framework's) and optimizers as
    ``zeronas.engine.search_iteration``; but no parameter is frozen in any step (all gradients are computed and
    discarded), except the critic's parameters in the two generator steps, as in the
    f-CLSWGAN code.
    """

    def __init__(self, cfg, task):
        from zeronas.frameworks import CLSWGAN

        s, m = cfg.search, cfg.model
        self.cfg, self.task = cfg, task
        self.device = dev = task.train_x.device
        nz, a = m.noise_dim or task.attr_dim, task.attr_dim
        self.G = ReferenceSupernet("generator", (nz, a), s.g_widths, task.feature_dim, m.slope, m.dropout).to(dev)
        self.D = ReferenceSupernet("critic", (task.feature_dim, a), s.d_widths, 1, m.slope, m.dropout).to(dev)
        perm = torch.randperm(task.train_x.shape[0], device=dev)
        half = perm.numel() // 2
        self.halves = {"tr": perm[:half], "val": perm[half : 2 * half]}

        def adam(params, lr, beta1, wd=0.0):
            return torch.optim.Adam(params, lr=lr, betas=(beta1, 0.999), weight_decay=wd)

        self.opt = {
            "a_d": adam(self.D.arch_parameters(), s.arch_lr, s.arch_beta1, s.arch_weight_decay),
            "w_d": adam(self.D.weight_parameters(), s.lr, s.beta1),
            "a_g": adam(self.G.arch_parameters(), s.arch_lr, s.arch_beta1, s.arch_weight_decay),
            "w_g": adam(self.G.weight_parameters(), s.lr, s.beta1),
        }
        self.fw = CLSWGAN(self.G, self.D, task, cfg, s.cls_weight, s.gp_weight)
        self.fw.prepare()  # the frozen classifier

    def _batch(self, half):
        pool = self.halves[half]
        idx = pool[torch.randint(pool.numel(), (self.cfg.search.batch_size,), device=self.device)]
        y = self.task.train_y[idx]
        return self.task.train_x[idx], self.task.class_vectors[y], y

    def _step(self, key, loss, half, critic_frozen):
        batch = self._batch(half)
        for p in self.G.parameters():
            p.requires_grad_(True)
        for p in self.D.parameters():
            p.requires_grad_(not critic_frozen)
        value, _ = loss(*batch)
        self.G.zero_grad(set_to_none=True)
        self.D.zero_grad(set_to_none=True)
        value.backward()
        self.opt[key].step()

    def iteration(self):
        fw = self.fw
        for _ in range(self.cfg.search.critic_iters):
            self._step("a_d", fw.critic_loss, "val", critic_frozen=False)
            self._step("w_d", fw.critic_loss, "tr", critic_frozen=False)
        self._step("a_g", fw.generator_loss, "val", critic_frozen=True)
        self._step("w_g", fw.generator_loss, "tr", critic_frozen=True)
